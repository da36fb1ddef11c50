"""An OpenVEX document pushed as an OCI referrer of an image (artifactType application/openvex+json) is imported
for that image's findings only, by the server's own event loop; a malformed one changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.registry.support import OCI_MANIFEST, push_blob, sha256
from tests.support.auth import ADMIN, ADMIN_HTTP
from tests.support.server import HullscanServer
from tests.vex.test_vex_roundtrip import FINDINGS, openvex
from tests.vulnerabilities.test_remediation import _push

PROJECT = "group/vexr"


@pytest.fixture
def quiet_server(tmp_path: Path) -> Iterator[HullscanServer]:
    srv = HullscanServer(tmp_path / "data", env={"HULLSCAN_RUNNER_POOL_SIZE": "0"}).start()
    yield srv
    srv.stop()


def _states(server: HullscanServer, pid: int) -> dict[tuple[str, str], str]:
    rows = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{pid}/vulnerabilities", params={"per_page": 100}).json()
    return {(v["image"].rsplit("/", 1)[-1], v["identifier"]): v["state"] for v in rows["vulnerabilities"]}


def _push_vex(client: httpx.Client, repo: str, subject: str, document: bytes) -> str:
    config = push_blob(client, repo, b"{}")
    layer = push_blob(client, repo, document)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/openvex+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/openvex+json", "digest": layer, "size": len(document)}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}}).encode()
    digest = sha256(manifest)
    r = client.put(f"/v2/{repo}/manifests/{digest}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return digest


def test_vex_referrer_is_imported_for_its_subject_only(quiet_server: HullscanServer) -> None:
    server = quiet_server
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    with db.session() as s:
        pid = projects.create_project(s, PROJECT).id
    with httpx.Client(base_url=server.url, auth=ADMIN, timeout=60) as client:
        app = _push(client, f"{PROJECT}/app", "v1", [b"app-layer"])
        lib = _push(client, f"{PROJECT}/lib", "v1", [b"lib-layer"])
        with db.session() as s:
            for name, digest in (("app", app), ("lib", lib)):
                vulns.record_findings(s, vulns.ImageScope(pid, f"{server.host}/{PROJECT}/{name}", "v1", digest),
                                      FINDINGS)
        bad = openvex({"vulnerability": {"name": "CVE-2024-0001"}, "products": [{"@id": "pkg:deb/openssl"}]})
        _push_vex(client, f"{PROJECT}/app", app, bad)
        good = openvex({"vulnerability": {"name": "CVE-2024-0002"}, "products": [{"@id": "pkg:deb/zlib"}],
                        "status": "not_affected", "justification": "vulnerable_code_not_present"})
        _push_vex(client, f"{PROJECT}/app", app, good)
    db.dispose()
    deadline = time.monotonic() + 60
    while _states(server, pid)[("app:v1", "CVE-2024-0002")] != "dismissed":
        assert time.monotonic() < deadline, "the VEX referrer was not imported"
        time.sleep(0.5)
    states = _states(server, pid)
    assert states[("lib:v1", "CVE-2024-0002")] == "detected"  # another image: not the referrer's subject
    assert states[("app:v1", "CVE-2024-0001")] == "detected"  # the malformed document changed nothing
