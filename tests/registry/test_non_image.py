"""Non-image artifacts pushed with a tag (a CycloneDX SBOM with oras, a Helm chart, a signature) are stored by the
registry as usual and recorded as "not an image" dropped pushes, never a scan (nor a failed one): through the
embedded registry of a real `hullscan serve` (SQLite and PostgreSQL) and through Debian's docker-registry
notifying hullscan, by the one rule in `hullscan.mediatypes.not_an_image`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import oras.client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullscan.mediatypes import not_an_image
from tests.pipelines.e2e import drops, hullscan_cli, make_server, manifest_digest, pipelines, push, wait_for
from tests.registry.support import Distribution
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER, remember_secret, sign_in
from tests.support.server import HullscanServer

WEBHOOK_SECRET = remember_secret("non-image-webhook-secret")
OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
D = "sha256:" + "1" * 64


def _manifest(config_type: str, *layer_types: str, **extra: Any) -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": OCI, "config": {"mediaType": config_type, "digest": D, "size": 2},
            "layers": [{"mediaType": t, "digest": D, "size": 1} for t in layer_types], **extra}


IMAGE = _manifest("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip")
DOCKER_IMAGE = {**_manifest("application/vnd.docker.container.image.v1+json",
                            "application/vnd.docker.image.rootfs.diff.tar.gzip"),
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
SBOM = _manifest("application/vnd.oci.empty.v1+json", "application/vnd.cyclonedx+json",
                 artifactType="application/vnd.cyclonedx+json")
HELM = _manifest("application/vnd.cncf.helm.config.v1+json", "application/vnd.cncf.helm.chart.content.v1.tar+gzip")
COSIGN = _manifest("application/vnd.oci.image.config.v1+json", "application/vnd.dev.cosign.simplesigning.v1+json")
ATTESTATION = _manifest("application/vnd.oci.image.config.v1+json", "application/vnd.in-toto+json")


def _index(*children: dict[str, Any]) -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": INDEX, "manifests": list(children)}


def _child(digest: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": OCI, "digest": digest, "size": 100, **extra}


def test_the_rule_follows_the_oci_image_spec() -> None:
    assert not_an_image(IMAGE) is None and not_an_image(DOCKER_IMAGE) is None
    assert not_an_image(SBOM) == "an artifact of type application/vnd.cyclonedx+json"
    assert not_an_image(HELM) == "an artifact with config type application/vnd.cncf.helm.config.v1+json"
    assert not_an_image(COSIGN) is not None and "no filesystem layer" in str(not_an_image(COSIGN))
    assert not_an_image(_manifest("application/vnd.oci.image.config.v1+json")) is None  # no layers: an image
    children = {"sha256:" + "a" * 64: IMAGE, "sha256:" + "b" * 64: ATTESTATION, "sha256:" + "c" * 64: SBOM}
    buildx = _index(_child("sha256:" + "a" * 64, platform={"architecture": "amd64", "os": "linux"}),
                    _child("sha256:" + "b" * 64, platform={"architecture": "unknown", "os": "unknown"},
                           annotations={"vnd.docker.reference.type": "attestation-manifest"}))
    assert not_an_image(buildx, children.get) is None  # one image among attestations: an image
    only_artifacts = _index(_child("sha256:" + "b" * 64), _child("sha256:" + "c" * 64))
    assert not_an_image(only_artifacts, children.get) == "an index of artifacts only (no image manifest)"
    assert not_an_image(only_artifacts) is None  # children unreadable: taken as images, scanned as before
    assert not_an_image(_index(_child(D, artifactType="application/vnd.cncf.notary.signature"))) is not None
    assert not_an_image(_index()) == "an index with no manifests"
    assert not_an_image({**_index(_child(D)), "artifactType": "application/vnd.example+json"}) is not None
    for garbage in (None, [], "x", 1, {"config": "x", "layers": [1, None]}, {"manifests": [1]}):
        assert not_an_image(garbage, children.get) is None


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["mediaType", "artifactType", "config", "layers", "manifests", "digest",
                                          "annotations", "x"]), inner, max_size=5), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_json, _json)
def test_the_rule_never_fails_on_untrusted_json(doc: Any, child: Any) -> None:
    result = not_an_image(doc, lambda _digest: child)
    assert result is None or (isinstance(result, str) and len(result) < 200)


def _oras(host: str, tmp: Path, target: str, files: list[str], config: str | None = None,
          login: bool = True) -> str:
    client = oras.client.OrasClient(hostname=host, insecure=True, tls_verify=False)
    if login:
        client.login(username=ADMIN_USER, password=ADMIN_PASSWORD, hostname=host, tls_verify=False)
    pushed = client.push(target=target, files=files, manifest_config=config, quiet=True)
    assert pushed.status_code == 201, pushed.text
    return str(pushed.headers["Docker-Content-Digest"])


def _artifact_files(tmp: Path) -> None:
    (tmp / "sbom.cdx.json").write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}))
    (tmp / "Chart.json").write_text(json.dumps({"name": "web", "version": "1.0.0"}))
    (tmp / "web-1.0.0.tgz").write_bytes(b"\x1f\x8b" + b"\0" * 30)


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HullscanServer]:
    url = f"sqlite:///{tmp_path / 'hs.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("postgres").create_database()
    srv = make_server(tmp_path / "data", url, HULLSCAN_RUNNER_POOL_SIZE="0")  # pipelines wait: none runs
    hullscan_cli(srv, "project", "create", "group/app", "--cs4r", "on")
    srv.start()
    yield srv
    srv.stop()


def test_artifacts_pushed_with_oras_are_stored_and_dropped_as_not_an_image(
        server: HullscanServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # oras-py wants pushed paths relative to the working directory
    _artifact_files(tmp_path)
    sbom = _oras(server.host, tmp_path, f"{server.host}/group/app/sbom:latest",
                 ["sbom.cdx.json:application/vnd.cyclonedx+json"])
    chart = _oras(server.host, tmp_path, f"{server.host}/group/app/chart:latest",
                  ["web-1.0.0.tgz:application/vnd.cncf.helm.chart.content.v1.tar+gzip"],
                  config="Chart.json:application/vnd.cncf.helm.config.v1+json")
    push("go-binary", f"{server.host}/group/app/tool:latest")  # an image beside them is scanned as before

    def settled() -> list[dict[str, Any]] | None:
        found = [d for d in drops(server, "group/app") if d["reason"] == "not an image"]
        return found if len(found) >= 2 and pipelines(server, "group/app") else None

    found = wait_for(settled, 60, "two not-an-image drops and a pipeline", server)
    by_repo = {d["repository"]: d for d in found}
    assert set(by_repo) == {"group/app/sbom", "group/app/chart"}, found
    assert by_repo["group/app/sbom"]["digest"] == sbom and by_repo["group/app/sbom"]["tag"] == "latest"
    # oras-py 0.2 sets no artifactType: its default config type tells
    assert by_repo["group/app/sbom"]["detail"] == "an artifact with config type application/vnd.unknown.config.v1+json"
    assert by_repo["group/app/chart"]["digest"] == chart
    assert by_repo["group/app/chart"]["detail"] == \
        "an artifact with config type application/vnd.cncf.helm.config.v1+json"
    (pipeline,) = pipelines(server, "group/app")  # only the image: no scan (failed or otherwise) of the artifacts
    assert pipeline["jobs"][0]["digest"] == manifest_digest("go-binary")
    assert pipeline["jobs"][0]["repository"] == "group/app/tool"

    with server.client() as c:  # stored as usual: the artifact is pulled back by tag
        r = c.get("/v2/group/app/sbom/manifests/latest", headers={"Accept": OCI})
        assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == sbom
    with httpx.Client(base_url=server.url, timeout=30) as ui:
        assert sign_in(ui).status_code == 303
        html = ui.get("/projects/group/app/-/pipelines").text
        assert "Not an image (an artifact)" in html and "group/app/chart" in html


def test_distribution_webhook_of_an_artifact_is_dropped_by_the_same_rule(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    server = make_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}", HULLSCAN_RUNNER_POOL_SIZE="0",
                         HULLSCAN_REGISTRY_WEBHOOK_SECRET=WEBHOOK_SECRET)
    registry = Distribution(notify_url=f"{server.url}/api/v1/registry/events", secret=WEBHOOK_SECRET)
    server.extra_env["HULLSCAN_EXTERNAL_REGISTRIES"] = json.dumps([{"host": registry.host,
                                                                   "url": f"http://{registry.host}"}])
    hullscan_cli(server, "project", "create", "team/api", "--cs4r", "on")
    server.start()
    registry.start()
    try:
        monkeypatch.chdir(tmp_path)
        _artifact_files(tmp_path)
        repo = f"team/api/sbom-{uuid.uuid4().hex[:6]}"
        digest = _oras(registry.host, tmp_path, f"{registry.host}/{repo}:latest",
                       ["sbom.cdx.json:application/vnd.cyclonedx+json"], login=False)
        push("go-binary", f"{registry.host}/team/api/tool:latest")
        wait_for(lambda: pipelines(server, "team/api") and [d for d in drops(server, "team/api")
                                                            if d["reason"] == "not an image"],
                 60, "a not-an-image drop and a pipeline", server)
        time.sleep(1)  # Distribution may redeliver: still one drop of the artifact, one pipeline of the image
        (drop,) = [d for d in drops(server, "team/api") if d["reason"] == "not an image"]
        assert (drop["repository"], drop["tag"], drop["digest"]) == (repo, "latest", digest)
        assert drop["detail"] == "an artifact with config type application/vnd.unknown.config.v1+json"
        (pipeline,) = pipelines(server, "team/api")
        assert pipeline["jobs"][0]["repository"] == "team/api/tool"
    finally:
        registry.stop()
        server.stop()
