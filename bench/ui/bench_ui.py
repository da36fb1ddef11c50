"""Vulnerability report page server time with 10,000 vulnerabilities, next to the JSON API for the same query.

A project gets 10,000 container-registry vulnerabilities through `record_findings` (the call ingestion makes:
20 images x 500 findings over all severities, some KEV, some fixable). A real `hullscan serve` process is
started on it and a real HTTP client (httpx, keep-alive, loopback) asks for report pages: first page,
severity filter, image filter, a deep page by cursor, detected sort, several filters at once. Side by side in
the same run, the REST API (`/api/v1/projects/<id>/vulnerabilities`) answers the same query: the peer the page
builds on, so the difference is the cost of counts, the image list and HTML. Target: <= 300 ms per page.

    .venv/bin/python bench/ui/bench_ui.py [--requests 30] [--db sqlite,postgresql]

Writes bench/results/ui.json and bench/results/ui.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hullscan.auth import projects  # noqa: E402
from hullscan.db import Database, upgrade  # noqa: E402
from hullscan.matching.finding import Finding, FindingPackage  # noqa: E402
from hullscan.settings import Settings  # noqa: E402
from hullscan.vulnerabilities import service as vulns  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402
from tests.support.server import HullscanServer  # noqa: E402
from tests.support.auth import sign_in  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_MS = 300.0
TOTAL = 10_000
IMAGES = 20
SEVERITIES = ("critical", "high", "high", "medium", "medium", "medium", "low", "low", "unknown")
HOST = "registry.example:5000"


def seed(settings: Settings) -> tuple[int, float]:
    upgrade(settings)
    db = Database(settings)
    started = time.perf_counter()
    with db.session() as s:
        pid = projects.create_project(s, "bench/app", cs4r_enabled=True).id
    per_image = TOTAL // IMAGES
    for img in range(IMAGES):
        findings = []
        for i in range(per_image):
            n = img * per_image + i
            findings.append(Finding(
                package=FindingPackage(name=f"pkg-{n % 1700}", version=f"1.{n % 7}.{n % 13}", type="deb"),
                vulnerability_id=f"CVE-{2015 + n % 10}-{10000 + n}", identifiers=[f"CVE-{2015 + n % 10}-{10000 + n}"],
                advisory_ids=[f"DSA-{n}"], ecosystem="Debian:12", severity=SEVERITIES[n % len(SEVERITIES)],
                fixed_versions=[f"1.{n % 7}.{n % 13 + 1}"] if n % 3 else [], known_exploited=n % 97 == 0,
                cvss_score=round(3 + (n % 70) / 10, 1), epss_score=(n % 1000) / 1000,
                description=f"A flaw in pkg-{n % 1700} lets an attacker do thing {n}."))
        with db.session() as s:
            vulns.record_findings(s, vulns.ImageScope(pid, f"{HOST}/bench/app/svc{img:02d}", "latest",
                                                      f"sha256:{img:064x}", "debian 12"), findings)
    db.dispose()
    return pid, time.perf_counter() - started


def timed(client: httpx.Client, url: str, n: int) -> dict[str, float]:
    client.get(url).raise_for_status()  # warm
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url)
        samples.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1),
            "max_ms": round(samples[-1], 1)}


def scenarios(client: httpx.Client, pid: int) -> list[tuple[str, str, str]]:
    """(name, UI page URL, API URL of the same query)."""
    page = "/projects/bench/app/-/security/vulnerability_report?tab=CONTAINER_REGISTRY"
    api = f"/api/v1/projects/{pid}/vulnerabilities?report_type=container_scanning_for_registry" \
          "&state=detected&state=confirmed&per_page=20"
    # a deep page: follow the API's cursor 100 pages (2,000 rows) in
    cursor = None
    for _ in range(100):
        cursor = client.get(api + (f"&cursor={cursor}" if cursor else "")).json()["next_cursor"]
    image = f"{HOST}/bench/app/svc07:latest"
    return [
        ("first page", page, api),
        ("severity = critical", page + "&severity=critical", api + "&severity=critical"),
        ("image filter", page + f"&image={image}", api + f"&image={image}"),
        ("page 101 (cursor)", page + f"&cursor={cursor}", api + f"&cursor={cursor}"),
        ("sorted by detected", page + "&sort=detected_desc", api + "&sort=detected_desc"),
        ("severity + has fix + KEV", page + "&severity=critical&severity=high&has_fix=true&kev=false",
         api + "&severity=critical&severity=high&has_fix=true&kev=false"),
    ]


def run(db_kind: str, n: int, cluster: PostgresCluster | None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"hullscan-bench-ui-{db_kind}-"))
    url = cluster.create_database() if cluster else f"sqlite:///{tmp / 'data' / 'hullscan.db'}"
    settings = Settings(data_dir=tmp / "data", database_url=url)
    pid, seed_s = seed(settings)
    server = HullscanServer(tmp / "data", url, env={"HULLSCAN_RUNNER_POOL_SIZE": "0",
                                                    "HULLSCAN_ADVISORIES_SYNC_INTERVAL": "0"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert sign_in(client).status_code == 303  # pages and API reads as the admin's browser session
            first = client.get("/projects/bench/app/-/security/vulnerability_report?tab=CONTAINER_REGISTRY")
            assert first.status_code == 200 and "10000 vulnerabilities" in first.text, first.text[:500]
            rows = []
            for name, page_url, api_url in scenarios(client, pid):
                ui = timed(client, page_url, n)
                api = timed(client, api_url, n)
                rows.append({"scenario": name, "ui": ui, "api": api, "ok": ui["median_ms"] <= TARGET_MS})
    finally:
        server.stop()
    return {"database": db_kind, "vulnerabilities": TOTAL, "seed_seconds": round(seed_s, 1), "requests": n,
            "scenarios": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--db", default="sqlite,postgresql")
    args = ap.parse_args()
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    load_before = os.getloadavg()
    cluster = PostgresCluster().start() if "postgresql" in kinds else None
    try:
        results = [run(k, args.requests, cluster if k == "postgresql" else None) for k in kinds]
    finally:
        if cluster:
            cluster.stop()
    out = {"benchmark": "ui report page, 10,000 vulnerabilities", "target_ms": TARGET_MS,
           "machine": {"python": platform.python_version(), "platform": platform.platform(),
                       "cpus": os.cpu_count(), "loadavg_before": [round(x, 1) for x in load_before],
                       "loadavg_after": [round(x, 1) for x in os.getloadavg()]},
           "peer": "hullscan REST API list endpoint, same query (JSON)", "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ui.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# UI benchmark: vulnerability report page, 10,000 vulnerabilities", "",
             f"Real `hullscan serve`, httpx over loopback, {args.requests} requests per row after one warm-up; "
             f"target: page median <= {TARGET_MS:.0f} ms. Peer: the REST API list for the same query.",
             f"Machine: {os.cpu_count()} CPUs shared with other work; load average before "
             f"{out['machine']['loadavg_before'][0]}, after {out['machine']['loadavg_after'][0]}.", ""]
    for res in results:
        lines += [f"## {res['database']} (seeded {res['vulnerabilities']} via record_findings in {res['seed_seconds']} s)",
                  "", "| scenario | page median ms | page p95 ms | API median ms | API p95 ms | <= 300 ms |",
                  "|---|---|---|---|---|---|"]
        for r in res["scenarios"]:
            lines.append(f"| {r['scenario']} | {r['ui']['median_ms']} | {r['ui']['p95_ms']} | {r['api']['median_ms']} "
                         f"| {r['api']['p95_ms']} | {'yes' if r['ok'] else 'NO'} |")
        lines.append("")
    (RESULTS / "ui.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
