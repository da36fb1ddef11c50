"""The streaming layer walker: one pass over a layer blob, reading only the files some analyzer wants.

A layer is never extracted. A helper thread reads the blob (hashing it against its digest, unless the stream
verifies itself) and decompresses it (gzip via isal when installed, else zlib; zstandard; or plain tar,
chosen by magic bytes) with bounded output per call and a total decompressed byte cap; when a layer has no
digest the uncompressed tar is hashed against its diff_id on a second thread. The main thread parses tar
headers (ustar, GNU long names, pax) with a small forward-only reader. Wanted files are kept in memory when
small or spooled to the walker's temp dir under random names, never under their tar name, so no entry can
write outside it. Whiteouts, opaque dirs and links are recorded for the cross-layer merge. A bad layer ends as
a warning naming it, with what was found before the damage; such a result is marked incomplete, never cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import stat
import tempfile
import zlib
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

if TYPE_CHECKING:
    import queue

from hullscan.scanner.analyzers import AnalysisContext, AnalysisResult, Analyzer, FileEntry
from hullscan.scanner.analyzers.base import INLINE_LIMIT, TooManyPackages
from hullscan.scanner.inventory import Package
from hullscan.scanner.osdetect import OS_FILE_CAP, OS_FILES
from hullscan.scanner.analyzers.redhat_content import is_content_manifest

_T = TypeVar("_T")


class Reader(Protocol):
    """What the walker reads a blob through: a file, an HTTP response, a decompressor."""

    def read(self, size: int = ..., /) -> bytes: ...


class _Inflater(Protocol):
    """zlib's and isal's decompress objects, as _Gunzip uses them."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...

CHUNK = 1 << 20
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class Limits:
    """Safety caps, each per layer. `max_file_bytes` bounds any one file read for analysis; `max_layer_bytes`
    what one layer may inflate to (zip bombs); `max_layer_packages` the packages one layer may yield (memory
    grows with them: a 1 MB layer can list 200,000); `max_spool_bytes` what the walker holds on disk at once
    for one layer. A cap that is hit makes the layer (and the scan) partial, never a silent success."""

    max_file_bytes: int = 512 << 20
    max_layer_bytes: int = 16 << 30
    max_layer_packages: int = 50_000
    max_spool_bytes: int = 2 << 30


#: Small wanted files that layer-level analyzers keep until the layer ends live in memory up to this total;
#: beyond it they are spooled like big ones (and count against `max_spool_bytes`).
MAX_HELD_IN_MEMORY = 64 << 20


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
    partial: list[str] = field(default_factory=list)  # why the layer was not fully analysed (caps, damage)
    complete: bool = True  # False: not to be cached (unreadable, unverified or partial)
    diff_id: str | None = None  # sha256 of the uncompressed tar, when the walker hashed it
    digest: str | None = None  # the verified blob digest this analysis belongs to

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LayerResult:
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


class _ReadIntoFromRead:
    """`readinto` and `readable` for the walker's streams, which only implement `read` (what io.BufferedReader
    and zipfile need of a raw stream)."""

    def read(self, size: int = -1) -> bytes:
        raise NotImplementedError

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


class _HashingReader(_ReadIntoFromRead):
    """Passes reads through, hashing and counting bytes; enforces an optional byte cap."""

    def __init__(self, raw: Reader, cap: int | None = None, what: str = "layer") -> None:
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

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def hexdigest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class _Peek(_ReadIntoFromRead):
    """Lets the walker look at the first bytes (compression magic) and then read them again."""

    def __init__(self, raw: Reader) -> None:
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


class _Gunzip:
    """Streaming gzip decoding (isal when installed, else zlib) with bounded output per call, so a bomb never
    sits in memory, and a truncated or corrupt blob still yields every byte decoded before the damage."""

    def __init__(self, raw: Reader) -> None:
        self.raw = raw
        self.pending = b""  # compressed input not yet consumed
        self.done = False
        self.obj = self._new()

    @staticmethod
    def _new() -> _Inflater:
        try:
            from isal import isal_zlib

            return isal_zlib.decompressobj(31)
        except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
            return zlib.decompressobj(31)

    def read(self, size: int = CHUNK) -> bytes:
        size = size if size and size > 0 else CHUNK
        while True:
            if self.obj.eof and self.obj.unused_data:  # concatenated gzip members
                self.pending = self.obj.unused_data + self.pending
                self.obj = self._new()
            if not self.pending:
                if self.done:
                    return b""
                self.pending = self.raw.read(256 * 1024)
                if not self.pending:
                    self.done = True
                    if not self.obj.eof:
                        raise EOFError("gzip stream ends before its end marker (truncated)")
                    return b""
            out = self.obj.decompress(self.pending, size)
            self.pending = self.obj.unconsumed_tail
            if out:
                return out


def decompressing(raw: Reader) -> Reader:
    peek = _Peek(raw)
    if peek.head[:2] == b"\x1f\x8b":
        return _Gunzip(peek)
    if peek.head[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        # zstandard reads any object with read(); its stub asks for IO[bytes]
        return zstandard.ZstdDecompressor().stream_reader(peek, read_across_frames=True)  # type: ignore[arg-type]
    return peek


class FileSink:
    """Routes wanted files to analyzers: per-file analyzers run at once (content dropped after), layer-level
    analyzers run at `finish()` with all their files. Shared by the tar walker and the `dir:` walker."""

    def __init__(self, analyzers: list[Analyzer], limits: Limits, tmp_dir: str) -> None:
        self.analyzers, self.limits = analyzers, limits
        self.ctx = AnalysisContext(tmp_dir=tmp_dir, max_packages=limits.max_layer_packages)
        self.result = LayerResult()
        self.spooled = 0  # bytes of this layer's files on disk now
        self.in_memory = 0  # bytes of small files kept in memory until the layer ends
        self.capped = False  # the package cap was hit
        self.deferred: dict[int, list[FileEntry]] = {}
        self.kept: dict[str, FileEntry] = {}  # deferred entries by path, for hard links

    def wanting(self, path: str, size: int, mode: int) -> list[int]:
        return [i for i, a in enumerate(self.analyzers) if a.wants(path, size, mode)]

    def wants(self, path: str, size: int = 0, mode: int = 0o755) -> bool:
        return path in OS_FILES or is_content_manifest(path) or bool(self.wanting(path, size, mode))

    def add_link(self, path: str, target: str) -> None:
        """Only release files are resolved through links (e.g. /etc/os-release -> ../usr/lib/os-release);
        package files are analysed where they really are."""
        if path in OS_FILES:
            self.result.links[path] = target
            self.result.paths.append(path)

    def add_file(self, path: str, size: int, mode: int, fh: BinaryIO | None) -> None:
        """`fh` is read only if someone wants the file (None: the caller has nothing to read)."""
        indexes = self.wanting(path, size, mode)
        is_os = path in OS_FILES or is_content_manifest(path)
        if not indexes and not is_os:
            return
        self.result.paths.append(path)
        if fh is None:
            return
        cap = OS_FILE_CAP if is_os and not indexes else self.limits.max_file_bytes
        if size > cap:
            self.mark_partial(f"{path}: {size} bytes is over the per-file cap of {cap}, not analysed")
            return
        keep_all = any(not self.analyzers[i].per_file for i in indexes)
        to_disk = size > INLINE_LIMIT or (keep_all and self.in_memory + size > MAX_HELD_IN_MEMORY)
        if to_disk and self.spooled + size > self.limits.max_spool_bytes:
            self.mark_partial(f"{path}: {size} bytes would take the layer's spooled files past the cap of "
                              f"{self.limits.max_spool_bytes} bytes, not analysed")
            return
        entry = self._read(path, size, mode, fh, to_disk)
        if is_os:
            self.result.os_files[path] = entry.read()[:OS_FILE_CAP].decode("utf-8", "replace")
        spooled = entry.disk_path is not None
        keep = False
        for i in indexes:
            analyzer = self.analyzers[i]
            if analyzer.per_file:
                self._analyze(i, [entry])
            else:
                self.deferred.setdefault(i, []).append(entry)
                self.kept[path] = entry
                keep = True
        if spooled and not keep and entry.disk_path:
            self._unlink(entry)
        elif keep and not spooled:
            self.in_memory += entry.size

    def mark_partial(self, reason: str) -> None:
        """The layer was not fully analysed: a warning, a reason the scan reports, and no caching."""
        self.result.warnings.append(reason)
        self.result.partial.append(reason)
        self.result.complete = False

    def _unlink(self, entry: FileEntry) -> None:
        if entry.disk_path and os.path.exists(entry.disk_path):
            os.unlink(entry.disk_path)
            self.spooled -= entry.size
        entry.disk_path = None

    def add_hardlink(self, path: str, target: str) -> None:
        source = self.kept.get(target)
        if source is not None and self.wanting(path, source.size, source.mode):
            for i in self.wanting(path, source.size, source.mode):
                alias = dataclasses.replace(source, path=path)
                if self.analyzers[i].per_file:
                    self._analyze(i, [alias])
                else:
                    self.deferred.setdefault(i, []).append(alias)
            self.result.paths.append(path)
        else:
            self.add_link(path, target)

    def _read(self, path: str, size: int, mode: int, fh: BinaryIO, to_disk: bool) -> FileEntry:
        if not to_disk:
            data = fh.read(size + 1)
            return FileEntry(path=path, size=len(data), mode=mode, data=data[:size])
        fd, name = tempfile.mkstemp(dir=self.ctx.tmp_dir)
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while written < size and (chunk := fh.read(min(CHUNK, size - written))):
                    out.write(chunk)
                    written += len(chunk)
        except BaseException:
            os.unlink(name)
            raise
        self.spooled += written
        return FileEntry(path=path, size=written, mode=mode, disk_path=name)

    def _analyze(self, index: int, entries: list[FileEntry]) -> None:
        """Run one analyzer and keep what it found, up to the layer's package cap."""
        analyzer = self.analyzers[index]
        capped = False
        try:
            analysis = analyzer.analyze(entries, self.ctx)
        except TooManyPackages as exc:
            analysis, capped = AnalysisResult(packages=exc.packages), True
        except Exception as exc:  # noqa: BLE001 - an analyzer bug must not lose the other formats
            self.result.warnings.append(f"analyzer {analyzer.name}: {type(exc).__name__}: {exc}")
            return
        self.result.warnings.extend(analysis.warnings)
        cap = self.limits.max_layer_packages
        room = max(0, cap - len(self.result.packages))
        self.result.packages.extend(analysis.packages[:room])
        self.ctx.found = len(self.result.packages)
        if (capped or len(analysis.packages) > room) and not self.capped:
            self.capped = True
            self.mark_partial(f"more than {cap} packages in this layer (the per-layer cap): the rest were not "
                              f"analysed")

    def discard(self) -> None:
        """Remove every spooled file without analysing it (the walk was interrupted)."""
        for entries in self.deferred.values():
            for entry in entries:
                self._unlink(entry)
        self.deferred.clear()
        self.kept.clear()

    def finish(self) -> LayerResult:
        for i, entries in sorted(self.deferred.items()):
            self._analyze(i, entries)
        for entries in self.deferred.values():
            for entry in entries:
                self._unlink(entry)
        self.deferred.clear()
        self.kept.clear()
        self.in_memory = 0
        return self.result


class _Pipeline:
    """Decompression (and, when needed, diff_id hashing) on helper threads that release the GIL, so the main
    thread only parses tar headers. Chunks travel through bounded queues: memory stays at a few MB.

    What is hashed proves the layer is the one the cache key names: the compressed blob against its
    descriptor digest when there is one (cheaper: fewer bytes; skipped when the stream verifies itself, as
    registry downloads do), else the uncompressed tar against the config's diff_id."""

    QUEUE = 8

    def __init__(self, blob: Reader, cap: int, label: str, hash_compressed: bool, hash_uncompressed: bool) -> None:
        import queue
        import threading

        self.cap, self.label = cap, label
        self.hash_compressed, self.hash_uncompressed = hash_compressed, hash_uncompressed
        hashing = hash_compressed or hash_uncompressed
        self.to_hash: queue.Queue[bytes | None] | None = queue.Queue(self.QUEUE) if hashing else None
        self.blob = _Tee(blob, self) if hash_compressed else blob
        self.chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(self.QUEUE)
        self.stop = threading.Event()
        self.sha = hashlib.sha256()
        self.total = 0
        self.producer = threading.Thread(target=self._produce, daemon=True)
        self.hasher = threading.Thread(target=self._hash, daemon=True) if hashing else None
        self.producer.start()
        if self.hasher:
            self.hasher.start()

    def _put(self, q: queue.Queue[_T], item: _T) -> bool:
        import queue

        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        item: BaseException | None = None
        try:
            stream = decompressing(self.blob)
            while not self.stop.is_set():
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                self.total += len(chunk)
                if self.total > self.cap:
                    raise LayerError(f"{self.label} inflates past the {self.cap} byte cap")
                if self.hash_uncompressed and self.to_hash is not None and not self._put(self.to_hash, chunk):
                    return
                if not self._put(self.chunks, chunk):
                    return
            if isinstance(self.blob, _Tee):
                self.blob.drain()  # bytes after the end of the compressed stream count for the digest
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which reports it
            item = exc
        if self.to_hash is not None:
            self._put(self.to_hash, None)
        self._put(self.chunks, item)

    def _hash(self) -> None:
        import queue

        assert self.to_hash is not None
        while not self.stop.is_set():
            try:
                chunk = self.to_hash.get(timeout=0.1)
            except queue.Empty:
                continue
            if chunk is None:
                return
            self.sha.update(chunk)

    def next_chunk(self) -> bytes:
        item = self.chunks.get()
        if isinstance(item, BaseException):
            raise item
        return item or b""

    def finish(self) -> tuple[str | None, str | None]:
        """(compressed digest, diff_id), each None when not computed."""
        self.producer.join()
        if self.hasher:
            self.hasher.join()
        digest = "sha256:" + self.sha.hexdigest()
        return (digest if self.hash_compressed else None, digest if self.hash_uncompressed else None)

    def abort(self) -> None:
        self.stop.set()
        self.producer.join(timeout=5)
        if self.hasher:
            self.hasher.join(timeout=5)


class _Tee:
    """The compressed blob as read by the decompressor, each piece also handed to the hashing thread."""

    def __init__(self, raw: Reader, pipeline: _Pipeline) -> None:
        self.raw, self.pipeline = raw, pipeline

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if data and self.pipeline.to_hash is not None:
            self.pipeline._put(self.pipeline.to_hash, data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _ForwardReader(_ReadIntoFromRead):
    """The decompressed tar as a file `tarfile` can use in random-access mode, as long as it only seeks
    forward (it does when members are read in order): skipping a member costs no copying."""

    def __init__(self, pipeline: _Pipeline) -> None:
        self.pipeline = pipeline
        self.buf = b""
        self.pos = 0
        self.offset = 0  # absolute position of buf[pos]
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.pipeline.next_chunk()
        if not chunk:
            self.eof = True
            return False
        self.buf, self.pos = chunk, 0
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        parts = []
        while size > 0:
            if self.pos >= len(self.buf) and not self._fill():
                break
            take = min(size, len(self.buf) - self.pos)
            parts.append(self.buf[self.pos : self.pos + take])
            self.pos += take
            self.offset += take
            size -= take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def seek(self, target: int, whence: int = 0) -> int:
        if whence != 0:
            raise OSError("only absolute seeks")
        if target < self.offset:
            raise OSError("cannot seek backwards in a layer stream")
        skip = target - self.offset
        while skip > 0:
            if self.pos >= len(self.buf) and not self._fill():
                break
            take = min(skip, len(self.buf) - self.pos)
            self.pos += take
            self.offset += take
            skip -= take
        return self.offset

    def tell(self) -> int:
        return self.offset

    def drain(self) -> None:
        while self._fill():
            self.offset += len(self.buf)
        self.pos = len(self.buf)

    def seekable(self) -> bool:
        return True


@dataclass
class TarEntry:
    name: str
    size: int
    mode: int
    kind: str  # "file", "dir", "symlink", "hardlink", "other"
    linkname: str = ""


_KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"5": "dir", b"2": "symlink", b"1": "hardlink"}
MAX_META = 1 << 20  # pax / GNU long-name records


def _octal(field: bytes) -> int:
    if field[:1] in (b"\x80", b"\xff"):  # base-256 (GNU) for big numbers
        value = int.from_bytes(field[1:], "big")
        return -value if field[:1] == b"\xff" else value
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _cstr(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        length = int(data[pos:space])
        if length <= 0:
            raise ValueError("bad pax record length")
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def iter_tar(reader: _ForwardReader) -> Iterator[TarEntry]:
    """Yield tar entries (ustar, GNU long names, pax); the caller reads or skips each entry's data before
    asking for the next. Checksums are verified; malformed headers raise ValueError."""
    long_name = long_link = None
    pax: dict[str, str] = {}
    while True:
        header = reader.read(512)
        if len(header) < 512:
            if not header:
                return  # no end marker: tolerated, as GNU tar does
            raise EOFError("truncated tar header")
        if header == b"\0" * 512:
            return
        stored = _octal(header[148:156])
        computed = sum(header) - sum(header[148:156]) + 256
        if stored != computed:
            raise ValueError("tar header checksum mismatch")
        size = _octal(header[124:136])
        if size < 0:
            raise ValueError("negative tar entry size")
        typeflag = header[156:157]
        data_start = reader.tell()
        padded = (size + 511) & ~511
        if typeflag in (b"L", b"K", b"x", b"g"):
            if size > MAX_META:
                raise ValueError("oversized tar metadata record")
            meta = reader.read(size)
            reader.seek(data_start + padded)
            if typeflag == b"L":
                long_name = meta.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif typeflag == b"K":
                long_link = meta.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif typeflag == b"x":
                pax.update(_pax(meta))
            continue
        name = _cstr(header[0:100])
        if header[257:262] == b"ustar" and header[345:346] != b"\0":
            name = _cstr(header[345:500]) + "/" + name
        linkname = _cstr(header[157:257])
        if long_name is not None:
            name = long_name
        if long_link is not None:
            linkname = long_link
        if "path" in pax:
            name = pax["path"]
        if "linkpath" in pax:
            linkname = pax["linkpath"]
        if "size" in pax:
            size = int(pax["size"])
            padded = (size + 511) & ~511
        long_name = long_link = None
        pax = {}
        kind = _KINDS.get(typeflag, "other")
        if kind == "file" and name.endswith("/"):
            kind = "dir"
        yield TarEntry(name=name, size=size if kind == "file" else 0, mode=_octal(header[100:108]) & 0o7777,
                       kind=kind, linkname=linkname)
        # as tarfile does: links, devices, dirs and fifos carry no data whatever their size field says
        reader.seek(data_start + (0 if typeflag in (b"1", b"2", b"3", b"4", b"5", b"6") else padded))


class _Bounded:
    """One tar entry's data as a file: reads stop at the entry's end."""

    def __init__(self, reader: _ForwardReader, size: int) -> None:
        self.reader, self.left = reader, size

    def read(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.reader.read(size)
        self.left -= len(data)
        if len(data) < size:
            raise EOFError("tar entry is truncated")
        return data


def walk_layer(blob: Reader, analyzers: list[Analyzer], limits: Limits, tmp_dir: str,
               label: str = "layer", verify: str = "diff_id") -> LayerResult:
    """Analyse one layer blob (any supported compression) in a single streaming pass.

    `verify`: "diff_id" hashes the uncompressed tar, "digest" the blob, "none" trusts a self-verifying stream."""
    sink = FileSink(analyzers, limits, tmp_dir)
    pipeline = _Pipeline(blob, limits.max_layer_bytes, label, hash_compressed=verify == "digest",
                         hash_uncompressed=verify == "diff_id")
    reader = _ForwardReader(pipeline)
    try:
        for entry in iter_tar(reader):
            _member(reader, entry, sink)
        reader.drain()  # the tar end marker is not the end of the stream: hash all of it
        sink.result.digest, sink.result.diff_id = pipeline.finish()
    except (EOFError, zlib.error, OSError, ValueError, LayerError, MemoryError, RuntimeError) as exc:
        pipeline.abort()
        sink.mark_partial(f"{label}: unreadable, analysed up to the damage: {type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - zstandard.ZstdError and friends: still a bad layer, not a crash
        pipeline.abort()
        sink.mark_partial(f"{label}: unreadable: {type(exc).__name__}: {exc}")
    except BaseException:
        pipeline.abort()
        sink.discard()  # a signal or exit: spooled files go now, not only with the temp dir
        raise
    return sink.finish()


def _member(reader: _ForwardReader, member: TarEntry, sink: FileSink) -> None:
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
    if member.kind == "file":
        if sink.wants(path, member.size, member.mode):
            sink.add_file(path, member.size, member.mode, _Bounded(reader, member.size))  # type: ignore[arg-type]
    elif member.kind == "symlink":
        sink.add_link(path, resolve_link(path, member.linkname))
    elif member.kind == "hardlink":
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
