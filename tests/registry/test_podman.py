"""Real podman and buildah (Debian's) as clients of `hullscan serve`'s registry, next to the skopeo tests:
push and pull with --creds and --tls-verify=false, the pushed digest as the registry and skopeo see it,
and an image built by buildah (from scratch, a file copied in) pushed, pulled back and its file read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import image_layout
from tests.registry.support import skopeo
from tests.support.podman import Podman
from tests.support.server import HullscanServer

LOADED = "hullscan-test/go-binary:latest"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """podman/buildah on a private store holding the go-binary test image (a `podman load` of its archive)."""
    root = tmp_path_factory.mktemp("podman-client")
    pod = Podman(root / "engine")
    archive = root / "go-binary.tar"
    skopeo("copy", "-q", f"oci:{image_layout('go-binary')}:latest", f"docker-archive:{archive}:{LOADED}")
    pod.podman("load", "-q", "-i", str(archive))
    try:
        yield pod
    finally:
        pod.stop()


def _inspect(srv: HullscanServer, ref: str) -> dict:
    return json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)


def test_podman_push_and_pull(engine: Podman, registry_server: HullscanServer, tmp_path: Path) -> None:
    ref = f"{registry_server.host}/group/project/podman-app"
    digest_file = tmp_path / "digest"
    for tag in ("v1", "latest"):
        engine.podman("push", "--tls-verify=false", "--creds", registry_server.creds, "--digestfile",
                      str(digest_file), LOADED, f"{ref}:{tag}")
    pushed = digest_file.read_text().strip()
    info = _inspect(registry_server, f"{ref}:v1")
    assert info["Digest"] == pushed and sorted(info["RepoTags"]) == ["latest", "v1"]
    image_id = engine.podman("image", "inspect", "--format", "{{.Id}}", LOADED).stdout.strip()

    engine.podman("rmi", "-f", LOADED, f"{ref}:v1", f"{ref}:latest")
    assert engine.podman("image", "exists", f"{ref}:v1", check=False).returncode == 1
    engine.podman("pull", "-q", "--tls-verify=false", "--creds", registry_server.creds, f"{ref}:v1")
    pulled = json.loads(engine.podman("image", "inspect", f"{ref}:v1").stdout)[0]
    assert pulled["Id"] == image_id  # the same config: the same image, byte for byte
    assert pushed in pulled["RepoDigests"][0]
    engine.podman("tag", f"{ref}:v1", LOADED)  # as the fixture left it, for the next test


def test_podman_without_credentials_is_refused(engine: Podman, registry_server: HullscanServer) -> None:
    ref = f"{registry_server.host}/group/project/podman-anonymous:v1"
    proc = engine.podman("push", "--tls-verify=false", LOADED, ref, check=False)
    assert proc.returncode != 0 and ("unauthorized" in proc.stderr.lower() or "authentication required"
                                     in proc.stderr.lower()), proc.stderr
    bad = engine.podman("pull", "--tls-verify=false", "--creds", "admin:wrong-password",
                        f"{registry_server.host}/group/project/podman-app:v1", check=False)
    assert bad.returncode != 0 and "unauthorized" in bad.stderr.lower(), bad.stderr


def test_buildah_builds_pushes_and_pulls(engine: Podman, registry_server: HullscanServer, tmp_path: Path) -> None:
    ref = f"{registry_server.host}/group/project/buildah-built:1.0"
    content = tmp_path / "hello.txt"
    content.write_text("built by buildah for hullscan\n")
    container = engine.buildah("from", "scratch").stdout.strip()
    engine.buildah("config", "--label", "org.opencontainers.image.title=buildah-test", "--env", "GREETING=hi",
                   container)
    engine.buildah("copy", container, str(content), "/hello.txt")
    engine.buildah("commit", "-q", container, "localhost/buildah-built:1.0")
    engine.buildah("rm", container)
    digest_file = tmp_path / "digest"
    engine.buildah("push", "--tls-verify=false", "--creds", registry_server.creds, "--digestfile", str(digest_file),
                   "localhost/buildah-built:1.0", f"docker://{ref}")
    info = _inspect(registry_server, ref)
    assert info["Digest"] == digest_file.read_text().strip()
    assert info["Labels"]["org.opencontainers.image.title"] == "buildah-test" and "GREETING=hi" in info["Env"]

    engine.buildah("rmi", "-f", "localhost/buildah-built:1.0")
    engine.buildah("pull", "-q", "--tls-verify=false", "--creds", registry_server.creds, f"docker://{ref}")
    copy = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{copy}")
    manifest = json.loads((copy / "manifest.json").read_text())
    assert len(manifest["layers"]) == 1
    images = json.loads(engine.buildah("images", "--json").stdout)
    assert any(any(name.endswith("buildah-built:1.0") for name in image.get("names") or []) for image in images)
    # the layer as pulled holds the file that was copied in
    import gzip
    import io
    import tarfile

    layer = (copy / manifest["layers"][0]["digest"].split(":")[1]).read_bytes()
    data = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("hello.txt")
        assert member is not None and member.read() == b"built by buildah for hullscan\n"
