"""Issue 7 benchmarks: ingesting a 5,000-component SBOM (target <= 2 s) and continuous re-matching of a
1,000-advisory changeset over 1,000 stored images (target <= 10 s), on SQLite, with the real PyPI OSV data
imported first and package names taken from it so the matcher has real candidates.
Writes bench/results/ingestion.{json,md}. No peer implements GitLab's ingestion, so figures stand alone.

    .venv/bin/python bench/ingestion/bench_ingestion.py [--images 1000] [--components 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import distinct, insert, select

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "bench" / "results"


def timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--components", type=int, default=5000)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--advisories", type=int, default=1000)
    ap.add_argument("--packages-per-image", type=int, default=20)
    args = ap.parse_args()

    from hullscan.advisories.normalize import normalize_name
    from hullscan.advisories.service import import_path
    from hullscan.auth import projects
    from hullscan.db import Database, upgrade
    from hullscan.db.models.advisories import AffectedEntry
    from hullscan.db.models.vulnerabilities import SbomOccurrence, SbomSource
    from hullscan.ingestion.service import ingest_sbom, rematch_advisory_changes
    from hullscan.scanner import write_cyclonedx
    from hullscan.scanner.inventory import ImageInfo, Inventory, Package
    from hullscan.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-ingestion-"))
    settings = Settings(data_dir=work / "data")
    upgrade(settings)
    db = Database(settings)
    import_path(db, settings, str(SHARED / "advisories" / "osv" / "pypi.jsonl.gz"))
    with db.session() as s:
        names = sorted(s.scalars(select(distinct(AffectedEntry.package)).where(AffectedEntry.ecosystem == "PyPI")))
        pid = projects.create_project(s, "bench/project").id
    rng = random.Random(7)

    # 1. One SBOM of N components (real PyPI names, old versions: many real findings), three distinct images.
    def inventory(tag: str) -> Inventory:
        pkgs = []
        for i in range(args.components):
            name = names[i % len(names)] if i < len(names) else f"{names[i % len(names)]}-x{i}"
            version = rng.choice(["0.1", "1.0", "2.0.0", "999.0"])
            pkgs.append(Package(name=name, version=version, type="python", purl=f"pkg:pypi/{name}@{version}"))
        return Inventory(image=ImageInfo(name=f"registry.bench/bench/project/app{tag}", tag="latest"), os=None,
                         packages=pkgs)

    ingest_runs = []
    for n in range(3):
        path = work / f"sbom-{n}.cdx.json"
        path.write_text(write_cyclonedx(inventory(str(n)), registry_triggered=True))
        with db.session() as s:
            result, wall, cpu = timed(lambda: ingest_sbom(s, pid, path))
        ingest_runs.append({"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "components": result.occurrences,
                            "findings": result.findings})

    # 2. N stored images (sources + occurrences written in bulk), then an advisory changeset touching them.
    pool = [f"benchpkg-{i:05d}" for i in range(args.advisories * 2)]
    with db.session() as s:
        rematch_advisory_changes(s, limit=10_000)  # consume the import's changesets first
        source_rows = [dict(project_id=pid, source_type=2, image_name=f"registry.bench/bench/project/img{i}",
                            image_tag="latest", image_digest=f"sha256:{i:064d}") for i in range(args.images)]
        s.execute(insert(SbomSource), source_rows)
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

    def rematch():  # type: ignore[no-untyped-def]
        total_new = total_sources = 0
        while True:
            with db.session() as s:
                r = rematch_advisory_changes(s, limit=100)
            if not r.changesets:
                return total_sources, total_new
            total_sources += r.sources
            total_new += len(r.new_vulnerability_ids)

    (sources, new), wall, cpu = timed(rematch)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "ingest_5000": {"runs": ingest_runs, "median_wall_s": statistics.median(r["wall_s"] for r in ingest_runs),
                        "median_cpu_s": statistics.median(r["cpu_s"] for r in ingest_runs), "target_s": 2.0},
        "rematch": {"advisories": args.advisories, "images": args.images, "images_rematched": sources,
                    "new_vulnerabilities": new, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "target_s": 10.0},
        "peak_rss_mb": round(peak_mb, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingestion.json").write_text(json.dumps(out, indent=2) + "\n")
    md = [
        "# Ingestion benchmarks (issue 7)", "",
        f"Machine: {os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}. SQLite, real PyPI OSV data.",
        "", "| measure | wall s | CPU s | target |", "|---|---|---|---|",
        f"| ingest a {args.components}-component SBOM (median of 3; {ingest_runs[0]['findings']} findings) | "
        f"{out['ingest_5000']['median_wall_s']} | {out['ingest_5000']['median_cpu_s']} | <= 2 s |",
        f"| re-match a {args.advisories}-advisory changeset over {args.images} stored images "
        f"({sources} images touched, {new} new vulnerabilities) | {out['rematch']['wall_s']} | "
        f"{out['rematch']['cpu_s']} | <= 10 s |",
        "", f"Peak RSS of the benchmark process: {out['peak_rss_mb']} MB.", "",
    ]
    (RESULTS / "ingestion.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
