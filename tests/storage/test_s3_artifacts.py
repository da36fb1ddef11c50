"""SBOM artifacts on S3-compatible storage: the scan job's SBOM goes to the bucket, validation, ingestion and
downloads read it back (through a local cache that may be dropped at any time)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hullscan.pipelines.artifacts import ArtifactError, ArtifactStore
from hullscan.registry.s3driver import MIN_PART_SIZE, S3Driver
from tests.pipelines.e2e import finished_pipelines, push, sbom_of, start_server
from tests.support.auth import ADMIN_HTTP
from tests.support.s3 import S3Server


async def _chunks(data: bytes, size: int = 1 << 20) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_artifact_store_on_s3(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    store = ArtifactStore(S3Driver(s3_server.client(), bucket, "x/artifacts", part_size=MIN_PART_SIZE),
                          tmp_path / "cache")
    data = os.urandom(MIN_PART_SIZE * 2 + 17)  # a multipart upload of three parts
    sha, size = asyncio.run(store.write(_chunks(data), max_bytes=len(data)))
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    key = f"x/artifacts/sha256/{sha[:2]}/{sha}"
    assert s3_server.client().head_object(Bucket=bucket, Key=key)["ContentLength"] == len(data)
    shutil.rmtree(tmp_path / "cache")  # another node, or an evicted cache: fetched back from the bucket
    other = ArtifactStore(S3Driver(s3_server.client(), bucket, "x/artifacts"), tmp_path / "cache")
    assert other.path(sha).read_bytes() == data
    assert not other.path("0" * 64).exists()
    with pytest.raises(ArtifactError):
        asyncio.run(store.write(_chunks(data), max_bytes=len(data) - 1))
    with pytest.raises(ArtifactError):
        asyncio.run(store.write(_chunks(b""), max_bytes=10))
    listed = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [key]  # refused uploads leave nothing behind
    assert not list((tmp_path / "cache" / "tmp").iterdir())


def test_scan_job_sbom_lives_in_the_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket("sbom-e2e")
    server = start_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}", **s3_server.env(bucket))
    try:
        push("go-binary", f"{server.host}/group/s3app/tool:latest")
        (pipeline,) = finished_pipelines(server, "group/s3app", 1, timeout=180)
        (job,) = pipeline["jobs"]
        assert job["status"] == "success", job
        (artifact,) = job["artifacts"]
        sha = artifact["sha256"]
        head = s3_server.client().head_object(Bucket=bucket, Key=f"artifacts/sha256/{sha[:2]}/{sha}")
        assert head["ContentLength"] == artifact["size"]
        assert not (tmp_path / "data" / "artifacts").exists()  # nothing of it in the data directory
        shutil.rmtree(tmp_path / "data" / "artifact-cache")  # the download fetches it back from the bucket
        sbom = sbom_of(server, "group/s3app", job)
        assert sbom["bomFormat"] == "CycloneDX"
        r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fs3app/jobs/{job['id']}/artifacts/"
                           f"{artifact['name']}", timeout=30)
        assert hashlib.sha256(r.content).hexdigest() == sha
        # Ingestion read the SBOM through the same storage: no failed batch in the server's log.
        assert "SBOM ingestion batch failed" not in server.log_path.read_text()
    finally:
        server.stop()


def test_cached_copies_unused_for_an_hour_are_dropped(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    from hullscan.pipelines import artifacts

    store = ArtifactStore(S3Driver(s3_server.client(), bucket), tmp_path / "cache")
    old_sha, _ = asyncio.run(store.write(_chunks(b"old sbom"), max_bytes=100))
    new_sha, _ = asyncio.run(store.write(_chunks(b"new sbom"), max_bytes=100))
    long_ago = time.time() - artifacts.CACHE_SECONDS - 60
    os.utime(store.local / store.key(old_sha), (long_ago, long_ago))
    artifacts._last_sweep.clear()
    store.path(new_sha)  # cached: no fetch, no sweep
    assert (store.local / store.key(old_sha)).exists()
    (store.local / store.key(new_sha)).unlink()
    assert store.path(new_sha).read_bytes() == b"new sbom"  # fetched, then the cache swept
    assert not (store.local / store.key(old_sha)).exists()
    assert store.path(old_sha).read_bytes() == b"old sbom"  # still in the bucket
