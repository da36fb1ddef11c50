"""The embedded registry on S3-compatible storage (a real moto server): skopeo push/pull, a large chunked and
resumed push, gc, pre-signed redirects, and a server whose memory stays bounded while a large blob passes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import image_layout
from tests.registry.conftest import REGISTRY_ONLY
from tests.registry.support import (
    oci_layout_digests,
    push_blob,
    push_image,
    sha256,
    skopeo,
)
from tests.support.s3 import S3Server
from tests.support.server import HullscanServer

MIB = 1 << 20


@pytest.fixture(scope="module")
def s3_registry(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HullscanServer, str]]:
    bucket = s3_server.create_bucket("registry-module")
    srv = HullscanServer(tmp_path_factory.mktemp("s3reg") / "data",
                         env={**REGISTRY_ONLY, **s3_server.env(bucket, prefix="site-a")}).start()
    yield srv, bucket
    srv.stop()


def _keys(s3: S3Server, bucket: str, prefix: str) -> list[str]:
    out: list[str] = []
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def _rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_skopeo_round_trip_on_s3(s3_registry: tuple[HullscanServer, str], s3_server: S3Server,
                                 tmp_path: Path) -> None:
    srv, bucket = s3_registry
    for name, flags in (("go-binary", []), ("multiarch-index", ["--all"])):
        layout = image_layout(name)
        ref = f"docker://{srv.host}/group/s3/{name}:latest"
        skopeo("copy", *flags, "--dest-tls-verify=false", f"oci:{layout}:latest", ref)
        out = tmp_path / name
        skopeo("copy", *flags, "--src-tls-verify=false", ref, f"oci:{out}:latest")
        assert oci_layout_digests(out) == oci_layout_digests(layout), name
        for digest in oci_layout_digests(out):
            algorithm, hexdigest = digest.split(":")
            assert sha256((out / "blobs" / algorithm / hexdigest).read_bytes()) == digest
    stored = _keys(s3_server, bucket, "site-a/blobs/")
    layers = {d for d in oci_layout_digests(image_layout("go-binary"))}
    # Blobs (not manifests, which live in the database) are objects under the prefix; none on local disk.
    blob_keys = {k.rsplit("/", 1)[1] for k in stored if "/sha256/" in k}
    assert blob_keys, stored
    assert not any(k.startswith("site-a/blobs/_uploads/") for k in stored)
    assert not list((srv.data_dir / "blobs").glob("sha256/*/*"))
    assert any(d.split(":")[1] in blob_keys for d in layers)


def test_large_chunked_push_resumed_after_a_failed_chunk(s3_registry: tuple[HullscanServer, str]) -> None:
    """26 MiB in 7 MiB PATCHes (parts of >= 5 MiB, tails in between); a chunk that starts at the wrong
    offset is refused with the upload's real Range, the client asks where it stands and resumes."""
    srv, _ = s3_registry
    data = os.urandom(26 * MIB + 123)
    digest = sha256(data)
    with srv.client() as client:
        location = client.post("/v2/group/s3/big/blobs/uploads/").headers["Location"]
        offset = 0
        for n, size in enumerate((7 * MIB, 7 * MIB, 1 * MIB, 7 * MIB)):
            chunk = data[offset:offset + size]
            r = client.patch(location, content=chunk, headers={
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Type": "application/octet-stream"})
            assert r.status_code == 202, r.text
            offset += len(chunk)
            assert r.headers["Range"] == f"0-{offset - 1}"
            if n == 1:  # a retry of an old chunk: refused, nothing appended
                bad = client.patch(location, content=data[:MIB], headers={"Content-Range": f"0-{MIB - 1}"})
                assert bad.status_code == 416 and bad.headers["Range"] == f"0-{offset - 1}"
                status = client.get(location)
                assert status.status_code == 204 and status.headers["Range"] == f"0-{offset - 1}"
        r = client.put(location, params={"digest": digest}, content=data[offset:])
        assert r.status_code == 201, r.text
        head = client.head(f"/v2/group/s3/big/blobs/{digest}")
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
        h = hashlib.sha256()
        with client.stream("GET", f"/v2/group/s3/big/blobs/{digest}") as resp:
            assert resp.status_code == 200
            for piece in resp.iter_bytes():
                h.update(piece)
        assert "sha256:" + h.hexdigest() == digest


def test_gc_removes_unreferenced_blobs_and_uploads_from_the_bucket(s3_registry: tuple[HullscanServer, str],
                                                                  s3_server: S3Server) -> None:
    srv, bucket = s3_registry
    with srv.client() as client:
        keep = os.urandom(3000)
        push_image(client, "group/s3/gc", "keep", keep, b'{"os":"linux"}')
        stray = push_blob(client, "group/s3/gc", os.urandom(700))
        location = client.post("/v2/group/s3/gc/blobs/uploads/").headers["Location"]
        client.patch(location, content=os.urandom(6 * MIB))  # an abandoned multipart upload
        upload_id = location.rsplit("/", 1)[1]
        assert any(f"_uploads/{upload_id}/" in k for k in _keys(s3_server, bucket, "site-a/blobs/_uploads/"))
        proc = subprocess.run([sys.executable, "-m", "hullscan", "registry", "gc", "--grace", "0",
                               "--upload-max-age", "0"], check=False, env=srv.env(), capture_output=True, text=True,
                              timeout=120,
                              cwd=srv.data_dir)
        assert proc.returncode == 0, proc.stderr
        assert stray in proc.stdout
        keys = _keys(s3_server, bucket, "site-a/blobs/")
        assert not any(stray.split(":")[1] in k for k in keys)
        assert any(sha256(keep).split(":")[1] in k for k in keys)
        assert not any(f"_uploads/{upload_id}" in k for k in keys)
        uploads = s3_server.client().list_multipart_uploads(Bucket=bucket, Prefix=f"site-a/blobs/_uploads/{upload_id}")
        assert not uploads.get("Uploads")
        assert client.get(location).status_code == 404
        assert client.head(f"/v2/group/s3/gc/blobs/{stray}").status_code == 404
        assert client.get(f"/v2/group/s3/gc/blobs/{sha256(keep)}").content == keep


def test_blob_gets_redirect_to_presigned_urls_when_configured(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket("registry-redirect")
    env = {**REGISTRY_ONLY, **s3_server.env(bucket), "HULLSCAN_STORAGE_S3_REDIRECT_SECONDS": "300"}
    srv = HullscanServer(tmp_path / "data", env=env).start()
    try:
        with srv.client() as client:
            layer = os.urandom(50_000)
            push_image(client, "group/s3/redir", "v1", layer, b'{"os":"linux"}')
            r = client.get(f"/v2/group/s3/redir/blobs/{sha256(layer)}")
            assert r.status_code == 307
            url = r.headers["Location"]
            assert url.startswith(s3_server.url) and "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
            assert httpx.get(url, timeout=30).content == layer  # no hullscan credentials needed: the URL is
            assert client.head(f"/v2/group/s3/redir/blobs/{sha256(layer)}").status_code == 200
            # A repository that does not hold the blob gets no URL at all.
            assert client.get(f"/v2/group/other/redir/blobs/{sha256(layer)}").status_code in (401, 403, 404)
        layout = image_layout("go-binary")  # skopeo follows the redirects
        ref = f"docker://{srv.host}/group/s3/redir-go:latest"
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", ref)
        out = tmp_path / "pulled"
        skopeo("copy", "--src-tls-verify=false", ref, f"oci:{out}:latest")
        assert oci_layout_digests(out) == oci_layout_digests(layout)
    finally:
        srv.stop()


def test_memory_stays_bounded_while_a_large_blob_passes(s3_registry: tuple[HullscanServer, str]) -> None:
    """A 160 MiB blob pushed in one request and pulled back: the server's peak resident memory grows by
    less than half the blob (it holds a part, two incoming batches and read buffers, never the blob)."""
    srv, _ = s3_registry
    assert srv.proc is not None
    block = os.urandom(MIB)
    count = 160
    h = hashlib.sha256()
    for _ in range(count):
        h.update(block)
    digest = "sha256:" + h.hexdigest()

    def body() -> Iterator[bytes]:
        for _ in range(count):
            yield block

    with srv.client(timeout=300) as client:
        push_blob(client, "group/s3/mem", b"warm-up")  # the code paths are imported before measuring
        before = _rss_peak_kib(srv.proc.pid)
        r = client.post("/v2/group/s3/mem/blobs/uploads/", params={"digest": digest}, content=body(),
                        headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        pulled = hashlib.sha256()
        with client.stream("GET", f"/v2/group/s3/mem/blobs/{digest}") as resp:
            for piece in resp.iter_bytes():
                pulled.update(piece)
        assert "sha256:" + pulled.hexdigest() == digest
    grown_mib = (_rss_peak_kib(srv.proc.pid) - before) / 1024
    print(json.dumps({"blob_mib": count, "rss_peak_growth_mib": round(grown_mib, 1)}))
    assert grown_mib < count / 2, f"peak RSS grew by {grown_mib:.0f} MiB for a {count} MiB blob"


def test_readiness_follows_the_object_store(tmp_path: Path) -> None:
    s3 = S3Server(tmp_path).start()
    srv = HullscanServer(tmp_path / "data", env={**REGISTRY_ONLY, **s3.env(s3.create_bucket("ready"))})
    try:
        srv.start()
        assert httpx.get(f"{srv.url}/-/ready", timeout=60).status_code == 200
        s3.stop()
        r = httpx.get(f"{srv.url}/-/ready", timeout=60)
        assert r.status_code == 503 and any(p.startswith("storage:") for p in r.json()["problems"]), r.text
    finally:
        srv.stop()
        s3.stop()
