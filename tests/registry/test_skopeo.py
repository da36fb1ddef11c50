"""Real skopeo against `hullscan serve`: every test image in and back out byte-identical, inspect,
list-tags, delete, and eight clients pushing the same image at once."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


from tests.conftest import image_layout
from tests.registry.support import oci_layout_digests, sha256, skopeo
from tests.support.server import HullscanServer
from tests.support.auth import ADMIN_HTTP

ALL_IMAGES = ["debian-bookworm-minbase", "debian-python-app", "distroless-style", "multiarch-index", "go-binary"]
# The full ~125 MB set runs once (on the embedded default, SQLite); PostgreSQL gets the small ones, which
# still cover a single image, an index with --all and shared blobs.
IMAGES_BY_BACKEND = {"sqlite": ALL_IMAGES, "postgresql": ["multiarch-index", "go-binary"]}


def _backend(srv: HullscanServer) -> str:
    return "sqlite" if srv.database_url is None else "postgresql"


def _top_manifest(layout: Path) -> dict:
    return json.loads((layout / "index.json").read_text())["manifests"][0]


def test_every_image_round_trips_with_identical_digests(registry_server: HullscanServer, tmp_path: Path) -> None:
    host = registry_server.host
    for name in IMAGES_BY_BACKEND[_backend(registry_server)]:
        layout = image_layout(name)
        multi = name == "multiarch-index"
        flags = ["--all"] if multi else []
        ref = f"docker://{host}/group/project/{name}:latest"
        skopeo("copy", *flags, "--dest-tls-verify=false", f"oci:{layout}:latest", ref)
        out = tmp_path / name
        skopeo("copy", *flags, "--src-tls-verify=false", ref, f"oci:{out}:latest")
        assert _top_manifest(out)["digest"] == _top_manifest(layout)["digest"], name
        blobs = oci_layout_digests(out)
        assert blobs == oci_layout_digests(layout), name
        for digest in blobs:  # each file's bytes hash to its name: byte-identical to the source blob
            algorithm, hexdigest = digest.split(":")
            assert sha256((out / "blobs" / algorithm / hexdigest).read_bytes()) == digest


def test_inspect_list_tags_delete(registry_server: HullscanServer) -> None:
    host = registry_server.host
    layout = image_layout("go-binary")
    repo = f"{host}/group/tools/hello"
    for tag in ("latest", "1.0"):
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{repo}:{tag}")
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repo}:latest").stdout)
    assert info["Digest"] == _top_manifest(layout)["digest"]
    assert info["Architecture"] == "amd64" and sorted(info["RepoTags"]) == ["1.0", "latest"]
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{repo}").stdout)
    assert sorted(tags["Tags"]) == ["1.0", "latest"]
    skopeo("delete", "--tls-verify=false", f"docker://{repo}:latest")
    # skopeo deletes by digest: the manifest and every tag pointing at it are gone.
    gone = subprocess.run(["skopeo", "inspect", "--creds", registry_server.creds, "--tls-verify=false", f"docker://{repo}:1.0"],
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode != 0 and "manifest unknown" in gone.stderr.lower()
    assert json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{repo}").stdout)["Tags"] == []
    events = ADMIN_HTTP.get(f"{registry_server.url}/api/v1/registry/events",
                       params={"repository": "group/tools/hello"}).json()["events"]
    assert [(e["action"], e["tag"]) for e in events][:1] == [("delete", None)]
    assert {e["tag"] for e in events if e["action"] == "push"} == {"latest", "1.0"}


def test_multiarch_push_writes_child_and_tagged_index_events(registry_server: HullscanServer) -> None:
    layout = image_layout("multiarch-index")
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:latest",
           f"docker://{registry_server.host}/group/project/multi-events:v1")
    events = ADMIN_HTTP.get(f"{registry_server.url}/api/v1/registry/events",
                       params={"repository": "group/project/multi-events"}).json()["events"]
    tagged = [e for e in events if e["tag"] == "v1"]
    assert [e["digest"] for e in tagged] == [_top_manifest(layout)["digest"]]
    assert tagged[0]["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert len([e for e in events if e["tag"] is None]) == 2  # the two platform manifests, by digest


def test_eight_concurrent_pushers_of_the_same_image(registry_server: HullscanServer) -> None:
    layout = image_layout("distroless-style")
    ref = f"docker://{registry_server.host}/group/concurrent/app:latest"

    def push(_: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["skopeo", "copy", "--dest-creds", registry_server.creds, "--dest-tls-verify=false",
                               f"oci:{layout}:latest", ref],
                              capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(push, range(8)))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr[-500:] for r in results if r.returncode]
    manifest = _top_manifest(layout)
    info = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert info["Digest"] == manifest["digest"]
    # Each blob of the image is stored exactly once, and no upload is left behind.
    stored = [p for p in (registry_server.data_dir / "blobs" / "sha256").glob("*/*")]
    wanted = oci_layout_digests(layout) - {manifest["digest"]}
    by_digest = {f"sha256:{p.name}": p for p in stored}
    assert set(by_digest) >= wanted
    for digest in wanted:  # the one stored copy is complete and correct
        assert sha256(by_digest[digest].read_bytes()) == digest
    assert not [p for p in (registry_server.data_dir / "blobs").rglob("*") if p.is_file() and p.parent.parent.name
                not in ("sha256", "sha512")], "stray files in blob storage"
    assert not any((registry_server.data_dir / "blobs" / "_uploads").iterdir())
