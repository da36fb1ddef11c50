"""The streaming layer walker: one pass over a layer blob, reading only the files some analyzer wants.

A layer is never extracted. The blob streams through a hashing reader (compressed digest), a decompressor
(isal for gzip when installed, zstandard, or none; chosen by magic bytes), a counting hashing reader (diff_id
and the total decompressed byte cap) and `tarfile` in stream mode. Wanted files are kept in memory when small
or spooled to the walker's temp dir, never under their tar name, so no entry can write outside it. Whiteouts,
opaque dirs and links are recorded for the cross-layer merge. A bad layer ends as a warning naming it, with
what was found before the damage; such a result is marked incomplete and never cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from hullscan.scanner.analyzers import AnalysisContext, AnalysisResult, Analyzer, FileEntry
from hullscan.scanner.analyzers.base import INLINE_LIMIT
from hullscan.scanner.inventory import Package
from hullscan.scanner.osdetect import OS_FILE_CAP, OS_FILES

CHUNK = 1 << 20
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class Limits:
    """Safety caps. `max_file_bytes` bounds any one file read for analysis; `max_layer_bytes` bounds what one
    layer may inflate to (zip bombs)."""

    max_file_bytes: int = 512 << 20
    max_layer_bytes: int = 16 << 30


class LayerError(Exception):
    """A layer could not be read to its end (corrupt, truncated, over a cap, digest mismatch)."""


@dataclass
class LayerResult:
    """Everything the merge needs from one layer; JSON-serialisable so the layer cache can keep it."""

    packages: list[Package] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # wanted files present in this layer (they shadow lower ones)
    whiteouts: list[str] = field(default_factory=list)
    opaque_dirs: list[str] = field(default_factory=list)
    os_files: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # wanted path -> absolute target (symlinks, hard links)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True
    diff_id: str | None = None  # sha256 of the uncompressed tar, when the walker read it to the end
    digest: str | None = None  # sha256 of the blob as read

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LayerResult:
        data = dict(data)
        data["packages"] = [Package(**p) for p in data.get("packages", [])]
        return cls(**data)


def normalize(name: str) -> str | None:
    """Absolute, normalised image path of a tar name; None when it would climb above the root."""
    cleaned = posixpath.normpath("/" + name.lstrip("/")) if name else "/"
    if ".." in name.split("/"):
        # "a/../b" is harmless once normalised; a name that climbs out of the root is hostile
        depth = 0
        for part in name.lstrip("/").split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    return None
            elif part not in ("", "."):
                depth += 1
    return cleaned


def resolve_link(path: str, target: str) -> str:
    """Absolute target of a link inside the image; `..` past the root stays at the root, as in a chroot."""
    return posixpath.normpath(target if target.startswith("/") else posixpath.join(posixpath.dirname(path), target))


class _HashingReader:
    """Passes reads through, hashing and counting bytes; enforces an optional byte cap."""

    def __init__(self, raw: BinaryIO, cap: int | None = None, what: str = "layer") -> None:
        self.raw, self.cap, self.what = raw, cap, what
        self.sha = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size is not None and size >= 0 else CHUNK)
        self.count += len(data)
        if self.cap is not None and self.count > self.cap:
            raise LayerError(f"{self.what} inflates past the {self.cap} byte cap")
        self.sha.update(data)
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def hexdigest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class _Peek:
    """Lets the walker look at the first bytes (compression magic) and then read them again."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.head = raw.read(8)

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0:
                data, self.head = self.head + self.raw.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            if len(data) < size:
                data += self.raw.read(size - len(data))
            return data
        return self.raw.read(size)

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


def decompressing(raw) -> BinaryIO:
    peek = _Peek(raw)
    if peek.head[:2] == b"\x1f\x8b":
        try:
            from isal import igzip

            return igzip.IGzipFile(fileobj=peek, mode="rb")  # type: ignore[return-value]
        except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
            import gzip

            return gzip.GzipFile(fileobj=peek, mode="rb")  # type: ignore[return-value]
    if peek.head[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(peek, read_across_frames=True)  # type: ignore[return-value]
    return peek  # type: ignore[return-value]


class FileSink:
    """Routes wanted files to analyzers: per-file analyzers run at once (content dropped after), layer-level
    analyzers run at `finish()` with all their files. Shared by the tar walker and the `dir:` walker."""

    def __init__(self, analyzers: list[Analyzer], limits: Limits, tmp_dir: str) -> None:
        self.analyzers, self.limits = analyzers, limits
        self.ctx = AnalysisContext(tmp_dir=tmp_dir)
        self.result = LayerResult()
        self.deferred: dict[int, list[FileEntry]] = {}
        self.kept: dict[str, FileEntry] = {}  # deferred entries by path, for hard links

    def wanting(self, path: str, size: int, mode: int) -> list[int]:
        return [i for i, a in enumerate(self.analyzers) if a.wants(path, size, mode)]

    def wants(self, path: str, size: int = 0, mode: int = 0o755) -> bool:
        return path in OS_FILES or bool(self.wanting(path, size, mode))

    def add_link(self, path: str, target: str) -> None:
        """Only release files are resolved through links (e.g. /etc/os-release -> ../usr/lib/os-release);
        package files are analysed where they really are."""
        if path in OS_FILES:
            self.result.links[path] = target
            self.result.paths.append(path)

    def add_file(self, path: str, size: int, mode: int, fh: BinaryIO | None) -> None:
        """`fh` is read only if someone wants the file (None: the caller has nothing to read)."""
        indexes = self.wanting(path, size, mode)
        is_os = path in OS_FILES
        if not indexes and not is_os:
            return
        self.result.paths.append(path)
        if fh is None:
            return
        cap = OS_FILE_CAP if is_os and not indexes else self.limits.max_file_bytes
        if size > cap:
            self.result.warnings.append(f"{path}: {size} bytes is over the per-file cap of {cap}, not analysed")
            return
        entry = self._read(path, size, mode, fh)
        if is_os:
            self.result.os_files[path] = entry.read()[:OS_FILE_CAP].decode("utf-8", "replace")
        spooled = entry.disk_path is not None
        keep = False
        for i in indexes:
            analyzer = self.analyzers[i]
            if analyzer.per_file:
                self._merge(analyzer.analyze([entry], self.ctx))
            else:
                self.deferred.setdefault(i, []).append(entry)
                self.kept[path] = entry
                keep = True
        if spooled and not keep and entry.disk_path:
            os.unlink(entry.disk_path)

    def add_hardlink(self, path: str, target: str) -> None:
        source = self.kept.get(target)
        if source is not None and self.wanting(path, source.size, source.mode):
            for i in self.wanting(path, source.size, source.mode):
                alias = dataclasses.replace(source, path=path)
                if self.analyzers[i].per_file:
                    self._merge(self.analyzers[i].analyze([alias], self.ctx))
                else:
                    self.deferred.setdefault(i, []).append(alias)
            self.result.paths.append(path)
        else:
            self.add_link(path, target)

    def _read(self, path: str, size: int, mode: int, fh: BinaryIO) -> FileEntry:
        if size <= INLINE_LIMIT:
            data = fh.read(size + 1)
            return FileEntry(path=path, size=len(data), mode=mode, data=data[:size])
        fd, name = tempfile.mkstemp(dir=self.ctx.tmp_dir)
        written = 0
        with os.fdopen(fd, "wb") as out:
            while written < size and (chunk := fh.read(min(CHUNK, size - written))):
                out.write(chunk)
                written += len(chunk)
        return FileEntry(path=path, size=written, mode=mode, disk_path=name)

    def _merge(self, analysis: AnalysisResult) -> None:
        self.result.packages.extend(analysis.packages)
        self.result.warnings.extend(analysis.warnings)

    def finish(self) -> LayerResult:
        for i, entries in sorted(self.deferred.items()):
            try:
                self._merge(self.analyzers[i].analyze(entries, self.ctx))
            except Exception as exc:  # noqa: BLE001 - an analyzer bug must not lose the other formats
                self.result.warnings.append(f"analyzer {self.analyzers[i].name}: {type(exc).__name__}: {exc}")
        for entries in self.deferred.values():
            for entry in entries:
                if entry.disk_path and os.path.exists(entry.disk_path):
                    os.unlink(entry.disk_path)
        self.deferred.clear()
        self.kept.clear()
        return self.result


def walk_layer(blob: BinaryIO, analyzers: list[Analyzer], limits: Limits, tmp_dir: str,
               label: str = "layer") -> LayerResult:
    """Analyse one layer blob (any supported compression) in a single streaming pass."""
    sink = FileSink(analyzers, limits, tmp_dir)
    compressed = _HashingReader(blob, what=label)
    uncompressed: _HashingReader | None = None
    try:
        uncompressed = _HashingReader(decompressing(compressed), cap=limits.max_layer_bytes, what=label)
        with tarfile.open(fileobj=uncompressed, mode="r|", bufsize=CHUNK) as tar:  # type: ignore[arg-type]
            for member in tar:
                _member(tar, member, sink)
        uncompressed.drain()  # the tar end marker is not the end of the stream: hash all of it
        compressed.drain()
        sink.result.diff_id = uncompressed.hexdigest()
        sink.result.digest = compressed.hexdigest()
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError, LayerError, MemoryError, RuntimeError) as exc:
        sink.result.complete = False
        sink.result.warnings.append(f"{label}: unreadable, analysed up to the damage: {type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - zstandard.ZstdError and friends: still a bad layer, not a crash
        sink.result.complete = False
        sink.result.warnings.append(f"{label}: unreadable: {type(exc).__name__}: {exc}")
    return sink.finish()


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo, sink: FileSink) -> None:
    path = normalize(member.name)
    if path is None:
        sink.result.warnings.append(f"{member.name!r}: tar entry climbs out of the root, ignored")
        return
    base = posixpath.basename(path)
    if base.startswith(WHITEOUT):
        parent = posixpath.dirname(path)
        if base == OPAQUE:
            sink.result.opaque_dirs.append(parent)
        else:
            sink.result.whiteouts.append(posixpath.join(parent, base[len(WHITEOUT):]))
        return
    if member.isreg():
        if sink.wants(path, member.size, member.mode):
            sink.add_file(path, member.size, member.mode, tar.extractfile(member))
    elif member.issym():
        sink.add_link(path, resolve_link(path, member.linkname))
    elif member.islnk():
        target = normalize(member.linkname)
        if target is not None:
            sink.add_hardlink(path, target)


def walk_directory(root: str, analyzers: list[Analyzer], limits: Limits, tmp_dir: str) -> LayerResult:
    """The `dir:` source: a root filesystem on disk, read as one layer. Symlinks are recorded, never followed,
    so nothing outside `root` is read."""
    sink = FileSink(analyzers, limits, tmp_dir)
    root = os.path.abspath(root)
    for current, dirs, files in os.walk(root, followlinks=False):
        rel_dir = "/" + os.path.relpath(current, root).replace(os.sep, "/")
        rel_dir = "/" if rel_dir == "/." else rel_dir
        for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            full = os.path.join(current, name)
            path = posixpath.join(rel_dir, name)
            try:
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    sink.add_link(path, resolve_link(path, os.readlink(full)))
                elif stat.S_ISREG(st.st_mode) and sink.wants(path, st.st_size, st.st_mode & 0o7777):
                    with open(full, "rb") as fh:
                        sink.add_file(path, st.st_size, st.st_mode & 0o7777, fh)
            except OSError as exc:
                sink.result.warnings.append(f"{path}: {exc}")
    return sink.finish()
