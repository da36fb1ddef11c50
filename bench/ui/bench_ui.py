"""Vulnerability report page server time with 10,000 vulnerabilities in a group of 3 projects, next to the JSON
API for the same query where there is one.

Three projects of the group `bench` get 10,000 container-registry vulnerabilities between them through
`record_findings` (the call ingestion makes: 20 images x 500 findings over all severities, some KEV, some
fixable; images 0-6 in bench/app, 7-13 in bench/api, 14-19 in bench/web). A real `hullscan serve` process is
started on it and a real HTTP client (httpx, keep-alive, loopback) asks for pages: the project report (first
page, severity filter, image filter, a deep numbered page, detected sort, several filters at once) and the group
report over all 10,000 (first page, severity, page 101, package sort, alias search), the group overview and the
Security centre. Side by side in the same run, the REST API (`/api/v1/projects/<id>/vulnerabilities`) answers
the project's queries: the peer the page builds on, so the difference is the cost of counts, the image list
and HTML. Target: <= 300 ms per page.

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
PROJECTS = ("bench/app", "bench/api", "bench/web")
SEVERITIES = ("critical", "high", "high", "medium", "medium", "medium", "low", "low", "unknown")
HOST = "registry.example:5000"


def seed(settings: Settings) -> tuple[int, float]:
    upgrade(settings)
    db = Database(settings)
    started = time.perf_counter()
    with db.session() as s:
        pids = [projects.create_project(s, path, cs4r_enabled=True).id for path in PROJECTS]
    per_image = TOTAL // IMAGES
    for img in range(IMAGES):
        findings = []
        for i in range(per_image):
            n = img * per_image + i
            findings.append(Finding(
                package=FindingPackage(name=f"pkg-{n % 1700}", version=f"1.{n % 7}.{n % 13}", type="deb"),
                vulnerability_id=f"CVE-{2015 + n % 10}-{10000 + n}",
                identifiers=[f"CVE-{2015 + n % 10}-{10000 + n}", f"GHSA-{n:04x}-bnch-mark"],
                advisory_ids=[f"DSA-{n}"], ecosystem="Debian:12", severity=SEVERITIES[n % len(SEVERITIES)],
                fixed_versions=[f"1.{n % 7}.{n % 13 + 1}"] if n % 3 else [], known_exploited=n % 97 == 0,
                cvss_score=round(3 + (n % 70) / 10, 1), epss_score=(n % 1000) / 1000,
                description=f"A flaw in pkg-{n % 1700} lets an attacker do thing {n}."))
        with db.session() as s:
            owner = min(img // 7, len(PROJECTS) - 1)
            vulns.record_findings(s, vulns.ImageScope(pids[owner], f"{HOST}/{PROJECTS[owner]}/svc{img:02d}", "latest",
                                                      f"sha256:{img:064x}", "debian 12"), findings)
    db.dispose()
    return pids[0], time.perf_counter() - started


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


def scenarios(pid: int) -> list[tuple[str, str, str | None]]:
    """(name, UI page URL, API URL of the same query or None where the API has no such list)."""
    page = "/projects/bench/app/-/security/vulnerability_report?tab=CONTAINER_REGISTRY"
    api = f"/api/v1/projects/{pid}/vulnerabilities?report_type=container_scanning_for_registry" \
          "&state=detected&state=confirmed&per_page=20"
    group = "/groups/bench/-/security/vulnerabilities?tab=CONTAINER_REGISTRY"
    image = f"{HOST}/bench/app/svc03:latest"
    return [
        ("project: first page", page, api),
        ("project: severity = critical", page + "&severity=critical", api + "&severity=critical"),
        ("project: image filter", page + f"&image={image}", api + f"&image={image}"),
        ("project: page 101", page + "&page=101", None),
        ("project: sorted by detected", page + "&sort=detected_desc", api + "&sort=detected_desc"),
        ("project: severity + has fix + KEV", page + "&severity=critical&severity=high&has_fix=true&kev=false",
         api + "&severity=critical&severity=high&has_fix=true&kev=false"),
        ("group: first page", group, None),
        ("group: severity = critical", group + "&severity=critical", None),
        ("group: page 101", group + "&page=101", None),
        ("group: 100 per page, sorted by package", group + "&per_page=100&sort=package_asc", None),
        ("group: identifier alias (GHSA, lower case)", group + "&identifier=ghsa-0100-bnch-mark", None),
        ("group: package prefix", group + "&package=pkg-12", None),
        ("group overview", "/groups/bench", None),
        ("Security centre: first page", "/-/security/vulnerabilities", None),
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
            first = client.get("/groups/bench/-/security/vulnerabilities?tab=CONTAINER_REGISTRY")
            assert first.status_code == 200 and f"{TOTAL} vulnerabilities" in first.text, first.text[:500]
            rows = []
            for name, page_url, api_url in scenarios(pid):
                ui = timed(client, page_url, n)
                api = timed(client, api_url, n) if api_url else None
                rows.append({"scenario": name, "ui": ui, "api": api, "ok": ui["median_ms"] <= TARGET_MS})
    finally:
        server.stop()
    return {"database": db_kind, "vulnerabilities": TOTAL, "projects": len(PROJECTS), "seed_seconds": round(seed_s, 1), "requests": n,
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
    out = {"benchmark": "ui report pages, a group of 3 projects with 10,000 vulnerabilities", "target_ms": TARGET_MS,
           "machine": {"python": platform.python_version(), "platform": platform.platform(),
                       "cpus": os.cpu_count(), "loadavg_before": [round(x, 1) for x in load_before],
                       "loadavg_after": [round(x, 1) for x in os.getloadavg()]},
           "peer": "hullscan REST API list endpoint, same query (JSON)", "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ui.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# UI benchmark: vulnerability report pages, a group of 3 projects with 10,000 vulnerabilities", "",
             f"Real `hullscan serve`, httpx over loopback, {args.requests} requests per row after one warm-up; "
             f"target: page median <= {TARGET_MS:.0f} ms. Peer: the REST API list for the same query (project rows; "
             "the API has no group list).", "`.venv/bin/python bench/ui/bench_ui.py`",
             f"Machine: {os.cpu_count()} CPUs shared with other work; load average before "
             f"{out['machine']['loadavg_before'][0]}, after {out['machine']['loadavg_after'][0]}.", ""]
    for res in results:
        lines += [f"## {res['database']} (seeded {res['vulnerabilities']} in {res['projects']} projects via "
                  f"record_findings in {res['seed_seconds']} s)",
                  "", "| scenario | page median ms | page p95 ms | API median ms | API p95 ms | <= 300 ms |",
                  "|---|---|---|---|---|---|"]
        for r in res["scenarios"]:
            api = r["api"] or {"median_ms": "—", "p95_ms": "—"}
            lines.append(f"| {r['scenario']} | {r['ui']['median_ms']} | {r['ui']['p95_ms']} | {api['median_ms']} "
                         f"| {api['p95_ms']} | {'yes' if r['ok'] else 'NO'} |")
        lines.append("")
    (RESULTS / "ui.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
