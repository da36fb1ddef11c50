"""Advisory store and version-scheme benchmark, side by side with the reference implementations.

  .venv/bin/python bench/advisories/bench_advisories.py

1. Import of every file of ../shared/advisories into a fresh SQLite store (target <= 30 s on 2 cores),
   then the same import again (must change nothing).
2. A no-op incremental OSV sync (modified_id.csv unchanged) from a local OSV-bucket-shaped HTTP server
   holding all 2661 PyPI records (target <= 2 s).
3. In-process version comparisons (parsed versions cached), ops/s, for deb, rpm and pypi (target >= 200,000
   each), next to the reference implementations: dpkg's own comparison through python3-apt's `apt_pkg`,
   rpm's `labelCompare` (both run by the system python3 in one process each) and `packaging.version`.

Writes bench/results/advisories.json and bench/results/advisories.md.
"""

from __future__ import annotations

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


def bench_import(work: Path) -> dict:
    settings = Settings(data_dir=work / "import")
    upgrade(settings)
    db = Database(settings)
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        first = service.import_path(db, settings, str(SHARED / "advisories"))
        wall1, cpu1 = time.perf_counter() - wall, time.process_time() - cpu
        cpu, wall = time.process_time(), time.perf_counter()
        again = service.import_path(db, settings, str(SHARED / "advisories"))
        wall2, cpu2 = time.perf_counter() - wall, time.process_time() - cpu
        with db.session() as s:
            totals = service.status(s)["totals"]
    finally:
        db.dispose()
    return {
        "first_import_s": round(wall1, 2), "first_import_cpu_s": round(cpu1, 2),
        "reimport_s": round(wall2, 2), "reimport_cpu_s": round(cpu2, 2),
        "reimport_changes": sum(r.added + r.modified + r.withdrawn for r in again),
        "records": {r.source: r.records for r in first},
        "all_ok": all(r.ok for r in first + again), "totals": totals, "target_s": 30,
    }


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


def _ops(fn, pairs) -> float:  # type: ignore[no-untyped-def]
    for a, b in pairs[:2000]:  # warm the parse cache
        fn(a, b)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(ROUNDS // 2):
            for a, b in pairs:
                fn(a, b)
        best = max(best, len(pairs) * (ROUNDS // 2) / (time.perf_counter() - t))
    return best


PEER_SCRIPT = r"""
import json, sys, time
kind = sys.argv[1]
pairs = json.load(sys.stdin)
if kind == "deb":
    import apt_pkg
    apt_pkg.init()
    fn = apt_pkg.version_compare
    args = pairs
else:
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
best = 0.0
for _ in range(3):
    t = time.perf_counter()
    for _ in range(5):
        for a, b in args:
            fn(a, b)
    best = max(best, len(args) * 5 / (time.perf_counter() - t))
print(best)
"""


def _peer(kind: str, pairs: list[tuple[str, str]]) -> float | None:
    try:
        out = subprocess.run(["/usr/bin/python3", "-c", PEER_SCRIPT, kind], input=json.dumps(pairs),
                             capture_output=True, text=True, check=True, timeout=600)
        return float(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


def bench_compare() -> dict:
    import packaging.version

    out = {}
    deb = _pairs(DEB_BASES, "+deb12u1", N_PAIRS, 11)
    deb = [(a, b) for a, b in deb if _valid("deb", a) and _valid("deb", b)]
    rpm_pairs = [(a, b) for a, b in _pairs(RPM_BASES, ".el8_10", N_PAIRS, 12) if _valid("rpm", a) and _valid("rpm", b)]
    rng = random.Random(5)
    pep = ["1.0", "1.0.0", "1.0a1", "1.0b2", "1.0rc1", "1.0.post1", "1.0.dev3", "1!0.5", "1.0+local.7", "2.0",
           "0.9.9", "1.0.post1.dev2", "1.1", "2.31.0", "3.9.18", "23.1.2", "0.0.1", "10.2.0rc3"]
    pypi = [(rng.choice(pep), rng.choice(pep)) for _ in range(N_PAIRS)]
    parsed = {v: packaging.version.Version(v) for v in pep}

    def packaging_cmp(a: str, b: str) -> int:
        va, vb = parsed[a], parsed[b]
        return (va > vb) - (va < vb)

    out["deb"] = {"hullscan_ops_s": round(_ops(lambda a, b: compare("deb", a, b), deb)),
                  "peer": "apt_pkg.version_compare (python3-apt, dpkg algorithm in C++)",
                  "peer_ops_s": _round(_peer("deb", deb)), "pairs": len(deb)}
    out["rpm"] = {"hullscan_ops_s": round(_ops(lambda a, b: compare("rpm", a, b), rpm_pairs)),
                  "peer": "rpm.labelCompare (python3-rpm 4.18, C)", "peer_ops_s": _round(_peer("rpm", rpm_pairs)),
                  "pairs": len(rpm_pairs)}
    out["pypi"] = {"hullscan_ops_s": round(_ops(lambda a, b: compare("pypi", a, b), pypi)),
                   "peer": "packaging.version.Version (pre-parsed) comparison",
                   "peer_ops_s": round(_ops(packaging_cmp, pypi)), "pairs": len(pypi)}
    for v in out.values():
        v["target_ops_s"] = 200_000
    return out


def _round(x: float | None) -> int | None:
    return round(x) if x is not None else None


def _valid(scheme: str, v: str) -> bool:
    try:
        parse(scheme, v)
        return True
    except Exception:
        return False


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-advisories-"))
    try:
        result = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "loadavg_at_start": list(os.getloadavg())},
            "compare": bench_compare(),
            "noop_incremental_sync": bench_noop_sync(work),
            "import_all_shared": bench_import(work),
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
        "(the machine is shared; wall times include waiting for CPU).", "",
        "| measure | result | target |", "| --- | --- | --- |",
        f"| import all ../shared/advisories (SQLite), wall | {imp['first_import_s']} s (CPU {imp['first_import_cpu_s']} s) | <= 30 s |",
        f"| same import again (no changes: {imp['reimport_changes']}) | {imp['reimport_s']} s (CPU {imp['reimport_cpu_s']} s) | - |",
        f"| no-op incremental OSV sync ({sync['records']} PyPI records) | {sync['noop_sync_s']} s | <= 2 s |",
        "", "| scheme | hullscan ops/s | peer | peer ops/s |", "| --- | --- | --- | --- |",
    ]
    for scheme, v in cmp_.items():
        lines.append(f"| {scheme} | {v['hullscan_ops_s']:,} | {v['peer']} | "
                     f"{v['peer_ops_s']:,} |" if v["peer_ops_s"] else f"| {scheme} | {v['hullscan_ops_s']:,} | {v['peer']} | n/a |")
    lines += ["", f"Records per source: {imp['records']}"]
    (RESULTS / "advisories.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
