"""Issue 7's acceptance end to end: skopeo pushes to `hullscan serve`, the runner scans, ingestion turns the
SBOM into vulnerabilities; advisory imports re-match stored images with no pipeline and no registry request."""

from __future__ import annotations

import json
from pathlib import Path


from tests.conftest import data_path
from tests.ingestion.patched_image import upgrade_python_package
from tests.ingestion.test_ingestion import osv_record
from tests.pipelines.e2e import finished_pipelines, hullscan_cli, layout, push, start_server, wait_for
from tests.registry.support import skopeo
from tests.support.auth import ADMIN_HTTP

PROJECT = "group/project"


def vulnerabilities(server, **params) -> list[dict]:
    out, cursor = [], None
    while True:
        q = {"per_page": 100, **params, **({"cursor": cursor} if cursor else {})}
        r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fproject/vulnerabilities", params=q, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["vulnerabilities"]
        cursor = body["next_cursor"]
        if not cursor:
            return out


def registry_requests(server) -> int:
    return server.log_path.read_text().count(' /v2/')


def ingested(server, count: int) -> None:
    """Ingestion runs after each job succeeds: wait until `count` SBOM artifacts are ingested."""
    def done() -> bool:
        arts = [a for p in ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fproject/pipelines", timeout=30).json()
                for j in p["jobs"] for a in j["artifacts"]]
        assert not any(a["ingest_error"] for a in arts), arts
        return sum(1 for a in arts if a["ingested_at"]) >= count
    wait_for(done, 120, f"{count} SBOMs ingested", server)


def test_push_scan_ingest_patch_and_continuous_scanning(tmp_path: Path, database_url: str) -> None:
    server = start_server(tmp_path / "data", database_url, HULLSCAN_CONTINUOUS_SCAN_INTERVAL="0.5",
                          HULLSCAN_LOG_JSON="false")
    try:
        hullscan_cli(server, "advisories", "import", str(data_path("advisories", "osv", "pypi.jsonl.gz")))
        app, other = f"{server.host}/{PROJECT}/app", f"{server.host}/{PROJECT}/other"
        push("debian-python-app", f"{app}:latest")
        push("debian-python-app", f"{other}:latest")
        pipelines = finished_pipelines(server, PROJECT, 2, timeout=240)
        assert {p["status"] for p in pipelines} == {"success"}, pipelines
        ingested(server, 2)

        # The vulnerabilities are exactly what `hullscan scan` reports for the same image.
        found = vulnerabilities(server, report_type="container_scanning_for_registry")
        scan = json.loads(hullscan_cli(server, "scan", f"oci-dir:{layout('debian-python-app')}", "--format", "json",
                                       "--offline"))
        expected = {(f["package"]["name"], f["vulnerability_id"]) for f in scan["findings"]}
        for image in (app, other):
            got = {(v["package"], v["identifier"]) for v in found if v["image"] == f"{image}:latest"}
            assert got == expected and len(got) > 5
        assert all(v["report_type"] == "container_scanning_for_registry" for v in found)

        # A patched image on the same tag (a layer upgrading urllib3): urllib3's vulnerabilities of that image
        # are no longer detected; the other image keeps all of its vulnerabilities.
        patched = tmp_path / "patched"
        upgrade_python_package(layout("debian-python-app"), patched, "usr/local/lib/python3.11/site-packages",
                               "urllib3-1.24.1.dist-info", "urllib3", "2.2.3")
        skopeo("copy", "--dest-tls-verify=false", f"oci:{patched}:latest", f"docker://{app}:latest")
        finished_pipelines(server, PROJECT, 3, timeout=240)
        ingested(server, 3)
        now = vulnerabilities(server)
        gone = {v["identifier"] for v in now if v["image"] == f"{app}:latest" and v["no_longer_detected"]}
        want_gone = {i for p, i in expected if p == "urllib3"}
        assert gone == want_gone and want_gone
        assert not any(v["no_longer_detected"] for v in now if v["image"] == f"{other}:latest")

        # Continuous scanning: an imported advisory hits both stored images; no pipeline, no registry request.
        before_requests, before_pipelines = registry_requests(server), 3
        assert before_requests > 0  # the access log does show registry requests
        feed = tmp_path / "extra.jsonl"
        feed.write_text(json.dumps(osv_record("HULLSCAN-TEST-0002", "requests", "0", "99.0")) + "\n")
        hullscan_cli(server, "advisories", "import", str(feed), "--format", "osv", "--source", "test-extra")
        hits = wait_for(lambda: [v for v in vulnerabilities(server, identifier="HULLSCAN-TEST-0002")
                                 if v["state"] == "detected"] or None, 60, "advisory-update findings", server)
        assert {v["image"] for v in hits} == {f"{app}:latest", f"{other}:latest"}
        assert {v["activity"] for v in hits} == {"detected_by_advisory_update"}
        feed.write_text(json.dumps(osv_record("HULLSCAN-TEST-0002", "requests", "0", "99.0",
                                              withdrawn="2026-11-28T02:00:00Z")) + "\n")
        hullscan_cli(server, "advisories", "import", str(feed), "--format", "osv", "--source", "test-extra")
        # no longer detected; not resolved, as the project leaves auto_resolve off (re-matching honours it)
        wait_for(lambda: all(v["no_longer_detected"] and v["state"] == "detected"
                             for v in vulnerabilities(server, identifier="HULLSCAN-TEST-0002")),
                 60, "withdrawn advisory no longer detected", server)
        assert len(ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fproject/pipelines").json()) == before_pipelines
        assert registry_requests(server) == before_requests
    finally:
        server.stop()
