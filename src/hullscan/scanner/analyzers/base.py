"""The analyzer interface: a package format is one module that says which paths it needs and parses them.

Analyzers never see the tar stream or the network: the layer walker hands them the files they asked for,
already bounded by the per-file cap. A parse error in one file is a warning naming that file, never fatal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, BinaryIO, Protocol

from hullscan.scanner.inventory import Package

if TYPE_CHECKING:
    import zipfile  # imported where archives are opened: scanning without archives stays fast

INLINE_LIMIT = 1 << 20  # larger files are spooled into the walker's temp dir, not kept in memory
MAX_ZIP_MEMBER_BYTES = 1 << 20  # a metadata file inside an archive (pom.properties, MANIFEST.MF, PKG-INFO)


@dataclass
class FileEntry:
    """A file an analyzer wanted: its normalised absolute path in the image and its content."""

    path: str
    size: int
    mode: int = 0o644
    data: bytes | None = None  # content when small
    disk_path: str | None = None  # spooled copy (inside the walker's temp dir) when large

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.disk_path is not None
        with open(self.disk_path, "rb") as fh:
            return fh.read()

    def open(self) -> BinaryIO:
        import io

        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.disk_path is not None
        return open(self.disk_path, "rb")

    def materialize(self, tmp_dir: str) -> str:
        """A real file path (for sqlite3 and mmap), written inside `tmp_dir` when the content is in memory."""
        if self.disk_path is not None:
            return self.disk_path
        import tempfile

        fd, name = tempfile.mkstemp(dir=tmp_dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.data or b"")
        self.disk_path = name
        return name


@dataclass
class AnalysisResult:
    packages: list[Package] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: AnalysisResult) -> None:
        self.packages.extend(other.packages)
        self.warnings.extend(other.warnings)


class TooManyPackages(Exception):
    """A layer holds more packages than the per-layer cap; carries those found before the cap."""

    def __init__(self, limit: int, packages: list[Package] | None = None) -> None:
        super().__init__(f"more than {limit} packages in one layer (the per-layer cap)")
        self.limit = limit
        self.packages = packages or []


@dataclass
class AnalysisContext:
    """What an analyzer may use besides the files: a scratch dir inside the walker's temp dir, and how many
    packages the layer may still hold (analyzers of big databases stop there instead of building them all)."""

    tmp_dir: str
    max_packages: int | None = None
    found: int = 0  # packages the layer already holds

    def packages_left(self, pending: int = 0) -> int | None:
        """How many more packages an analyzer may return, besides the `pending` it already holds."""
        if self.max_packages is None:
            return None
        return max(0, self.max_packages - self.found - pending)


class Analyzer(Protocol):
    """One package format. `version` is part of the layer-cache key: bump it when results change."""

    name: str
    version: int
    #: True when each file is self-contained: the walker calls `analyze([file])` as soon as it is read and
    #: drops the content, so big binaries never pile up. False: called once per layer with all its files.
    per_file: bool

    def wants(self, path: str, size: int, mode: int) -> bool:
        """Cheap, path-based: does this analyzer need that file? `path` is absolute and normalised."""
        ...

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult: ...


@dataclass
class PerFileAnalyzer:
    """A format whose files are each self-contained: `parse` reads one file. The error policy lives here once:
    whatever goes wrong in a file is a warning naming it, except the package cap, which ends the scan."""

    name: str
    version: int
    wants: Callable[[str, int, int], bool]
    parse: Callable[[FileEntry, AnalysisContext], Iterable[Package]]
    per_file: bool = True

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult:
        result = AnalysisResult()
        for entry in files:
            try:
                result.packages.extend(self.parse(entry, ctx))
            except TooManyPackages:
                raise
            except Exception as exc:  # noqa: BLE001
                result.warnings.append(warn(entry.path, exc))
        return result


def read_zip_member(archive: zipfile.ZipFile, member: str | zipfile.ZipInfo,
                    limit: int = MAX_ZIP_MEMBER_BYTES) -> bytes | None:
    """One metadata member of a jar or egg, None when absent; ValueError when declared larger than `limit`
    (zipfile stops reading at the declared size, so a member that inflates further cannot bypass the cap)."""
    if isinstance(member, str):
        try:
            member = archive.getinfo(member)
        except KeyError:
            return None
    if member.file_size > limit:
        raise ValueError(f"{member.filename}: {member.file_size} bytes is over the {limit} byte cap, not read")
    return archive.read(member)


def warn(path: str, exc: BaseException | str) -> str:
    """The one warning format: names the file and says what was wrong."""
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return f"{path}: {text}"[:500]
