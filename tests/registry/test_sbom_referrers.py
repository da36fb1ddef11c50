"""Issue 19 item 2 with real components: after a registry-triggered scan, the CycloneDX SBOM is in the
embedded registry as an OCI referrer of the image (artifactType application/vnd.cyclonedx+json, subject = the
image digest), listed by the referrers API and copied out intact by skopeo and oras-py; pushing it is not a scan."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import oras.client
import pytest

from hullscan.db import Database
from hullscan.ingestion.referrers import publish_sbom_referrer
from hullscan.registry.storage import storage_for
from hullscan.settings import Settings
from tests.pipelines.e2e import drops, finished_pipelines, make_server, pipelines, push, wait_for
from tests.registry.support import OCI_MANIFEST, skopeo
from tests.support.auth import ADMIN_HTTP, ADMIN_PASSWORD, ADMIN_USER
from tests.support.server import HullscanServer

PROJECT = "group/refs"
REPO = f"{PROJECT}/app"
CDX = "application/vnd.cyclonedx+json"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scanning_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HullscanServer]:
    tmp = tmp_path_factory.mktemp(f"refs-{request.param}")
    url = f"sqlite:///{tmp / 'hs.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres").create_database()
    srv = make_server(tmp / "data", url).start()  # one local runner: pushes are scanned
    yield srv
    srv.stop()


def _referrers(srv: HullscanServer, digest: str, **params: str) -> httpx.Response:
    with httpx.Client(base_url=srv.url, auth=srv.auth, timeout=30) as c:
        return c.get(f"/v2/{REPO}/referrers/{digest}", params=params)


def test_scan_publishes_the_sbom_as_a_referrer(scanning_server: HullscanServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    srv = scanning_server
    push("go-binary", f"{srv.host}/{REPO}:latest")
    (pipeline,) = finished_pipelines(srv, PROJECT, 1, timeout=180)
    assert pipeline["status"] == "success", pipeline
    (job,) = pipeline["jobs"]
    digest = job["digest"]
    (artifact,) = job["artifacts"]
    stored = ADMIN_HTTP.get(f"{srv.url}/api/v1/projects/{PROJECT.replace('/', '%2F')}/jobs/{job['id']}/artifacts/"
                            f"{artifact['name']}", timeout=30).content
    sbom_digest = "sha256:" + hashlib.sha256(stored).hexdigest()

    index = wait_for(lambda: (r := _referrers(srv, digest)).status_code == 200 and r.json()["manifests"] and r.json(),
                     60, "the SBOM referrer", srv)
    (ref,) = index["manifests"]
    assert ref["artifactType"] == CDX and ref["mediaType"] == OCI_MANIFEST
    assert ref["annotations"]["dev.hullscan.sbom.digest"] == sbom_digest
    assert [m["digest"] for m in _referrers(srv, digest, artifactType=CDX).json()["manifests"]] == [ref["digest"]]
    assert _referrers(srv, digest, artifactType="application/spdx+json").json()["manifests"] == []
    with httpx.Client(base_url=srv.url, auth=srv.auth, timeout=30) as c:
        manifest = c.get(f"/v2/{REPO}/manifests/{ref['digest']}", headers={"Accept": OCI_MANIFEST}).json()
    assert manifest["subject"]["digest"] == digest and manifest["artifactType"] == CDX
    assert [(layer["mediaType"], layer["digest"]) for layer in manifest["layers"]] == [(CDX, sbom_digest)]

    # skopeo copies the artifact out: the SBOM blob is byte-identical
    out = tmp_path / "skopeo"
    skopeo("copy", "--src-tls-verify=false", f"docker://{srv.host}/{REPO}@{ref['digest']}", f"oci:{out}:sbom")
    assert (out / "blobs" / "sha256" / sbom_digest.split(":")[1]).read_bytes() == stored

    # oras-py pulls it by digest into a file named by its title annotation
    monkeypatch.chdir(tmp_path)
    client = oras.client.OrasClient(hostname=srv.host, insecure=True, tls_verify=False)
    client.login(username=ADMIN_USER, password=ADMIN_PASSWORD, hostname=srv.host, tls_verify=False)
    files = client.pull(target=f"{srv.host}/{REPO}@{ref['digest']}", outdir=str(tmp_path / "oras"))
    assert [Path(f).name for f in files] == ["sbom.cdx.json"] and Path(files[0]).read_bytes() == stored
    assert json.loads(stored)["bomFormat"] == "CycloneDX"

    # the referrer's push was no scan: still one pipeline, the push shown as an untagged drop
    assert len(pipelines(srv, PROJECT)) == 1
    assert any(d["digest"] == ref["digest"] and d["reason"] == "untagged" for d in drops(srv, PROJECT))
    # publishing the same SBOM again (a re-ingested artifact) adds nothing
    again = tmp_path / "again.cdx.json"
    again.write_bytes(stored)
    settings = Settings(data_dir=srv.data_dir, database_url=srv.database_url)
    db = Database(settings)
    try:
        with db.session() as s:
            assert publish_sbom_referrer(s, storage_for(settings), repository=REPO, subject_digest=digest,
                                         sbom_path=again) is None
            assert publish_sbom_referrer(s, storage_for(settings), repository="group/refs/nothing",
                                         subject_digest=digest, sbom_path=again) is None  # not in this registry
    finally:
        db.dispose()
    assert len(_referrers(srv, digest).json()["manifests"]) == 1
