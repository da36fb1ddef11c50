"""Manifest GET latency with the pull gate on vs off, on one `hullscan serve` (SQLite, or --database-url).

Two projects hold the same image: `bench/off` has no policy; `bench/on` has the gate on (block high or above,
fail-closed, 7-day grace) and a scanned image whose many findings all sit below the threshold or under an
exception, so its pulls pass after the gate's full query. Each project also has `--images` other scanned images
(findings in other digests), so the indexes matter. GETs by tag alternate between the two, sequentially over
one keep-alive connection with a cached registry token; reported: median and p95 per side and the ratio.

    .venv/bin/python bench/registry/bench_pull_gate.py [--requests 2000] [--findings 300] [--images 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.registry.support import OCI_MANIFEST, push_image  # noqa: E402
from tests.support.server import HullscanServer  # noqa: E402


def _seed(srv: HullscanServer, digest: str, findings: int, images: int) -> None:
    from hullscan.auth.projects import get_project
    from hullscan.db import Database
    from hullscan.db.models.vulnerabilities import SbomSource
    from hullscan.matching.finding import Finding, FindingPackage
    from hullscan.policy import service as policy
    from hullscan.settings import Settings
    from hullscan.vulnerabilities import service as vulns

    def finding(i: int, severity: str) -> Finding:
        return Finding(package=FindingPackage(name=f"pkg{i}", version="1.0", type="deb"),
                       vulnerability_id=f"CVE-2024-{10000 + i}", identifiers=[f"CVE-2024-{10000 + i}"], advisory_ids=[],
                       ecosystem="Debian:12", severity=severity, fixed_versions=["1.1"],
                       published=datetime(2024, 1, 1, tzinfo=UTC))

    db = Database(Settings(data_dir=srv.data_dir, database_url=srv.database_url))
    with db.session() as s:
        for path in ("bench/off", "bench/on"):
            project = get_project(s, path)
            assert project is not None
            name = f"{srv.host}/{path}/app"
            for n in range(images):
                other = f"sha256:{n:064x}"
                s.add(SbomSource(project_id=project.id, source_type=2, image_name=f"{name}{n}", image_tag="v1",
                                 image_digest=other))
                vulns.record_findings(s, vulns.ImageScope(project.id, f"{name}{n}", "v1", other, "debian 12"),
                                      [finding(i, "critical") for i in range(20)])
            s.add(SbomSource(project_id=project.id, source_type=2, image_name=name, image_tag="v1",
                             image_digest=digest))
            # Below the threshold, except a few criticals each under an exception.
            mine = [finding(i, "medium" if i % 10 else "critical") for i in range(findings)]
            vulns.record_findings(s, vulns.ImageScope(project.id, name, "v1", digest, "debian 12"), mine)
            if path == "bench/on":
                policy.set_policy(s, project.id, policy.PolicySettings(
                    gate_enabled=True, min_severity="high", grace_days=7, fail_closed=True), author="bench")
                for f in mine:
                    if f.severity == "critical":
                        policy.add_exception(s, project.id, path, policy.ExceptionSpec(
                            identifier=f.vulnerability_id, reason="bench",
                            expires_at=datetime.now(UTC) + timedelta(days=30)), author="bench")
    db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000, help="GETs per side")
    ap.add_argument("--findings", type=int, default=300, help="findings of the pulled image")
    ap.add_argument("--images", type=int, default=200, help="other scanned images per project")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hullscan-bench-gate-"))
    srv = HullscanServer(tmp / "data", args.database_url, env={"HULLSCAN_RUNNER_POOL_SIZE": "0",
                                                               "HULLSCAN_LOG_LEVEL": "WARNING"}).start()
    try:
        with srv.client() as client:
            digests = {path: push_image(client, f"{path}/app", "v1", b"layer-of-the-bench-image")
                       for path in ("bench/off", "bench/on")}
            assert digests["bench/off"] == digests["bench/on"]
            _seed(srv, digests["bench/on"], args.findings, args.images)
            times: dict[str, list[float]] = {"off": [], "on": []}
            for path in ("bench/off", "bench/on"):  # warm up: tokens, connections, caches
                for _ in range(50):
                    r = client.get(f"/v2/{path}/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
                    assert r.status_code == 200, r.text
            for i in range(args.requests):  # ABBA order: neither side always goes first
                for side in (("off", "on") if i % 2 == 0 else ("on", "off")):
                    start = time.perf_counter()
                    r = client.get(f"/v2/bench/{side}/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
                    times[side].append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text
        out = {}
        for side, values in times.items():
            values.sort()
            out[side] = {"median_ms": round(statistics.median(values) * 1000, 3),
                         "p95_ms": round(values[int(len(values) * 0.95)] * 1000, 3)}
        out["ratio_median"] = round(out["on"]["median_ms"] / out["off"]["median_ms"], 3)
        out["ratio_p95"] = round(out["on"]["p95_ms"] / out["off"]["p95_ms"], 3)
        out["setup"] = {"requests": args.requests, "findings": args.findings, "images": args.images,
                        "database": "postgresql" if args.database_url else "sqlite"}
        print(json.dumps(out, indent=2))
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
