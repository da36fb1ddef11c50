"""Content-addressed blob storage.

A blob becomes visible only under its verified digest: uploads are appended to a private temp file,
hashed incrementally as they stream in, fsynced, and renamed into place after the digest matches. A crash
at any point leaves at most an orphaned upload directory, never a partial blob. Two clients finishing the
same blob at once both rename identical bytes onto the same name, which is atomic and harmless.

Throughput: bytes arrive in batches of pieces (`write_many`, one `writev`); sha256 of a large batch runs on
a second thread while the batch is written (both release the GIL); a large upload starts its disk
writeback every 64 MiB, so the fsync before the rename only waits for the tail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

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
WRITEBACK_BYTES = 64 << 20  # a large upload starts its disk writeback every 64 MiB (see write_many)
IOV_MAX = 1024  # buffers per writev call (Linux's limit)
_hash_pool: ThreadPoolExecutor | None = None
_hash_pool_lock = threading.Lock()


def _hashing_pool() -> ThreadPoolExecutor:
    global _hash_pool
    with _hash_pool_lock:
        if _hash_pool is None:
            _hash_pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="blob-hash")
        return _hash_pool


def _update(hasher: "hashlib._Hash", chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)  # releases the GIL for all but tiny pieces


class _FileUploadWriter:
    def __init__(self, storage: "FilesystemBlobStorage", upload_id: str, path: Path) -> None:
        self._storage = storage
        self._id = upload_id
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._offset = os.lseek(self._fd, 0, os.SEEK_END)
        self._written_back = self._offset
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
            if total >= PARALLEL_HASH_BYTES:  # sha256 (~200 MB/s without SHA-NI) and the disk write overlap
                hashing = _hashing_pool().submit(_update, self._hasher, chunks)
            else:
                _update(self._hasher, chunks)
        try:
            self._write_all(chunks)
        except BaseException:
            self._hasher = None  # it may have seen bytes the file did not get: finishing re-reads the file
            raise
        finally:
            if hashing is not None:
                hashing.result()
        if self._offset - self._written_back >= WRITEBACK_BYTES and hasattr(os, "posix_fadvise"):
            # Linux starts writing these pages back now (and drops them from the page cache once clean), so
            # the fsync before the blob becomes visible waits for the last few MiB, not for the whole blob.
            os.posix_fadvise(self._fd, self._written_back, self._offset - self._written_back, os.POSIX_FADV_DONTNEED)
            self._written_back = self._offset

    def _write_all(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        pending = [memoryview(c) for c in chunks if len(c)]
        while pending:
            written = os.writev(self._fd, pending[:IOV_MAX])
            self._offset += written
            while pending and written >= len(pending[0]):  # drop what went out, keep a partial tail
                written -= len(pending[0])
                pending.pop(0)
            if written:
                pending[0] = pending[0][written:]

    def close(self) -> None:
        os.close(self._fd)
        if self._hasher is not None:
            self._storage._keep_hasher(self._id, self._offset, self._hasher)


class FilesystemBlobStorage:
    """Blobs under `<root>/<algorithm>/<first two hex>/<hex>`; upload sessions under `<root>/_uploads/<id>/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads = root / "_uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        # Running sha256 of uploads this process has appended to, so finishing needs no re-read. Another
        # process (or a restart) has no entry and re-hashes the file instead.
        self._hashers: dict[str, tuple[int, "hashlib._Hash"]] = {}
        self._lock = threading.Lock()

    # -- stored blobs ------------------------------------------------------------------------------
    def _path(self, digest: str) -> Path:
        d = parse_digest(digest)
        return self.root / d.algorithm / d.hex[:2] / d.hex

    def stat(self, digest: str) -> int | None:
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, digest: str) -> BinaryIO:
        return open(self._path(digest), "rb")  # noqa: SIM115 - caller closes

    def local_path(self, digest: str) -> Path | None:
        path = self._path(digest)
        return path if path.is_file() else None

    def delete(self, digest: str) -> bool:
        try:
            self._path(digest).unlink()
            return True
        except FileNotFoundError:
            return False

    def iter_blobs(self) -> Iterator[tuple[str, int, float]]:
        for algorithm, length in ALGORITHMS.items():
            base = self.root / algorithm
            if not base.is_dir():
                continue
            for prefix in os.scandir(base):
                if not prefix.is_dir():
                    continue
                for entry in os.scandir(prefix.path):
                    if len(entry.name) == length and entry.is_file():
                        st = entry.stat()
                        yield f"{algorithm}:{entry.name}", st.st_size, st.st_mtime

    # -- uploads -----------------------------------------------------------------------------------
    def _upload_dir(self, upload_id: str) -> Path:
        if not UPLOAD_ID.match(upload_id):
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "unknown upload session")
        return self.uploads / upload_id

    def start_upload(self, repository: str) -> str:
        upload_id = secrets.token_hex(16)
        directory = self.uploads / upload_id
        directory.mkdir(parents=True)
        (directory / "data").touch()
        (directory / "info.json").write_text(json.dumps({"repository": repository, "started_at": time.time()}))
        return upload_id

    def upload_info(self, upload_id: str) -> UploadInfo | None:
        directory = self._upload_dir(upload_id)
        try:
            info = json.loads((directory / "info.json").read_text())
            size = (directory / "data").stat().st_size
        except (FileNotFoundError, ValueError):
            return None
        return UploadInfo(upload_id, info["repository"], size, info["started_at"])

    def open_writer(self, upload_id: str) -> UploadWriter:
        path = self._upload_dir(upload_id) / "data"
        if not path.exists():
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "unknown upload session")
        return _FileUploadWriter(self, upload_id, path)

    def _take_hasher(self, upload_id: str, offset: int) -> "hashlib._Hash | None":
        with self._lock:
            kept = self._hashers.pop(upload_id, None)
        if kept is not None and kept[0] == offset:
            return kept[1]
        return hashlib.sha256() if offset == 0 else None

    def _keep_hasher(self, upload_id: str, offset: int, hasher: "hashlib._Hash") -> None:
        with self._lock:
            self._hashers[upload_id] = (offset, hasher)

    def commit_upload(self, upload_id: str, digest: Digest, size: int | None = None) -> int:
        directory = self._upload_dir(upload_id)
        data = directory / "data"
        with self._lock:
            kept = self._hashers.pop(upload_id, None)
        try:
            fd = os.open(data, os.O_RDONLY)
        except FileNotFoundError:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", "unknown upload session") from None
        try:
            os.fsync(fd)
            actual_size = os.fstat(fd).st_size
            if kept is not None and kept[0] == actual_size and digest.algorithm == "sha256":
                actual = kept[1].hexdigest()
            else:
                hasher = digest.hasher()
                with open(fd, "rb", closefd=False) as f:
                    while chunk := f.read(READ_CHUNK):
                        hasher.update(chunk)
                actual = hasher.hexdigest()
        finally:
            os.close(fd)
        if size is not None and size != actual_size:
            self.cancel_upload(upload_id)
            raise RegistryError("SIZE_INVALID", f"blob has {actual_size} bytes, {size} were declared")
        if actual != digest.hex:
            self.cancel_upload(upload_id)
            raise RegistryError("DIGEST_INVALID", f"content digest is {digest.algorithm}:{actual}, not {digest}",
                                detail={"digest": str(digest)})
        target = self.root / digest.algorithm / digest.hex[:2] / digest.hex
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.utime(target)  # refresh so a concurrent gc's grace period protects it
        else:
            os.replace(data, target)
            _fsync_dir(target.parent)
        shutil.rmtree(directory, ignore_errors=True)
        return actual_size

    def cancel_upload(self, upload_id: str) -> bool:
        directory = self._upload_dir(upload_id)
        with self._lock:
            self._hashers.pop(upload_id, None)
        if not directory.exists():
            return False
        shutil.rmtree(directory, ignore_errors=True)
        return True

    def iter_uploads(self) -> Iterator[UploadInfo]:
        for entry in os.scandir(self.uploads):
            if UPLOAD_ID.match(entry.name):
                info = self.upload_info(entry.name)
                if info is None:  # crashed between mkdir and info.json
                    info = UploadInfo(entry.name, "", 0, entry.stat().st_mtime)
                yield info


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage_for(settings: object) -> BlobStorage:
    """The blob storage configured in settings (the filesystem under `settings.blob_dir`)."""
    return FilesystemBlobStorage(settings.blob_dir)  # type: ignore[attr-defined]
