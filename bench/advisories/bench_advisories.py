"""Advisory store and version-scheme benchmark, side by side with the reference implementations.

  .venv/bin/python bench/advisories/bench_advisories.py

1. Import of every file of ../shared/advisories into a fresh SQLite store (target <= 30 s on 2 cores; best of
   two fresh stores, wall and CPU seconds), then the same import again (must change nothing).
2. A no-op incremental OSV sync (modified_id.csv unchanged) from a local OSV-bucket-shaped HTTP server
   holding all 2661 PyPI records (target <= 2 s).
3. In-process version comparisons (parsed versions cached), ops/s, for deb, rpm and pypi (target >= 200,000
   each), next to the reference implementations: dpkg's own comparison through python3-apt's `apt_pkg`,
   rpm's `labelCompare` (both run by the system python3 in one process each) and `packaging.version`.
   Each side is measured in rounds alternating with its peer; ops/s are reported per wall second and per CPU
   second of the measuring process (the CPU figure is robust to other load on the shared machine).

Writes bench/results/advisories.json and bench/results/advisories.md. `--baseline REV` also runs the import with
the code of git revision REV (exported to a temporary folder), alternating with the current code.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from hullscan.advisories import service  # noqa: E402
from hullscan.db import Database, upgrade  # noqa: E402
from hullscan.settings import Settings  # noqa: E402
from hullscan.versions import compare, parse  # noqa: E402
from tests.advisories.helpers import osv_records  # noqa: E402
from tests.advisories.osv_bucket import Bucket  # noqa: E402
from tests.versions.test_oracles import DEB_BASES, RPM_BASES, _pairs  # noqa: E402

N_PAIRS = 20_000
ROUNDS = 10


IMPORT_SCRIPT = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from hullscan.advisories import service
from hullscan.db import Database, upgrade
from hullscan.settings import Settings
settings = Settings(data_dir=Path(sys.argv[2]))
upgrade(settings)
db = Database(settings)
out = {}
for label in ("first", "again"):
    cpu, wall = time.process_time(), time.perf_counter()
    results = service.import_path(db, settings, sys.argv[3])
    out[label] = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
                  "ok": all(r.ok for r in results), "records": {r.source: r.records for r in results},
                  "changes": sum(r.added + r.modified + r.withdrawn for r in results)}
with db.session() as s:
    out["totals"] = service.status(s)["totals"]
db.dispose()
print(json.dumps(out, default=str))
"""


def _import_run(src: Path, work: Path) -> dict:
    """Import everything into a fresh store, then again, in a fresh process running the code under `src`."""
    out = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT, str(src), str(work), str(SHARED / "advisories")],
                         capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_import(work: Path, baseline: str | None) -> dict:
    """Best of two fresh imports; with `baseline` (a git revision) its code is run alternately, side by side."""
    base_src = None
    if baseline:
        base_src = work / "baseline"
        base_src.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline, "src"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive.stdout, check=True)
    ours, theirs = [], []
    for i in range(2):
        ours.append(_import_run(ROOT / "src", work / f"import-{i}"))
        if base_src is not None:
            theirs.append(_import_run(base_src / "src", work / f"baseline-{i}"))
    best = min(ours, key=lambda r: r["first"]["wall_s"])
    result = {
        "first_import_s": best["first"]["wall_s"], "first_import_cpu_s": min(r["first"]["cpu_s"] for r in ours),
        "fresh_runs": [r["first"] for r in ours],
        "reimport_s": best["again"]["wall_s"], "reimport_cpu_s": min(r["again"]["cpu_s"] for r in ours),
        "reimport_changes": max(r["again"]["changes"] for r in ours),
        "records": best["first"]["records"],
        "all_ok": all(r["first"]["ok"] and r["again"]["ok"] for r in ours), "totals": best["totals"],
        "target_s": 30,
    }
    if theirs:
        result["baseline"] = {
            "revision": baseline,
            "first_import_s": min(r["first"]["wall_s"] for r in theirs),
            "first_import_cpu_s": min(r["first"]["cpu_s"] for r in theirs),
            "reimport_s": min(r["again"]["wall_s"] for r in theirs),
            "reimport_cpu_s": min(r["again"]["cpu_s"] for r in theirs),
            "same_records": all(r["first"]["records"] == best["first"]["records"] for r in theirs),
            "same_totals": all({k: v for k, v in r["totals"].items() if k != "last_changeset_id"}
                               == {k: v for k, v in best["totals"].items() if k != "last_changeset_id"}
                               for r in theirs),
        }
    return result


def bench_noop_sync(work: Path) -> dict:
    bucket = Bucket().start()
    try:
        records = osv_records()
        for i, r in enumerate(records):
            r.setdefault("modified", f"2024-01-01T00:00:{i % 60:02d}Z")
        bucket.publish("PyPI", records)
        settings = Settings(data_dir=work / "sync", advisories_osv_base_url=bucket.url,
                            advisories_osv_ecosystems=["PyPI"])
        upgrade(settings)
        db = Database(settings)
        try:
            t = time.perf_counter()
            full = service.sync(db, settings, ["osv"])[0]
            full_s = time.perf_counter() - t
            timings = []
            for _ in range(3):
                t = time.perf_counter()
                noop = service.sync(db, settings, ["osv"])[0]
                timings.append(time.perf_counter() - t)
                assert noop.ok and noop.added == noop.modified == noop.withdrawn == 0
        finally:
            db.dispose()
    finally:
        bucket.stop()
    return {"records": len(records), "full_sync_s": round(full_s, 2), "full_ok": full.ok,
            "noop_sync_s": round(min(timings), 3), "noop_sync_runs_s": [round(x, 3) for x in timings],
            "target_s": 2}


def _ops(scheme: str, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """Best (wall, CPU) ops/s of one round of `compare(scheme, a, b)` over all pairs (parse cache warm)."""
    for a, b in pairs:  # warm the parse cache
        compare(scheme, a, b)
    best_wall = best_cpu = 0.0
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(ROUNDS // 2):
            for a, b in pairs:
                compare(scheme, a, b)
        n = len(pairs) * (ROUNDS // 2)
        best_wall = max(best_wall, n / (time.perf_counter() - wall))
        best_cpu = max(best_cpu, n / max(time.process_time() - cpu, 1e-9))
    return best_wall, best_cpu


PEER_SCRIPT = r"""
import json, sys, time
kind = sys.argv[1]
pairs = json.load(sys.stdin)
if kind == "deb":
    import apt_pkg
    apt_pkg.init()
    fn = apt_pkg.version_compare
    args = pairs
elif kind == "rpm":
    import rpm
    def split(evr):
        i = 0
        while i < len(evr) and evr[i].isdigit():
            i += 1
        e, rest = (evr[:i] or "0", evr[i + 1:]) if i < len(evr) and evr[i] == ":" else ("0", evr)
        v, _, r = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return (e, v, r)
    fn = rpm.labelCompare
    args = [(split(a), split(b)) for a, b in pairs]  # parsed once, like our cached keys
else:
    import packaging.version
    parsed = {v: packaging.version.Version(v) for pair in pairs for v in pair}
    def fn(a, b):
        va, vb = parsed[a], parsed[b]
        return (va > vb) - (va < vb)
    args = pairs
best_wall = best_cpu = 0.0
for _ in range(3):
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(5):
        for a, b in args:
            fn(a, b)
    n = len(args) * 5
    best_wall = max(best_wall, n / (time.perf_counter() - wall))
    best_cpu = max(best_cpu, n / max(time.process_time() - cpu, 1e-9))
print(json.dumps([best_wall, best_cpu]))
"""
PEER_PYTHON = {"deb": "/usr/bin/python3", "rpm": "/usr/bin/python3", "pypi": sys.executable}


def _peer(kind: str, pairs: list[tuple[str, str]]) -> tuple[float, float] | None:
    try:
        out = subprocess.run([PEER_PYTHON[kind], "-c", PEER_SCRIPT, kind], input=json.dumps(pairs),
                             capture_output=True, text=True, check=True, timeout=600)
        wall, cpu = json.loads(out.stdout)
        return float(wall), float(cpu)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


PEERS = {
    "deb": "apt_pkg.version_compare (python3-apt, dpkg algorithm in C++)",
    "rpm": "rpm.labelCompare (python3-rpm 4.18, C)",
    "pypi": "packaging.version.Version (pre-parsed) comparison",
}


def bench_compare() -> dict:
    deb = _pairs(DEB_BASES, "+deb12u1", N_PAIRS, 11)
    deb = [(a, b) for a, b in deb if _valid("deb", a) and _valid("deb", b)]
    rpm_pairs = [(a, b) for a, b in _pairs(RPM_BASES, ".el8_10", N_PAIRS, 12) if _valid("rpm", a) and _valid("rpm", b)]
    rng = random.Random(5)
    pep = ["1.0", "1.0.0", "1.0a1", "1.0b2", "1.0rc1", "1.0.post1", "1.0.dev3", "1!0.5", "1.0+local.7", "2.0",
           "0.9.9", "1.0.post1.dev2", "1.1", "2.31.0", "3.9.18", "23.1.2", "0.0.1", "10.2.0rc3"]
    pypi = [(rng.choice(pep), rng.choice(pep)) for _ in range(N_PAIRS)]
    out = {}
    for scheme, pairs in (("deb", deb), ("rpm", rpm_pairs), ("pypi", pypi)):
        ours: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        for _ in range(2):  # alternate with the peer so both see the same machine load
            ours.append(_ops(scheme, pairs))
            peer = _peer(scheme, pairs)
            if peer:
                theirs.append(peer)
        out[scheme] = {
            "hullscan_ops_s": round(max(o[0] for o in ours)), "hullscan_cpu_ops_s": round(max(o[1] for o in ours)),
            "peer": PEERS[scheme],
            "peer_ops_s": round(max(t[0] for t in theirs)) if theirs else None,
            "peer_cpu_ops_s": round(max(t[1] for t in theirs)) if theirs else None,
            "pairs": len(pairs), "target_ops_s": 200_000,
        }
    return out


def _valid(scheme: str, v: str) -> bool:
    try:
        parse(scheme, v)
        return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="GIT_REVISION",
                        help="also import with the code of this revision, alternating with the current code")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-advisories-"))
    try:
        result = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "loadavg_at_start": list(os.getloadavg())},
            "compare": bench_compare(),
            "noop_incremental_sync": bench_noop_sync(work),
            "import_all_shared": bench_import(work, args.baseline),
        }
        result["machine"]["loadavg_at_end"] = list(os.getloadavg())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "advisories.json").write_text(json.dumps(result, indent=2) + "\n")
    imp, sync, cmp_ = result["import_all_shared"], result["noop_incremental_sync"], result["compare"]
    lines = [
        "# Advisories benchmark", "",
        f"Python {result['machine']['python']}, {result['machine']['cpus']} CPUs, load average at start "
        f"{result['machine']['loadavg_at_start'][0]:.1f}, at end {result['machine']['loadavg_at_end'][0]:.1f} "
        "(the machine is shared; wall times include waiting for CPU, CPU figures do not).", "",
        "| measure | result | target |", "| --- | --- | --- |",
        f"| import all ../shared/advisories (SQLite, best of 2 fresh stores), wall | {imp['first_import_s']} s "
        f"(CPU {imp['first_import_cpu_s']} s) | <= 30 s |",
        f"| same import again (no changes: {imp['reimport_changes']}) | {imp['reimport_s']} s (CPU {imp['reimport_cpu_s']} s) | - |",
        f"| no-op incremental OSV sync ({sync['records']} PyPI records) | {sync['noop_sync_s']} s | <= 2 s |",
    ]
    if "baseline" in imp:
        b = imp["baseline"]
        lines += [
            f"| import, code of {b['revision']} (alternating with the above) | {b['first_import_s']} s "
            f"(CPU {b['first_import_cpu_s']} s) | - |",
            f"| import again, code of {b['revision']} | {b['reimport_s']} s (CPU {b['reimport_cpu_s']} s) | - |",
            f"| same records and totals as the baseline | {b['same_records'] and b['same_totals']} | - |",
        ]
    lines += [
        "",
        "Comparisons of cached parsed versions, alternating with the peer in the same run (ops per wall second; "
        "ops per CPU second of the measuring process in brackets). Target >= 200,000 ops/s each.", "",
        "| scheme | hullscan ops/s | peer | peer ops/s | hullscan / peer (CPU) |", "| --- | --- | --- | --- | --- |",
    ]
    for scheme, v in cmp_.items():
        peer = f"{v['peer_ops_s']:,} ({v['peer_cpu_ops_s']:,})" if v["peer_ops_s"] else "n/a"
        ratio = f"{v['hullscan_cpu_ops_s'] / v['peer_cpu_ops_s']:.2f}" if v["peer_cpu_ops_s"] else "n/a"
        lines.append(f"| {scheme} | {v['hullscan_ops_s']:,} ({v['hullscan_cpu_ops_s']:,}) | {v['peer']} | {peer} | {ratio} |")
    lines += ["", f"Records per source: {imp['records']}"]
    (RESULTS / "advisories.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
