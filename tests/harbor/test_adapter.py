"""Issue 19 item 6: a scripted client following Harbor's Pluggable Scanner Adapter protocol v1.2 (metadata ->
scan -> poll the report, honouring Refresh-After) against a real `hullscan serve`, which pulls the image from its
own embedded registry with the robot-style Basic credentials Harbor sends. Every body is validated against the
spec's schemas (tests/data/harbor/, Apache-2.0)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from hullscan.settings import Settings
from tests.conftest import image_layout
from tests.pipelines.e2e import hullscan_cli, manifest_digest, push
from tests.registry.support import Distribution, skopeo
from tests.support.auth import ADMIN_CREDS
from tests.support.net import answers, wait_ready
from tests.support.server import HullscanServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SPEC = yaml.safe_load((Path(__file__).resolve().parents[1] / "data" / "harbor" /
                       "scanner-adapter-openapi-v1.2.yaml").read_text())
KEY = "harbor-adapter-test-key-0123456789"
REPO = "harborproj/app"
VULN = "application/vnd.security.vulnerability.report; version=1.1"
SBOM = "application/vnd.security.sbom.report+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ADVISORY = {
    "id": "GO-2099-0001", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2099-0001"],
    "summary": "net/http: a test flaw in the Go standard library",
    "details": "A crafted request makes net/http do something it should not.",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Go", "name": "stdlib"},
                  "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.19.9"}]}]}],
    "references": [{"type": "ADVISORY", "url": "https://pkg.go.dev/vuln/GO-2099-0001"}],
}


def validate(body: Any, schema_name: str) -> None:
    """`body` against components.schemas[schema_name] of Harbor's spec (OpenAPI 3.0 schemas are JSON Schema)."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]}
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)


def error_of(r: httpx.Response, status: int) -> str:
    """The message of the spec's ErrorResponse, after checking status, MIME type and shape."""
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"] == ERROR
    validate(r.json(), "ErrorResponse")
    return str(r.json()["error"]["message"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HullscanServer]:
    tmp = tmp_path_factory.mktemp("harbor")
    srv = HullscanServer(tmp / "data", env={"HULLSCAN_HARBOR_ADAPTER_API_KEY": KEY, "HULLSCAN_RUNNER_POOL_SIZE": "0",
                                            "HULLSCAN_LOG_JSON": "false"}).start()
    feed = tmp / "go.jsonl"
    feed.write_text(json.dumps(ADVISORY) + "\n")
    hullscan_cli(srv, "advisories", "import", str(feed), "--format", "osv")
    push("go-binary", f"{srv.host}/{REPO}:latest")
    yield srv
    srv.stop()


def harbor(server: HullscanServer, **headers: str) -> httpx.Client:
    """Harbor as its scanner registration configures it: the adapter's base URL and the key as Bearer."""
    return httpx.Client(base_url=f"{server.url}/harbor/api/v1", timeout=60,
                        headers={"Authorization": f"Bearer {KEY}", **headers})


def scan_request(server: HullscanServer, repository: str = REPO, digest: str | None = None) -> dict[str, Any]:
    return {"registry": {"url": server.url,
                         "authorization": "Basic " + base64.b64encode(ADMIN_CREDS.encode()).decode()},
            "artifact": {"repository": repository, "digest": digest or manifest_digest("go-binary"), "tag": "latest",
                         "mime_type": OCI_MANIFEST}}


def poll(client: httpx.Client, scan_id: str, accept: str, params: dict[str, str] | None = None,
         timeout: float = 180) -> httpx.Response:
    """Harbor's loop: ask for the report until it is not 302, waiting Refresh-After seconds between asks."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/scan/{scan_id}/report", headers={"Accept": accept}, params=params)
        if r.status_code != 302:
            return r
        assert "location" not in r.headers  # Go's client, which Harbor uses, would follow it
        wait = int(r.headers["Refresh-After"])
        assert 1 <= wait <= 60
        assert time.monotonic() < deadline, "the report never came"
        time.sleep(wait)


def test_harbor_protocol_metadata_scan_report(server: HullscanServer) -> None:
    with harbor(server) as client:
        meta = client.get("/metadata")
        assert meta.status_code == 200
        assert meta.headers["content-type"] == "application/vnd.scanner.adapter.metadata+json; version=1.1"
        validate(meta.json(), "ScannerAdapterMetadata")
        assert meta.json()["scanner"]["name"] == "hullscan"
        assert meta.json()["properties"]["harbor.scanner-adapter/vulnerability-database-updated-at"]  # imported
        by_type = {c["type"]: c for c in meta.json()["capabilities"]}
        assert VULN in by_type["vulnerability"]["produces_mime_types"]
        assert by_type["sbom"]["produces_mime_types"] == [SBOM]
        assert OCI_MANIFEST in by_type["vulnerability"]["consumes_mime_types"]

        accepted = client.post("/scan", json=scan_request(server), headers={
            "Content-Type": "application/vnd.scanner.adapter.scan.request+json; version=1.1"})
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers["content-type"] == "application/vnd.scanner.adapter.scan.response+json; version=1.0"
        validate(accepted.json(), "ScanResponse")
        scan_id = accepted.json()["id"]

        report = poll(client, scan_id, VULN)
        assert report.status_code == 200, report.text[:2000]
        assert report.headers["content-type"] == VULN
        body = report.json()
        validate(body, "HarborVulnerabilityReport")
        assert body["artifact"] == scan_request(server)["artifact"]
        assert body["severity"] == "Critical"
        [item] = [v for v in body["vulnerabilities"] if v["id"] == "CVE-2099-0001"]
        assert (item["package"], item["version"], item["fix_version"]) == ("stdlib", "go1.19.8", "1.19.9")
        assert item["severity"] == "Critical"
        assert item["preferred_cvss"] == {"score_v3": 9.8,
                                          "vector_v3": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
        assert "https://pkg.go.dev/vuln/GO-2099-0001" in item["links"]
        assert "GO-2099-0001" in item["vendor_attributes"]["identifiers"]

        # the Harbor-specific v1.0 report type is the same report
        assert poll(client, scan_id, "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
                    ).json()["vulnerabilities"] == body["vulnerabilities"]

        sbom = poll(client, scan_id, SBOM, {"sbom_media_type": "application/vnd.cyclonedx+json"})
        assert sbom.status_code == 200, sbom.text[:2000]
        assert sbom.headers["content-type"] == SBOM
        validate(sbom.json(), "HarborSbomReport")
        assert sbom.json()["media_type"] == "application/vnd.cyclonedx+json"
        document = sbom.json()["sbom"]
        assert document["bomFormat"] == "CycloneDX"
        assert any(c["name"] == "stdlib" and c["version"] == "go1.19.8" for c in document["components"])
        spdx = poll(client, scan_id, SBOM, {"sbom_media_type": "application/spdx+json"})
        validate(spdx.json(), "HarborSbomReport")
        assert spdx.json()["sbom"]["spdxVersion"].startswith("SPDX-")

        # an SBOM report without its format is Harbor's 400; a report type we do not make is 501
        assert "sbom_media_type" in error_of(client.get(f"/scan/{scan_id}/report", headers={"Accept": SBOM}), 400)
        error_of(client.get(f"/scan/{scan_id}/report",
                            headers={"Accept": "application/vnd.scanner.adapter.vuln.report.raw"}), 501)


def test_a_scan_that_cannot_pull_reports_500(server: HullscanServer) -> None:
    with harbor(server) as client:
        accepted = client.post("/scan", json=scan_request(server, digest="sha256:" + "0" * 64))
        assert accepted.status_code == 202
        message = error_of(poll(client, accepted.json()["id"], VULN), 500)
        assert "cannot scan" in message and REPO in message


ROBOT, ROBOT_PASSWORD = "robot$scanner", "harbor-robot-secret-0"
# bcrypt of ROBOT_PASSWORD (cost 4), made once with Python's crypt module: Distribution's htpasswd reads bcrypt only
ROBOT_HTPASSWD = f"{ROBOT}:$2b$04$Qi8MApcDe7ZBKEidGmu2n.28dckGHKoaajMBsyGa9SSap0xpuMrx2"


def test_pull_from_a_distribution_registry_with_basic_auth(server: HullscanServer) -> None:
    """Harbor's own registry is CNCF Distribution: the robot account's Basic credentials answer its challenge."""
    registry = Distribution()
    (registry.dir / "htpasswd").write_text(ROBOT_HTPASSWD + "\n")
    with (registry.dir / "config.yml").open("a") as config:
        config.write(f"auth:\n  htpasswd:\n    realm: harbor-test\n    path: {registry.dir / 'htpasswd'}\n")
    binary = shutil.which("docker-registry")
    assert binary, "Debian package 'docker-registry' is not installed"
    registry.log = open(registry.dir / "log", "wb")  # noqa: SIM115 - closed with the process by stop()
    registry.proc = subprocess.Popen([binary, "serve", str(registry.dir / "config.yml")], stdout=registry.log,
                                     stderr=subprocess.STDOUT)
    try:
        # ready when it challenges (Distribution.start waits for an open registry's 200)
        wait_ready(registry.proc, answers(f"http://{registry.host}/v2/", 401), "docker-registry",
                   registry.dir / "log", 30)
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"{ROBOT}:{ROBOT_PASSWORD}",
               f"oci:{image_layout('go-binary')}:latest", f"docker://{registry.host}/library/hello:1")
        request = scan_request(server, repository="library/hello")
        request["registry"] = {"url": f"http://{registry.host}", "authorization": "Basic " + base64.b64encode(
            f"{ROBOT}:{ROBOT_PASSWORD}".encode()).decode()}
        with harbor(server) as client:
            accepted = client.post("/scan", json=request)
            assert accepted.status_code == 202, accepted.text
            report = poll(client, accepted.json()["id"], VULN)
            assert report.status_code == 200, report.text[:2000]
            validate(report.json(), "HarborVulnerabilityReport")
            assert "CVE-2099-0001" in {v["id"] for v in report.json()["vulnerabilities"]}
            request["registry"]["authorization"] = "Basic " + base64.b64encode(f"{ROBOT}:wrong".encode()).decode()
            refused = client.post("/scan", json=request)
            assert "cannot scan" in error_of(poll(client, refused.json()["id"], VULN), 500)
    finally:
        registry.stop()


def test_wrong_key_unknown_id_and_bad_requests(server: HullscanServer) -> None:
    base = f"{server.url}/harbor/api/v1"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {KEY}x"},
                    {"X-ScannerAdapter-API-Key": "wrong"}):
        assert "API key" in error_of(httpx.get(f"{base}/metadata", headers=headers), 401)
        error_of(httpx.post(f"{base}/scan", json=scan_request(server), headers=headers), 401)
    # the other ways Harbor's registration sends the key
    assert httpx.get(f"{base}/metadata", headers={"X-ScannerAdapter-API-Key": KEY}).status_code == 200
    assert httpx.get(f"{base}/metadata", auth=("harbor", KEY)).status_code == 200
    with harbor(server) as client:
        assert "no scan request" in error_of(client.get("/scan/3fa85f64-5717-4562-b3fc-2c963f66afa6/report"), 404)
        error_of(client.post("/scan", content=b"{not json"), 400)
        error_of(client.post("/scan", content=b"[]"), 400)
        error_of(client.post("/scan", content=b"[" * 60_000), 400)
        error_of(client.post("/scan", json={"registry": {"url": server.url}}), 400)
        error_of(client.post("/scan", json={"registry": {"url": 5}, "artifact": {}}), 400)
        error_of(client.post("/scan", content=b"{" + b" " * (70 << 10) + b"}"), 400)
        bad_digest = scan_request(server, digest="sha256:xyz")
        assert "digest" in error_of(client.post("/scan", json=bad_digest), 422)
        bad_url = scan_request(server)
        bad_url["registry"]["url"] = "ftp://example.org"
        assert "registry.url" in error_of(client.post("/scan", json=bad_url), 422)
        bearer = scan_request(server)
        bearer["registry"]["authorization"] = "Bearer abc"
        error_of(client.post("/scan", json=bearer), 422)
        chart = scan_request(server)
        chart["artifact"]["mime_type"] = "application/vnd.cncf.helm.config.v1+json"
        error_of(client.post("/scan", json=chart), 501)


def test_without_a_key_the_adapter_is_not_there(migrated_settings: Settings) -> None:
    from hullscan.web.app import create_app

    app = create_app(migrated_settings)
    client = TestClient(app)
    for method, path in (("GET", "/harbor/api/v1/metadata"), ("POST", "/harbor/api/v1/scan"),
                         ("GET", "/harbor/api/v1/scan/x/report")):
        assert client.request(method, path, headers={"Authorization": "Bearer "}).status_code == 404
    assert "/harbor/api/v1/metadata" not in client.get("/api/v1/openapi.json").json()["paths"]
    app.state.db.dispose()


def test_a_hanging_pull_does_not_hold_up_the_server_stopping(tmp_path: Path) -> None:
    """A registry that accepts the connection and never answers: the scan hangs (up to the client's timeout),
    and SIGTERM still stops the server promptly (scan threads are daemons; the state is in memory anyway)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    srv = HullscanServer(tmp_path / "data", env={"HULLSCAN_HARBOR_ADAPTER_API_KEY": KEY,
                                                 "HULLSCAN_RUNNER_POOL_SIZE": "0"}).start()
    try:
        with harbor(srv) as client:
            request = scan_request(srv)
            request["registry"]["url"] = f"http://127.0.0.1:{silent.getsockname()[1]}"
            scan_id = client.post("/scan", json=request).json()["id"]
            time.sleep(1)
            pending = client.get(f"/scan/{scan_id}/report", headers={"Accept": VULN})
            assert pending.status_code == 302 and pending.headers["Refresh-After"] == "2"
            assert "location" not in pending.headers
        started = time.monotonic()
        srv.stop()
        assert srv.proc is not None and srv.proc.returncode in (0, -signal.SIGTERM)  # not killed after 20 s
        assert time.monotonic() - started < 15
    finally:
        srv.kill()  # a no-op once it has exited
        silent.close()


def test_metadata_reports_the_advisory_database_age(migrated_settings: Settings, tmp_path: Path) -> None:
    """`vulnerability-database-updated-at`: the newest successful sync or import of any source, RFC 3339 in UTC;
    absent before the first, unchanged by a source that failed."""
    from datetime import datetime, timedelta

    from hullscan.advisories import service as advisories
    from hullscan.web.app import create_app

    settings = Settings(**{**migrated_settings.model_dump(), "harbor_adapter_api_key": KEY, "runner_pool_size": 0})
    app = create_app(settings)
    client = TestClient(app, headers={"Authorization": f"Bearer {KEY}"})
    prop = "harbor.scanner-adapter/vulnerability-database-updated-at"

    def properties() -> dict[str, str]:
        r = client.get("/harbor/api/v1/metadata")
        assert r.status_code == 200, r.text
        validate(r.json(), "ScannerAdapterMetadata")
        return r.json()["properties"]

    def last_success(name: str) -> datetime:
        with app.state.db.read_session() as s:
            found = next(x for x in advisories.status(s)["sources"] if x["name"] == name)
        return datetime.fromisoformat(found["last_success_at"])

    assert prop not in properties()
    feed = tmp_path / "go.jsonl"
    feed.write_text(json.dumps(ADVISORY) + "\n")
    assert advisories.import_path(app.state.db, settings, str(feed), "osv", source="go-feed")[0].ok
    first = properties()[prop]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first), first
    assert abs(datetime.fromisoformat(first) - last_success("go-feed")) < timedelta(milliseconds=1)

    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n")
    assert not advisories.import_path(app.state.db, settings, str(broken), "osv", source="broken")[0].ok
    assert properties()[prop] == first  # a failed source is no update

    time.sleep(0.01)
    assert advisories.import_path(app.state.db, settings, str(feed), "osv", source="go-feed-2")[0].ok
    second = properties()[prop]
    assert datetime.fromisoformat(second) > datetime.fromisoformat(first)
    assert abs(datetime.fromisoformat(second) - last_success("go-feed-2")) < timedelta(milliseconds=1)
    app.state.db.dispose()
