"""Storage drivers: where bytes live, by key, as CNCF Distribution's storage drivers do.

A driver knows nothing of digests, repositories or upload sessions; `hullscan.registry.storage` builds
content addressing and upload sessions on top of one, and job artifacts use one too. Two drivers exist:
this module's filesystem driver (the embedded default) and the S3-compatible driver in
`hullscan.registry.s3driver`. Keys are relative, `/`-separated and built by our code only (checked anyway).

Throughput of the filesystem driver: a writer appends batches of pieces with one `writev`, and starts the
disk writeback of a large file every 64 MiB, so the fsync of `commit` only waits for the tail.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,254}){0,15}$")
WRITEBACK_BYTES = 64 << 20  # a large file starts its disk writeback every 64 MiB (see write_many)
IOV_MAX = 1024  # buffers per writev call (Linux's limit)


def check_key(key: str) -> str:
    """A key our code built: relative, no `..`, no empty or hidden components."""
    if not KEY.fullmatch(key):
        raise ValueError(f"invalid storage key {key[:300]!r}")
    return key


@dataclass(frozen=True)
class FileInfo:
    size: int
    mtime: float


class DriverWriter(Protocol):
    """Appends to the content at one key. `close` keeps what was written for a later writer (append=True) to
    continue, possibly in another process; `commit` makes the content readable at the key."""

    @property
    def size(self) -> int: ...

    def write_many(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None: ...

    def close(self) -> None: ...

    def commit(self) -> None: ...

    def cancel(self) -> None: ...


class StorageDriver(Protocol):
    """Blocking calls: async callers run them in a worker thread."""

    def stat(self, key: str) -> FileInfo | None:
        """Size and modification time of committed content, or None."""

    def reader(self, key: str, offset: int = 0) -> BinaryIO:
        """A stream of the content from `offset` (FileNotFoundError if absent); the caller closes it."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path holding the content, when the driver has one (served with sendfile)."""

    def get_content(self, key: str) -> bytes:
        """Small content in one piece (FileNotFoundError if absent)."""

    def put_content(self, key: str, data: bytes) -> None:
        """Replace the content at `key` atomically."""

    def writer(self, key: str, append: bool) -> DriverWriter:
        """A writer at `key`: continuing what earlier writers left (append) or starting empty."""

    def move(self, source: str, target: str) -> None:
        """Put the content of `source` at `target` (replacing it) and remove `source`."""

    def delete(self, key: str) -> bool:
        """Remove the content at `key` and everything below `key/` (and unfinished writes there)."""

    def walk(self, prefix: str) -> Iterator[tuple[str, FileInfo]]:
        """Every committed key below `prefix/` with its info, in no particular order."""

    def list(self, prefix: str) -> list[str]:
        """Names of the direct children of `prefix/`."""

    def url_for(self, key: str, expires_seconds: int) -> str | None:
        """A URL a client may GET the content from directly for a while, or None (no such thing here)."""


class _FileWriter:
    def __init__(self, path: Path, append: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | (0 if append else os.O_TRUNC)
        self._path = path
        self._fd = os.open(path, flags, 0o644)
        self._size = os.lseek(self._fd, 0, os.SEEK_END)
        self._written_back = self._size

    @property
    def size(self) -> int:
        return self._size

    def write_many(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        pending = [memoryview(c) for c in chunks if len(c)]
        while pending:
            written = os.writev(self._fd, pending[:IOV_MAX])
            self._size += written
            while pending and written >= len(pending[0]):  # drop what went out, keep a partial tail
                written -= len(pending[0])
                pending.pop(0)
            if written:
                pending[0] = pending[0][written:]
        if self._size - self._written_back >= WRITEBACK_BYTES and hasattr(os, "posix_fadvise"):
            # Linux starts writing these pages back now (and drops them from the page cache once clean), so
            # the fsync of commit waits for the last few MiB, not for the whole file.
            os.posix_fadvise(self._fd, self._written_back, self._size - self._written_back, os.POSIX_FADV_DONTNEED)
            self._written_back = self._size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def commit(self) -> None:
        os.fsync(self._fd)
        self.close()

    def cancel(self) -> None:
        self.close()
        self._path.unlink(missing_ok=True)


class FilesystemDriver:
    """Keys are files under `root` (the embedded default: today's layout and speed)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def stat(self, key: str) -> FileInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None if stat.S_ISDIR(st.st_mode) else FileInfo(st.st_size, st.st_mtime)

    def reader(self, key: str, offset: int = 0) -> BinaryIO:
        handle = open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        if offset:
            handle.seek(offset)
        return handle

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def get_content(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def put_content(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def writer(self, key: str, append: bool) -> DriverWriter:
        return _FileWriter(self._path(key), append)

    def move(self, source: str, target: str) -> None:
        target_path = self._path(target)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path(source), target_path)
        _fsync_dir(target_path.parent)

    def delete(self, key: str) -> bool:
        path = self._path(key)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            return True
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def walk(self, prefix: str) -> Iterator[tuple[str, FileInfo]]:
        base = self._path(prefix) if prefix else self.root
        stack = [(base, prefix)]
        while stack:
            directory, rel = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                key = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), key))
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat()
                    yield key, FileInfo(st.st_size, st.st_mtime)

    def list(self, prefix: str) -> list[str]:
        try:
            return [entry.name for entry in os.scandir(self._path(prefix) if prefix else self.root)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def url_for(self, key: str, expires_seconds: int) -> str | None:
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
