"""`hullscan registry gc` and crash safety: a SIGKILLed server never serves a partial blob, and the push
succeeds when retried after restart."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.registry.conftest import REGISTRY_ONLY
from tests.registry.support import OCI_MANIFEST, error_code, image_manifest, push_blob, push_image, sha256
from tests.support.server import HullscanServer


def _gc(srv: HullscanServer, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "hullscan", "registry", "gc", *args], env=srv.env(),
                          capture_output=True, text=True, timeout=120, cwd=srv.data_dir)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _blob_file(srv: HullscanServer, digest: str) -> Path:
    hexdigest = digest.split(":")[1]
    return srv.data_dir / "blobs" / "sha256" / hexdigest[:2] / hexdigest


def _gc_scenario(server: HullscanServer) -> None:
    with server.client() as client:
        keep_layer, drop_layer, shared_config = os.urandom(3000), os.urandom(4000), b'{"os":"linux"}'
        push_image(client, "team/gc", "keep", keep_layer, shared_config)
        dropped = push_image(client, "team/gc", "drop", drop_layer, shared_config)
        stray = push_blob(client, "team/gc", os.urandom(500))  # uploaded, never referenced
        location = client.post("/v2/team/gc/blobs/uploads/").headers["Location"]
        client.patch(location, content=b"abandoned")
        assert client.delete(f"/v2/team/gc/manifests/{dropped}").status_code == 202

        # Within the grace period nothing goes: a push in flight uploads blobs before its manifest.
        assert "removed 0 blobs" in _gc(server)
        out = _gc(server, "--dry-run", "--grace", "0", "--upload-max-age", "0")
        assert sha256(drop_layer) in out and stray in out and "would remove 2 blobs" in out
        assert "would remove" in out and "2 abandoned uploads" in out  # ours + the one the SIGKILL left
        assert _blob_file(server, sha256(drop_layer)).exists()

        out = _gc(server, "--grace", "0", "--upload-max-age", "0")
        assert "removed 2 blobs" in out
        assert not _blob_file(server, sha256(drop_layer)).exists() and not _blob_file(server, stray).exists()
        assert _blob_file(server, sha256(keep_layer)).exists() and _blob_file(server, sha256(shared_config)).exists()
        assert client.get(location).status_code == 404
        assert client.head(f"/v2/team/gc/blobs/{sha256(drop_layer)}").status_code == 404
        assert client.get(f"/v2/team/gc/blobs/{sha256(keep_layer)}").content == keep_layer
        assert client.get("/v2/team/gc/manifests/keep").status_code == 200


CHUNK = os.urandom(1 << 20)
TOTAL_CHUNKS = 64  # 64 MiB


def _body():  # type: ignore[no-untyped-def]
    for _ in range(TOTAL_CHUNKS):
        yield CHUNK


def _digest() -> str:
    h = hashlib.sha256()
    for chunk in _body():
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def test_sigkill_during_large_upload_then_retry_and_gc(tmp_path: Path, database_url: str) -> None:
    """One server life cycle (starts are slow) covers the crash, the retried push and then `registry gc`."""
    digest = _digest()
    srv = HullscanServer(tmp_path / "data", database_url, env=REGISTRY_ONLY).start()
    uploads = srv.data_dir / "blobs" / "_uploads"
    try:
        with srv.client(timeout=120) as client:
            config = b'{"os":"linux"}'
            push_blob(client, "team/crash", config)
            location = client.post("/v2/team/crash/blobs/uploads/").headers["Location"]

            def slow_body():  # type: ignore[no-untyped-def]
                for chunk in _body():
                    time.sleep(0.005)
                    yield chunk

            def upload() -> None:
                try:
                    client.put(location, params={"digest": digest}, content=slow_body())
                except httpx.HTTPError:
                    pass

            t = threading.Thread(target=upload, daemon=True)
            t.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                sizes = [p.stat().st_size for p in uploads.glob("*/data")]
                if sizes and max(sizes) > 16 << 20:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("upload never got going")
            srv.kill()
            t.join(timeout=30)
    finally:
        srv.stop()

    srv = HullscanServer(tmp_path / "data", database_url, env=REGISTRY_ONLY).start()
    try:
        with srv.client(timeout=120) as client:
            r = client.head(f"/v2/team/crash/blobs/{digest}")
            assert r.status_code == 404
            r = client.get(f"/v2/team/crash/blobs/{digest}")
            assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
            assert not _blob_file(srv, digest).exists()

            # The retried push succeeds and serves exactly the uploaded bytes.
            location = client.post("/v2/team/crash/blobs/uploads/").headers["Location"]
            r = client.put(location, params={"digest": digest}, content=_body())
            assert r.status_code == 201, r.text
            layer_size = TOTAL_CHUNKS * len(CHUNK)
            body = image_manifest(config, []).replace(b'"layers": []', (
                b'"layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "'
                + digest.encode() + b'", "size": ' + str(layer_size).encode() + b"}]"))
            r = client.put("/v2/team/crash/manifests/latest", content=body, headers={"Content-Type": OCI_MANIFEST})
            assert r.status_code == 201, r.text
            h = hashlib.sha256()
            with client.stream("GET", f"/v2/team/crash/blobs/{digest}") as resp:
                assert resp.status_code == 200
                for chunk in resp.iter_bytes():
                    h.update(chunk)
            assert "sha256:" + h.hexdigest() == digest

        # The killed upload left its session directory behind; gc removes it (and nothing referenced).
        assert any(uploads.iterdir())
        _gc_scenario(srv)
        assert not any(uploads.iterdir())
        assert _blob_file(srv, digest).exists()
    finally:
        srv.stop()
