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
from tests.conftest import image_layout
from tests.registry.support import OCI_MANIFEST, push_blob, skopeo
from tests.support.auth import ADMIN_HTTP, ADMIN_PASSWORD, ADMIN_USER
from tests.support.server import HullscanServer

PROJECT = "group/refs"
REPO = f"{PROJECT}/app"
CDX = "application/vnd.cyclonedx+json"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scanning_server(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[HullscanServer]:
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

    # the referrer's push was no scan and is not a user's dropped push: still one pipeline, no drop for it
    assert len(pipelines(srv, PROJECT)) == 1
    assert not any(d["digest"] == ref["digest"] for d in drops(srv, PROJECT))
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


def _attach(client: httpx.Client, repo: str, subject_digest: str, sbom: bytes) -> str:
    """What `oras attach` does: the SBOM and the empty config as blobs, an artifact manifest pushed by digest."""
    subject = client.get(f"/v2/{repo}/manifests/{subject_digest}", headers={"Accept": OCI_MANIFEST})
    config = push_blob(client, repo, b"{}")
    layer = push_blob(client, repo, sbom)
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": CDX,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": CDX, "digest": layer, "size": len(sbom)}],
        "subject": {"mediaType": subject.headers["content-type"], "digest": subject_digest,
                    "size": len(subject.content)},
    }).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    r = client.put(f"/v2/{repo}/manifests/{digest}", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text
    return digest


def test_a_users_sbom_referrer_is_ingested_instead_of_a_scan(tmp_path: Path) -> None:
    from hullscan.scanner import analyze
    from hullscan.scanner.sbom import write_cyclonedx

    srv = make_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}", HULLSCAN_RUNNER_POOL_SIZE="0").start()
    project, repo = "group/build", "group/build/app"
    try:
        push("go-binary", f"{srv.host}/{repo}:latest")  # a scan job waits: no runner here
        (pipeline,) = wait_for(lambda: pipelines(srv, project), 30, "the scan pipeline", srv)
        digest = pipeline["jobs"][0]["digest"]
        sbom = write_cyclonedx(analyze(f"oci-dir:{image_layout('go-binary')}")).encode()
        with httpx.Client(base_url=srv.url, auth=srv.auth, timeout=30) as c:
            # not allowed yet: the referrer is stored, nothing is ingested, the scan still waits
            first = _attach(c, repo, digest, sbom)
            wait_for(lambda: any(d["digest"] == first for d in drops(srv, project)), 30, "the first referrer", srv)
            assert pipelines(srv, project)[0]["status"] in ("created", "pending")
            r = ADMIN_HTTP.put(f"{srv.url}/api/v1/projects/{project.replace('/', '%2F')}/policy",
                               json={"gate_enabled": False, "ingest_referrer_sboms": True})
            assert r.status_code == 200, r.text
            # hostile input: an SBOM that is not CycloneDX is refused, visibly, and changes nothing
            bad = _attach(c, repo, digest, b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": 7}')
            refused = wait_for(lambda: [d for d in drops(srv, project) if d["digest"] == bad], 30, "the refusal", srv)
            assert "SBOM referrer refused" in refused[0]["detail"]
            assert pipelines(srv, project)[0]["status"] in ("created", "pending")
            good = _attach(c, repo, digest, sbom + b"\n")  # a new referrer (different bytes), same SBOM
        ingested = wait_for(lambda: [d for d in drops(srv, project) if d["digest"] == good], 30, "the SBOM", srv)
        assert "ingested for tag latest" in ingested[0]["detail"] and "no scan" in ingested[0]["detail"]
        assert pipelines(srv, project)[0]["status"] == "canceled"  # the waiting scan is not needed any more
        db = Database(Settings(data_dir=srv.data_dir, database_url=srv.database_url))
        try:
            with db.session() as s:
                from sqlalchemy import select

                from hullscan.db.models.vulnerabilities import SbomOccurrence, SbomSource

                source = s.scalars(select(SbomSource).where(SbomSource.image_digest == digest)).one()
                assert (source.image_name, source.image_tag) == (f"{srv.host}/{repo}", "latest")
                names = set(s.scalars(select(SbomOccurrence.name).where(SbomOccurrence.source_id == source.id)))
                assert names and names <= {c["name"] for c in json.loads(sbom)["components"]}
        finally:
            db.dispose()
    finally:
        srv.stop()
