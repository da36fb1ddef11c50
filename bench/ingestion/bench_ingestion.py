"""Issue 7 benchmarks: ingesting a 5,000-component SBOM (target <= 2 s) and continuous re-matching of a
1,000-advisory changeset over 1,000 stored images (target <= 10 s), on SQLite, with the real PyPI OSV data
imported first and package names taken from it so the matcher has real candidates.

    .venv/bin/python bench/ingestion/bench_ingestion.py [--baseline REV] [--images 1000] [--components 5000]

The data is prepared once (advisories imported, SBOMs written, stored images and the changeset); every
measurement then runs in a fresh process on a copy of it. No peer implements GitLab's ingestion: the peer is
`--baseline REV`, the code of an earlier git revision (exported to a temporary folder), run alternately with the
current code on the same copies, with its results compared (same findings, same new vulnerabilities).
Wall and CPU seconds of the measuring process (CPU is robust to other load on the shared machine).
Writes bench/results/ingestion.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "bench" / "results"

# Runs in a fresh process with the code under argv[1]: one measurement on the prepared copy argv[2].
MEASURE_SCRIPT = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from hullscan.db import Database
from hullscan.ingestion import validation
from hullscan.ingestion.service import ingest_sbom, rematch_advisory_changes
from hullscan.settings import Settings

data, what, arg = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
db = Database(Settings(data_dir=data))
validation.warm_up()  # a server warms the schema validators at start
with db.session() as s:  # open the store (file, pragmas) before timing
    s.connection()
wall, cpu = time.perf_counter(), time.process_time()
if what == "ingest":
    pid, path = arg.split(":", 1)
    with db.session() as s:
        r = ingest_sbom(s, int(pid), Path(path))
    out = {"components": r.occurrences, "findings": r.findings, "new": len(r.new_vulnerability_ids)}
else:
    sources = new = 0
    while True:
        with db.session() as s:
            r = rematch_advisory_changes(s, limit=int(arg))
        if not r.changesets:
            break
        sources += r.sources
        new += len(r.new_vulnerability_ids)
    out = {"sources": sources, "new": new}
out.update(wall_s=round(time.perf_counter() - wall, 3), cpu_s=round(time.process_time() - cpu, 3),
           peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           code=str(Path(sys.modules["hullscan"].__file__).parents[1]))
db.dispose()
print(json.dumps(out))
"""


def prepare(work: Path, args: argparse.Namespace) -> dict:
    """Advisories, project and SBOM files (`ingest` copy), then stored images and a changeset (`rematch` copy)."""
    sys.path.insert(0, str(ROOT / "src"))
    from sqlalchemy import insert, select

    from hullscan.advisories.normalize import normalize_name
    from hullscan.advisories.service import import_path
    from hullscan.auth import projects
    from hullscan.db import Database, upgrade
    from hullscan.db.models.advisories import AffectedEntry
    from hullscan.db.models.vulnerabilities import SbomOccurrence, SbomSource
    from hullscan.ingestion.service import rematch_advisory_changes
    from hullscan.scanner import write_cyclonedx
    from hullscan.scanner.inventory import ImageInfo, Inventory, Package
    from hullscan.settings import Settings

    data = work / "prepared"
    settings = Settings(data_dir=data)
    upgrade(settings)
    db = Database(settings)
    import_path(db, settings, str(SHARED / "advisories" / "osv" / "pypi.jsonl.gz"))
    with db.session() as s:
        names = sorted(s.scalars(select(AffectedEntry.package).distinct().where(AffectedEntry.ecosystem == "PyPI")))
        pid = projects.create_project(s, "bench/project").id
    with db.session() as s:
        rematch_advisory_changes(s, limit=10_000)  # consume the import's changesets first
    rng = random.Random(7)

    # One SBOM of N components per run (real PyPI names, old versions: many real findings), distinct images.
    sboms = []
    for n in range(args.runs):
        pkgs = []
        for i in range(args.components):
            name = names[i % len(names)] if i < len(names) else f"{names[i % len(names)]}-x{i}"
            version = rng.choice(["0.1", "1.0", "2.0.0", "999.0"])
            pkgs.append(Package(name=name, version=version, type="python", purl=f"pkg:pypi/{name}@{version}"))
        inv = Inventory(image=ImageInfo(name=f"registry.bench/bench/project/app{n}", tag="latest"), os=None,
                        packages=pkgs)
        path = work / f"sbom-{n}.cdx.json"
        path.write_text(write_cyclonedx(inv, registry_triggered=True))
        sboms.append(path)
    db.dispose()
    shutil.copytree(data, work / "ingest")

    # N stored images (sources + occurrences written in bulk), then an advisory changeset touching them.
    db = Database(settings)
    pool = [f"benchpkg-{i:05d}" for i in range(args.advisories * 2)]
    with db.session() as s:
        s.execute(insert(SbomSource), [dict(project_id=pid, source_type=2, image_name=f"registry.bench/bench/project/img{i}",
                                            image_tag="latest", image_digest=f"sha256:{i:064d}")
                                       for i in range(args.images)])
        ids = list(s.scalars(select(SbomSource.id).where(SbomSource.image_name.like("registry.bench/bench/project/img%"))))
        occ = []
        for sid in ids:
            for name in rng.sample(pool, args.packages_per_image):
                occ.append(dict(source_id=sid, project_id=pid, name=name, version="1.0", type="python",
                                purl=f"pkg:pypi/{name}@1.0", ecosystem="PyPI", package_key=normalize_name("PyPI", name)))
        for i in range(0, len(occ), 5000):
            s.execute(insert(SbomOccurrence), occ[i : i + 5000])
    feed = work / "changeset.jsonl"
    with feed.open("w") as fh:
        for i in range(args.advisories):
            fh.write(json.dumps({"id": f"BENCH-{i:05d}", "modified": "2026-11-28T00:00:00Z", "affected": [{
                "package": {"ecosystem": "PyPI", "name": pool[i]},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}) + "\n")
    import_path(db, settings, str(feed), fmt="osv", source="bench")
    db.dispose()
    shutil.move(str(data), str(work / "rematch"))
    return {"project_id": pid, "sboms": sboms}


def measure(src: Path, work: Path, base: str, what: str, arg: str) -> dict:
    """One measurement in a fresh process running the code under `src`, on a fresh copy of a prepared store."""
    copy = work / "run"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(work / base, copy)
    try:
        out = subprocess.run([sys.executable, "-c", MEASURE_SCRIPT, str(src), str(copy), what, arg],
                             capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            raise SystemExit(f"measurement failed ({src}, {what}):\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert Path(result.pop("code")).resolve() == src.resolve(), "measured code is not the code asked for"
        return result
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--components", type=int, default=5000)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--advisories", type=int, default=1000)
    ap.add_argument("--packages-per-image", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3, help="ingestion runs per side (median reported)")
    ap.add_argument("--baseline", metavar="GIT_REVISION", help="also run this revision's code, side by side")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-ingestion-"))
    try:
        prepared = prepare(work, args)
        sides = {"current": ROOT / "src"}
        if args.baseline:
            base_src = work / "baseline"
            base_src.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "src"], capture_output=True,
                                     check=True)
            subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive.stdout, check=True)
            sides["baseline"] = base_src / "src"
        ingest: dict[str, list[dict]] = {side: [] for side in sides}
        rematch: dict[str, dict] = {}
        for sbom in prepared["sboms"]:  # alternating sides, each on its own fresh copy
            for side, src in sides.items():
                ingest[side].append(measure(src, work, "ingest", "ingest", f"{prepared['project_id']}:{sbom}"))
        for side, src in sides.items():
            rematch[side] = measure(src, work, "rematch", "rematch", "100")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def summary(side: str) -> dict:
        runs = ingest[side]
        return {"runs": runs, "median_wall_s": statistics.median(r["wall_s"] for r in runs),
                "median_cpu_s": statistics.median(r["cpu_s"] for r in runs)}

    out = {
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "baseline_revision": args.baseline,
        "ingest": {side: summary(side) for side in sides}, "ingest_target_s": 2.0,
        "rematch": rematch, "rematch_target_s": 10.0,
        "rematch_setup": {"advisories": args.advisories, "images": args.images,
                          "packages_per_image": args.packages_per_image},
        "components": args.components,
    }
    if args.baseline:
        out["same_results"] = {
            "ingest": [(a["findings"], a["new"]) for a in ingest["current"]]
                      == [(b["findings"], b["new"]) for b in ingest["baseline"]],
            "rematch": (rematch["current"]["sources"], rematch["current"]["new"])
                       == (rematch["baseline"]["sources"], rematch["baseline"]["new"]),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingestion.json").write_text(json.dumps(out, indent=2) + "\n")

    cur_i, cur_r = out["ingest"]["current"], rematch["current"]
    md = [
        "# Ingestion benchmarks (issue 7)", "",
        f"Machine: {os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}. SQLite, real PyPI OSV "
        "data. Each measurement in a fresh process on a fresh copy of the prepared store (schema validators warmed "
        "first, as a server does at start).", "",
        "| measure | wall s | CPU s | target |", "|---|---|---|---|",
        f"| ingest a {args.components}-component SBOM (median of {args.runs}; {cur_i['runs'][0]['findings']} findings "
        f"in the first) | {cur_i['median_wall_s']} | {cur_i['median_cpu_s']} | <= 2 s |",
        f"| re-match a {args.advisories}-advisory changeset over {args.images} stored images "
        f"({cur_r['sources']} images touched, {cur_r['new']} new vulnerabilities) | {cur_r['wall_s']} | "
        f"{cur_r['cpu_s']} | <= 10 s |",
    ]
    if args.baseline:
        base_i, base_r = out["ingest"]["baseline"], rematch["baseline"]
        md += [
            "", f"Side by side with revision `{args.baseline}` (run alternately, same prepared data):", "",
            "| measure | current wall s | baseline wall s | current CPU s | baseline CPU s | CPU speed-up | same results |",
            "|---|---|---|---|---|---|---|",
            f"| ingest {args.components} components | {cur_i['median_wall_s']} | {base_i['median_wall_s']} | "
            f"{cur_i['median_cpu_s']} | {base_i['median_cpu_s']} | "
            f"{base_i['median_cpu_s'] / max(cur_i['median_cpu_s'], 1e-9):.1f}x | {out['same_results']['ingest']} |",
            f"| re-match {args.advisories} advisories x {args.images} images | {cur_r['wall_s']} | {base_r['wall_s']} | "
            f"{cur_r['cpu_s']} | {base_r['cpu_s']} | {base_r['cpu_s'] / max(cur_r['cpu_s'], 1e-9):.1f}x | "
            f"{out['same_results']['rematch']} |",
        ]
    md += ["", "Peak RSS of a measuring process: ingest "
           f"{max(r['peak_rss_mb'] for r in cur_i['runs'])} MB, re-match {cur_r['peak_rss_mb']} MB.", ""]
    (RESULTS / "ingestion.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
