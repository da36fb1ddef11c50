"""Content-addressed blob storage and upload sessions, on top of a storage driver (`hullscan.registry.driver`).

A blob becomes visible only under its verified digest: uploads are appended to a private upload key,
hashed incrementally as they stream in, committed, and moved into place after the digest matches. A crash
at any point leaves at most an orphaned upload session, never a partial blob. Two clients finishing the
same blob at once both move identical bytes onto the same key, which is harmless.

Keys: blobs at `<algorithm>/<first two hex>/<hex>`, upload sessions at `_uploads/<id>/` (`data`, `info.json`)
-- with the filesystem driver rooted at `<data_dir>/blobs`, the layout of earlier versions.

Throughput: bytes arrive in batches of pieces (`write_many`); sha256 of a large batch runs on a second
thread while the driver writes the batch (both release the GIL).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from hullscan.registry.driver import DriverWriter, FilesystemDriver, StorageDriver
from hullscan.registry.errors import RegistryError
from hullscan.registry.names import ALGORITHMS, Digest, parse_digest

UPLOAD_ID = re.compile(r"^[a-f0-9]{32}$")
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadInfo:
    id: str
    repository: str
    size: int
    started_at: float


class UploadWriter(Protocol):
    """Appends bytes to an upload session, hashing them on the way."""

    @property
    def offset(self) -> int: ...

    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def write_many(self, chunks: Sequence[bytes]) -> None:
        """Append several pieces in order (the ASGI body arrives in many): one call, one thread hop."""

    def close(self) -> None: ...


class BlobStorage(Protocol):
    """Where blob bytes live. Blocking calls: async callers run them in a worker thread."""

    def stat(self, digest: str) -> int | None:
        """Size of a stored blob, or None."""

    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading (FileNotFoundError if absent)."""

    def local_path(self, digest: str) -> Path | None:
        """A filesystem path to serve the blob from, when the backend has one."""

    def redirect_url(self, digest: str) -> str | None:
        """A URL to redirect a blob GET to (pre-signed object storage URL), when configured."""

    def delete(self, digest: str) -> bool: ...

    def iter_blobs(self) -> Iterator[tuple[str, int, float]]:
        """Every stored blob as (digest, size, mtime)."""

    def start_upload(self, repository: str) -> str: ...

    def upload_info(self, upload_id: str) -> UploadInfo | None: ...

    def open_writer(self, upload_id: str) -> UploadWriter: ...

    def commit_upload(self, upload_id: str, digest: Digest, size: int | None = None) -> int:
        """Verify and publish an upload under `digest`; returns its size. Raises DIGEST_INVALID/SIZE_INVALID."""

    def cancel_upload(self, upload_id: str) -> bool: ...

    def iter_uploads(self) -> Iterator[UploadInfo]: ...


PARALLEL_HASH_BYTES = 1 << 20  # from this batch size on, hashing runs beside the write, not after it
_hash_pool: ThreadPoolExecutor | None = None
_hash_pool_lock = threading.Lock()


def _hashing_pool() -> ThreadPoolExecutor:
    global _hash_pool
    with _hash_pool_lock:
        if _hash_pool is None:
            _hash_pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="blob-hash")
        return _hash_pool


def _update(hasher: hashlib._Hash, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
    for chunk in chunks:
        hasher.update(chunk)  # releases the GIL for all but tiny pieces


class _HashingWriter:
    def __init__(self, storage: BlobStore, upload_id: str, writer: DriverWriter) -> None:
        self._storage = storage
        self._id = upload_id
        self._writer = writer
        self._offset = writer.size
        self._hasher = storage._take_hasher(upload_id, self._offset)

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.write_many([data])

    def write_many(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        total = sum(len(c) for c in chunks)
        if not total:
            return
        hashing = None
        if self._hasher is not None:
            if total >= PARALLEL_HASH_BYTES:  # sha256 (~200 MB/s without SHA-NI) and the write overlap
                hashing = _hashing_pool().submit(_update, self._hasher, chunks)
            else:
                _update(self._hasher, chunks)
        try:
            self._writer.write_many(chunks)
        except BaseException:
            self._hasher = None  # it may have seen bytes the upload did not get: finishing re-reads it
            raise
        finally:
            if hashing is not None:
                hashing.result()
        self._offset += total

    def close(self) -> None:
        self._writer.close()
        if self._hasher is not None:
            self._storage._keep_hasher(self._id, self._offset, self._hasher)


class BlobStore:
    """Blobs and upload sessions over a storage driver (see the module docstring for the keys)."""

    def __init__(self, driver: StorageDriver, *, redirect_seconds: int = 0) -> None:
        self.driver = driver
        self.redirect_seconds = redirect_seconds
        # Running sha256 of uploads this process has appended to, so finishing needs no re-read. Another
        # process (or a restart) has no entry and re-hashes the upload instead.
        self._hashers: dict[str, tuple[int, hashlib._Hash]] = {}
        self._lock = threading.Lock()

    # -- stored blobs ------------------------------------------------------------------------------
    @staticmethod
    def _key(digest: str) -> str:
        d = parse_digest(digest)
        return f"{d.algorithm}/{d.hex[:2]}/{d.hex}"

    def stat(self, digest: str) -> int | None:
        info = self.driver.stat(self._key(digest))
        return None if info is None else info.size

    def open(self, digest: str) -> BinaryIO:
        return self.driver.reader(self._key(digest))

    def local_path(self, digest: str) -> Path | None:
        return self.driver.local_path(self._key(digest))

    def redirect_url(self, digest: str) -> str | None:
        if self.redirect_seconds <= 0:
            return None
        return self.driver.url_for(self._key(digest), self.redirect_seconds)

    def delete(self, digest: str) -> bool:
        return self.driver.delete(self._key(digest))

    def iter_blobs(self) -> Iterator[tuple[str, int, float]]:
        for algorithm, length in ALGORITHMS.items():
            for key, info in self.driver.walk(algorithm):
                prefix, _, name = key[len(algorithm) + 1:].partition("/")
                if len(name) == length and len(prefix) == 2 and name.startswith(prefix):
                    yield f"{algorithm}:{name}", info.size, info.mtime

    # -- uploads -----------------------------------------------------------------------------------
    @staticmethod
    def _upload_key(upload_id: str, name: str = "") -> str:
        if not UPLOAD_ID.match(upload_id):
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "unknown upload session")
        return f"_uploads/{upload_id}/{name}" if name else f"_uploads/{upload_id}"

    def start_upload(self, repository: str) -> str:
        upload_id = secrets.token_hex(16)
        self.driver.writer(self._upload_key(upload_id, "data"), append=False).close()
        self.driver.put_content(self._upload_key(upload_id, "info.json"),
                                json.dumps({"repository": repository, "started_at": time.time()}).encode())
        return upload_id

    def upload_info(self, upload_id: str) -> UploadInfo | None:
        try:
            info = json.loads(self.driver.get_content(self._upload_key(upload_id, "info.json")))
        except (FileNotFoundError, ValueError):
            return None
        writer = self.driver.writer(self._upload_key(upload_id, "data"), append=True)
        try:
            size = writer.size
        finally:
            writer.close()
        return UploadInfo(upload_id, info["repository"], size, info["started_at"])

    def open_writer(self, upload_id: str) -> UploadWriter:
        if self.driver.stat(self._upload_key(upload_id, "info.json")) is None:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "unknown upload session")
        return _HashingWriter(self, upload_id, self.driver.writer(self._upload_key(upload_id, "data"), append=True))

    def _take_hasher(self, upload_id: str, offset: int) -> hashlib._Hash | None:
        with self._lock:
            kept = self._hashers.pop(upload_id, None)
        if kept is not None and kept[0] == offset:
            return kept[1]
        return hashlib.sha256() if offset == 0 else None

    def _keep_hasher(self, upload_id: str, offset: int, hasher: hashlib._Hash) -> None:
        with self._lock:
            self._hashers[upload_id] = (offset, hasher)

    def commit_upload(self, upload_id: str, digest: Digest, size: int | None = None) -> int:
        data = self._upload_key(upload_id, "data")
        with self._lock:
            kept = self._hashers.pop(upload_id, None)
        if self.driver.stat(self._upload_key(upload_id, "info.json")) is None:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "unknown upload session")
        writer = self.driver.writer(data, append=True)
        actual_size = writer.size
        writer.commit()
        if kept is not None and kept[0] == actual_size and digest.algorithm == "sha256":
            actual = kept[1].hexdigest()
        else:
            hasher = digest.hasher()
            with self.driver.reader(data) as f:
                while chunk := f.read(READ_CHUNK):
                    hasher.update(chunk)
            actual = hasher.hexdigest()
        if size is not None and size != actual_size:
            self.cancel_upload(upload_id)
            raise RegistryError("SIZE_INVALID", f"blob has {actual_size} bytes, {size} were declared")
        if actual != digest.hex:
            self.cancel_upload(upload_id)
            raise RegistryError("DIGEST_INVALID", f"content digest is {digest.algorithm}:{actual}, not {digest}",
                                detail={"digest": str(digest)})
        # Moving onto an existing blob replaces identical bytes and refreshes its time, so a concurrent
        # gc's grace period protects it.
        self.driver.move(data, self._key(str(digest)))
        self.driver.delete(self._upload_key(upload_id))
        return actual_size

    def cancel_upload(self, upload_id: str) -> bool:
        key = self._upload_key(upload_id)
        with self._lock:
            self._hashers.pop(upload_id, None)
        return self.driver.delete(key)

    def iter_uploads(self) -> Iterator[UploadInfo]:
        for name in self.driver.list("_uploads"):
            if UPLOAD_ID.match(name):
                info = self.upload_info(name)
                if info is None:  # crashed between creating the session and writing info.json
                    stat = self.driver.stat(self._upload_key(name, "data"))
                    info = UploadInfo(name, "", 0, stat.mtime if stat else 0.0)
                yield info


def FilesystemBlobStorage(root: Path) -> BlobStore:
    """Blobs under `root` on the local filesystem."""
    return BlobStore(FilesystemDriver(root))


def driver_for(settings: Any, area: str) -> StorageDriver:
    """The storage driver configured in settings for one area of storage ("blobs" or "artifacts"): the
    filesystem under `<data_dir>/<area>`, or `<prefix><area>/` in the S3 bucket."""
    if getattr(settings, "storage_driver", "filesystem") == "s3":
        from hullscan.registry.s3driver import S3Driver

        with _drivers_lock:  # one client (and connection pool) per settings object and area
            kept = _s3_drivers.get((id(settings), area))
            if kept is None or kept[0] is not settings:
                kept = _s3_drivers[(id(settings), area)] = (settings, S3Driver.from_settings(settings, area))
            return kept[1]
    return FilesystemDriver(settings.resolved_data_dir / area)


_s3_drivers: dict[tuple[int, str], tuple[Any, StorageDriver]] = {}
_drivers_lock = threading.Lock()


def storage_for(settings: Any) -> BlobStorage:
    """The blob storage configured in settings."""
    seconds = settings.storage_s3_redirect_seconds if getattr(settings, "storage_driver", "") == "s3" else 0
    return BlobStore(driver_for(settings, "blobs"), redirect_seconds=seconds)
