"""`hullscan sbom docker-daemon:IMAGE` / `podman:IMAGE` against a real podman: an image loaded into podman
(`podman load` of a `docker save` archive of a test image) gives the packages the OCI layout gives, through
the engine API (`podman system service` on a private socket, found by $CONTAINER_HOST, $DOCKER_HOST or
$XDG_RUNTIME_DIR/podman/podman.sock) and through `podman save` when no socket answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan.scanner.source import engine_sockets
from tests.registry.support import skopeo
from tests.scanner.conftest import image_layout
from tests.support.podman import Podman

IMAGE = "hullscan-test/minbase:latest"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Podman, str]]:
    """podman holding debian-bookworm-minbase as IMAGE, and its API socket's address."""
    root = tmp_path_factory.mktemp("podman")
    pod = Podman(root / "engine")
    archive = root / "minbase.tar"
    skopeo("copy", "-q", f"oci:{image_layout('debian-bookworm-minbase')}:latest", f"docker-archive:{archive}:{IMAGE}")
    pod.podman("load", "-q", "-i", str(archive))
    archive.unlink()
    try:
        yield pod, pod.service()
    finally:
        pod.stop()


@pytest.fixture(scope="module")
def layout_purls(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    proc = _sbom(f"oci-dir:{image_layout('debian-bookworm-minbase')}", cache=tmp_path_factory.mktemp("cache"))
    assert proc.returncode == 0, proc.stderr
    return _purls(proc.stdout)


def _sbom(image: str, *, cache: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hullscan", "sbom", image, "--no-cache", "--cache-dir", str(cache)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def _purls(document: str) -> set[str]:
    purls = {c["purl"] for c in json.loads(document)["components"] if c.get("purl")}
    assert len(purls) > 50  # the minbase image's Debian packages, at least
    return purls


def _scratch_left(cache: Path) -> list[str]:
    return [p.name for p in (cache / "tmp").iterdir()] if (cache / "tmp").exists() else []


def test_podman_api_by_container_host_gives_the_layout_packages(engine: tuple[Podman, str], layout_purls: set[str],
                                                                tmp_path: Path) -> None:
    pod, address = engine
    proc = _sbom(f"podman:{IMAGE}", cache=tmp_path, env={**pod.env, "CONTAINER_HOST": address, "PATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr  # PATH without podman: only the API could have answered
    assert _purls(proc.stdout) == layout_purls
    component = json.loads(proc.stdout)["metadata"]["component"]
    assert (component["name"], component["version"]) == ("docker.io/hullscan-test/minbase", "latest")
    assert _scratch_left(tmp_path) == []  # the exported archive went with the scan


def test_podman_socket_in_the_runtime_dir_is_found(engine: tuple[Podman, str], layout_purls: set[str],
                                                   tmp_path: Path) -> None:
    pod, address = engine
    runtime = tmp_path / "run"
    (runtime / "podman").mkdir(parents=True)
    (runtime / "podman" / "podman.sock").symlink_to(address.removeprefix("unix://"))
    proc = _sbom(f"podman:{IMAGE}", cache=tmp_path / "cache",
                 env={**pod.env, "XDG_RUNTIME_DIR": str(runtime), "PATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    assert _purls(proc.stdout) == layout_purls


def test_docker_daemon_through_docker_host_by_image_id(engine: tuple[Podman, str], layout_purls: set[str],
                                                       tmp_path: Path) -> None:
    """Podman's Docker-compatible API stands in for dockerd: the same endpoint, the same archive format."""
    pod, address = engine
    image_id = pod.podman("image", "inspect", "--format", "{{.Id}}", IMAGE).stdout.strip()
    proc = _sbom(f"docker-daemon:{image_id[:12]}", cache=tmp_path, env={"DOCKER_HOST": address, "PATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    assert _purls(proc.stdout) == layout_purls


def test_podman_save_when_no_socket_answers(engine: tuple[Podman, str], layout_purls: set[str],
                                            tmp_path: Path) -> None:
    pod, _ = engine
    env = {**pod.env, "XDG_RUNTIME_DIR": str(tmp_path)}  # no socket there: `podman save` is the way
    proc = _sbom(f"podman:{IMAGE}", cache=tmp_path / "cache", env=env)
    assert proc.returncode == 0, proc.stderr
    assert _purls(proc.stdout) == layout_purls
    assert _scratch_left(tmp_path / "cache") == []


@pytest.mark.parametrize("way", ["api", "cli"])
def test_an_image_the_engine_lacks_is_a_clear_error(engine: tuple[Podman, str], tmp_path: Path, way: str) -> None:
    pod, address = engine
    env = {**pod.env, **({"CONTAINER_HOST": address} if way == "api" else {"XDG_RUNTIME_DIR": str(tmp_path)})}
    proc = _sbom("podman:hullscan-test/absent:1", cache=tmp_path / "cache", env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error:") and "hullscan-test/absent:1" in proc.stderr, proc.stderr
    assert ("has no image" if way == "api" else "image not known") in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _scratch_left(tmp_path / "cache") == []


@pytest.mark.parametrize("way", ["api", "cli"])
def test_an_image_over_the_size_limit_stops_the_export(engine: tuple[Podman, str], tmp_path: Path, way: str) -> None:
    pod, address = engine
    env = {**pod.env, "HULLSCAN_SCANNER_MAX_DAEMON_IMAGE_BYTES": str(4 << 20),
           **({"CONTAINER_HOST": address} if way == "api" else {"XDG_RUNTIME_DIR": str(tmp_path)})}
    proc = _sbom(f"podman:{IMAGE}", cache=tmp_path / "cache", env=env)
    assert proc.returncode == 2, proc.stderr
    assert f"larger than {4 << 20} bytes (scanner_max_daemon_image_bytes)" in proc.stderr
    assert _scratch_left(tmp_path / "cache") == []


def test_no_engine_at_all_names_what_was_tried(tmp_path: Path) -> None:
    proc = _sbom("docker-daemon:alpine:3", cache=tmp_path,
                 env={"DOCKER_HOST": f"unix://{tmp_path}/docker.sock", "PATH": "/nonexistent"})
    assert proc.returncode == 2
    assert "cannot reach the docker engine: no docker command on PATH" in proc.stderr
    proc = _sbom("podman:-rm", cache=tmp_path)
    assert proc.returncode == 2 and "is not an image name or id" in proc.stderr


def test_engine_sockets_follow_each_engines_own_lookup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sock = tmp_path / "podman" / "podman.sock"
    sock.parent.mkdir()
    sock.touch()
    for name in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "CONTAINER_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert engine_sockets("podman")[0] == f"unix://{sock}"
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert engine_sockets("docker") == ["tcp://127.0.0.1:2375"]
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")  # TLS engines: left to `docker save`
    assert engine_sockets("docker") == []
    monkeypatch.setenv("DOCKER_HOST", "ssh://user@host")
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    assert engine_sockets("docker") == []


def test_hullscan_scan_of_a_podman_image_finds_what_the_layout_scan_finds(engine: tuple[Podman, str],
                                                                          tmp_path: Path) -> None:
    """`hullscan scan podman:IMAGE` goes through the same source (and scratch dir) as `hullscan sbom`."""
    pod, address = engine
    osv = tmp_path / "osv" / "HULLSCAN-TEST-1.json"  # one advisory on a package the image has: a finding
    osv.parent.mkdir()
    osv.write_text(json.dumps({"id": "HULLSCAN-TEST-1", "modified": "2026-01-01T00:00:00Z", "summary": "test",
                               "affected": [{"package": {"ecosystem": "Debian:12", "name": "apt"}, "ranges": [
                                   {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99"}]}]}]}))
    env = {k: v for k, v in pod.env.items() if not k.startswith("HULLSCAN_")}
    env.update({"HULLSCAN_DATA_DIR": str(tmp_path / "data"), "HULLSCAN_ADVISORIES_SYNC_INTERVAL": "0",
                "CONTAINER_HOST": address})
    imported = subprocess.run([sys.executable, "-m", "hullscan", "advisories", "import", "--format", "osv", str(osv)],
                              capture_output=True, text=True, timeout=300, env=env)
    assert imported.returncode == 0, imported.stderr

    def scan(target: str) -> dict:
        run = subprocess.run([sys.executable, "-m", "hullscan", "scan", target, "-f", "json", "--offline",
                              "--no-cache", "--cache-dir", str(tmp_path / "cache")],
                             capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    from_engine = scan(f"podman:{IMAGE}")
    from_layout = scan(f"oci-dir:{image_layout('debian-bookworm-minbase')}")
    assert from_engine["image"]["name"] == "docker.io/hullscan-test/minbase"
    found = sorted((f["vulnerability_id"], f["package"]["name"]) for f in from_engine["findings"])
    assert found == sorted((f["vulnerability_id"], f["package"]["name"]) for f in from_layout["findings"])
    assert ("HULLSCAN-TEST-1", "apt") in found
    assert _scratch_left(tmp_path / "cache") == []


@pytest.mark.parametrize("way", ["api", "cli"])
def test_a_remembered_image_is_answered_from_its_metadata(engine: tuple[Podman, str], tmp_path: Path,
                                                          way: str) -> None:
    """The second scan of an unchanged image reads only the engine's metadata (the image id names its content):
    with an export limit of one byte it still succeeds. The same name on another image is a new image."""
    pod, address = engine
    env = {**pod.env, **({"CONTAINER_HOST": address} if way == "api" else {"XDG_RUNTIME_DIR": str(tmp_path)})}
    cache = tmp_path / "cache"

    def sbom(image: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hullscan", "sbom", image, "--cache-dir", str(cache)],
                              capture_output=True, text=True, timeout=300, env={**os.environ, **env, **extra})

    first = sbom(f"podman:{IMAGE}")
    assert first.returncode == 0, first.stderr
    again = sbom(f"podman:{IMAGE}", HULLSCAN_SCANNER_MAX_DAEMON_IMAGE_BYTES="1")
    assert again.returncode == 0, again.stderr  # no export: it would have been refused
    assert _purls(again.stdout) == _purls(first.stdout)
    assert json.loads(again.stdout)["metadata"]["component"] == json.loads(first.stdout)["metadata"]["component"]

    def build(text: str) -> None:  # a one-file image under one name, replaced on each build
        (tmp_path / "f.txt").write_text(text)
        container = pod.buildah("from", "scratch").stdout.strip()
        pod.buildah("copy", container, str(tmp_path / "f.txt"), "/f.txt")
        pod.buildah("commit", "-q", container, "localhost/hullscan-test/swap:1")
        pod.buildah("rm", container)

    build("one")
    assert sbom("podman:localhost/hullscan-test/swap:1").returncode == 0
    build("two")  # another image, the same name
    changed = sbom("podman:localhost/hullscan-test/swap:1", HULLSCAN_SCANNER_MAX_DAEMON_IMAGE_BYTES="1")
    assert changed.returncode == 2 and "larger than 1 bytes" in changed.stderr  # exported again: a new image
    assert _scratch_left(cache) == []
