"""`docker://` sources against a real CNCF Distribution registry: anonymous and token auth, the layer
cache (a second sbom downloads no layer blob, counted in the registry's access log), multi-arch."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hullscan.registry.client import RegistryClient, RegistryClientError, parse_reference
from tests.scanner.conftest import expected_packages, image_layout
from tests.scanner.distribution import Distribution
from tests.scanner.tokenauth import TokenServer


@pytest.fixture
def registry(tmp_path: Path):
    reg = Distribution(tmp_path).start()
    yield reg
    reg.stop()


def hullscan(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HOME": str(home), **env}
    full_env.pop("HULLSCAN_SCANNER_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-m", "hullscan", *args], capture_output=True, text=True,
                          env=full_env, timeout=300)


def _layer_digests(layout: Path) -> set[str]:
    manifest = json.loads((layout / "manifest.json").read_text())[0]
    return {"sha256:" + p.rsplit("/", 1)[1] for p in manifest["Layers"]}


def test_second_sbom_downloads_no_layer_blob(registry: Distribution, scan_home: Path) -> None:
    layout = image_layout("debian-python-app")
    registry.push(layout, "group/app")
    ref = f"docker://{registry.host}/group/app:latest"
    layers = _layer_digests(layout)

    first = hullscan("sbom", ref, "--insecure", "--registry-triggered", home=scan_home)
    assert first.returncode == 0, first.stderr
    fetched = [line for line in registry.blob_gets("group/app") if any(d in line for d in layers)]
    assert len(fetched) == 3

    second = hullscan("sbom", ref, "--insecure", "--registry-triggered", home=scan_home)
    assert second.returncode == 0, second.stderr
    fetched_after = [line for line in registry.blob_gets("group/app") if any(d in line for d in layers)]
    assert fetched_after == fetched, "the second run downloaded a layer blob"

    first_doc, second_doc = json.loads(first.stdout), json.loads(second.stdout)
    names = lambda doc: sorted((c["name"], c.get("version")) for c in doc["components"])  # noqa: E731
    assert names(first_doc) == names(second_doc)
    props = {p["name"]: p["value"] for p in second_doc["metadata"]["properties"]}
    assert props["gitlab:container_scanning_for_registry:image:name"] == f"{registry.host}/group/app"
    assert props["gitlab:container_scanning_for_registry:image:tag"] == "latest"
    expected = expected_packages("debian-python-app")["packages"]
    assert len([c for c in second_doc["components"] if c["type"] == "library"]) == len(expected)


def test_multiarch_index_from_registry(registry: Distribution, scan_home: Path, tmp_path: Path) -> None:
    registry.push(image_layout("multiarch-index"), "group/multi", all_platforms=True)
    out = tmp_path / "sbom.cdx.json"
    result = hullscan("sbom", f"docker://{registry.host}/group/multi:latest", "--insecure", "--all-platforms",
                      "--output", str(out), home=scan_home)
    assert result.returncode == 0, result.stderr
    amd64 = json.loads((tmp_path / "sbom.linux-amd64.cdx.json").read_text())
    arm64 = json.loads((tmp_path / "sbom.linux-arm64-v8.cdx.json").read_text())
    for doc in (amd64, arm64):
        assert len([c for c in doc["components"] if c["type"] == "library"]) == 6


def test_token_auth_follows_the_challenge(tmp_path: Path, scan_home: Path) -> None:
    tokens = TokenServer(tmp_path, "alice", "s3cret").start()
    reg = Distribution(tmp_path, auth=tokens.registry_auth_config()).start()
    try:
        reg.push(image_layout("go-binary"), "team/hello", creds="alice:s3cret")
        ref = f"docker://{reg.host}/team/hello:latest"

        anonymous = hullscan("sbom", ref, "--insecure", home=scan_home)
        assert anonymous.returncode == 2 and "401" in anonymous.stderr  # no token grants pull anonymously

        flags = hullscan("sbom", ref, "--insecure", "--username", "alice", "--password", "s3cret", "-o", "table",
                         "--no-cache", home=scan_home)
        assert flags.returncode == 0, flags.stderr
        assert "go1.19.8" in flags.stdout

        docker_dir = scan_home / ".docker"
        docker_dir.mkdir()
        auth = base64.b64encode(b"alice:s3cret").decode()
        (docker_dir / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": auth}}}))
        from_config = hullscan("sbom", ref, "--insecure", "-o", "table", "--no-cache", home=scan_home)
        assert from_config.returncode == 0, from_config.stderr
        assert "example.com/imglab/hello" in from_config.stdout
        assert any(r["user"] == "alice" and r.get("scope") == "repository:team/hello:pull"
                   for r in tokens.requests)
    finally:
        reg.stop()
        tokens.stop()


def test_client_verifies_manifest_digest_and_refuses_unknown(registry: Distribution) -> None:
    registry.push(image_layout("distroless-style"), "group/dl")
    with RegistryClient(registry.host, insecure=True) as client:
        manifest = client.get_manifest("group/dl", "latest")
        assert manifest.digest == expected_packages("distroless-style")["manifest"]
        with pytest.raises(RegistryClientError, match="404"):
            client.get_manifest("group/dl", "nope")
        with pytest.raises(RegistryClientError):
            client.open_blob("group/dl", "sha256:" + "0" * 64)


def test_parse_reference() -> None:
    assert parse_reference("127.0.0.1:5000/a/b:v1").repository == "a/b"
    ref = parse_reference("alpine")
    assert (ref.host, ref.repository, ref.tag, ref.api_host) == ("docker.io", "library/alpine", "latest",
                                                                 "registry-1.docker.io")
    digest = "sha256:" + "a" * 64
    assert parse_reference(f"reg.example/x@{digest}").digest == digest
    with pytest.raises(ValueError):
        parse_reference("reg.example/UPPER:tag")


def test_basic_auth_challenge(tmp_path: Path, scan_home: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # libxcrypt's bcrypt, the hash Distribution's htpasswd wants

    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"bob:{crypt.crypt('pa55', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    reg = Distribution(tmp_path, auth=f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n").start()
    try:
        reg.push(image_layout("go-binary"), "team/basic", creds="bob:pa55")
        ref = f"docker://{reg.host}/team/basic:latest"
        denied = hullscan("sbom", ref, "--insecure", "--username", "bob", "--password", "wrong", home=scan_home)
        assert denied.returncode == 2 and "401" in denied.stderr
        ok = hullscan("sbom", ref, "--insecure", "-o", "table", home=scan_home,
                      HULLSCAN_REGISTRY_USERNAME="bob", HULLSCAN_REGISTRY_PASSWORD="pa55")
        assert ok.returncode == 0, ok.stderr
        assert "go1.19.8" in ok.stdout
    finally:
        reg.stop()
