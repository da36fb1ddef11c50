"""Go binaries (ELF, PE, Mach-O): the build info Go 1.18+ embeds inline after the `\\xff Go buildinf:` magic.

Yields a `stdlib` component at the toolchain version, the main module and every dependency (replacements
applied, as `go version -m` shows them).
"""

from __future__ import annotations

from packageurl import PackageURL

from hullscan.scanner.analyzers import binary
from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, FileEntry, warn
from hullscan.scanner.inventory import Package

MAGIC = b"\xff Go buildinf:"
MIN_SIZE = 1024


def _uvarint(buf: binary.Buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(buf) and shift < 64:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise ValueError("bad varint in build info")


def read_buildinfo(buf: binary.Buf) -> tuple[str, str] | None:
    """(go version, modinfo text) or None when the binary carries no (inline) build info."""
    pos = buf.find(MAGIC)
    while pos >= 0 and pos % 16:
        pos = buf.find(MAGIC, pos + 1)
    if pos < 0 or pos + 32 > len(buf):
        return None
    flags = buf[pos + 15]
    if not flags & 0x2:
        raise ValueError("pre-Go-1.18 build info (pointer format) is not supported")
    cursor = pos + 32
    length, cursor = _uvarint(buf, cursor)
    version = bytes(buf[cursor : cursor + length]).decode("utf-8", "replace")
    cursor += length
    length, cursor = _uvarint(buf, cursor)
    mod = bytes(buf[cursor : cursor + length])
    if len(mod) >= 33 and mod[-17:-16] == b"\n":
        mod = mod[16:-16]
    return version, mod.decode("utf-8", "replace")


def go_purl(module: str, version: str | None) -> str:
    namespace, _, name = module.rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version or None).to_string()


def packages_from_buildinfo(version: str, modinfo: str, path: str) -> list[Package]:
    found = [Package(name="stdlib", version=version, type="go", purl=go_purl("stdlib", version), path=path,
                     properties={"kind": "stdlib"})]
    for line in modinfo.splitlines():
        parts = line.split("\t")
        if parts[0] in ("mod", "dep") and len(parts) >= 2:
            ver = parts[2] if len(parts) >= 3 else ""
            found.append(Package(name=parts[1], version=ver, type="go", purl=go_purl(parts[1], ver), path=path,
                                 properties={"kind": parts[0]}))
        elif parts[0] == "=>" and len(parts) >= 3 and len(found) > 1:
            replaced = found[-1]  # a replacement applies to the line just above it
            replaced.name, replaced.version = parts[1], parts[2]
            replaced.purl = go_purl(parts[1], parts[2])
            replaced.properties["replaced"] = "true"
    return found


class GoBinaryAnalyzer:
    name = "gobinary"
    version = 1
    per_file = True

    def wants(self, path: str, size: int, mode: int) -> bool:
        return size >= MIN_SIZE and (bool(mode & 0o111) or path.endswith(".exe"))

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult:
        result = AnalysisResult()
        for entry in files:
            try:
                with entry.open() as fh:
                    if binary.sniff(fh.read(4)) is None:
                        continue
                    info = read_buildinfo(binary.view(fh, entry.data))
                if info:
                    result.packages.extend(packages_from_buildinfo(*info, entry.path))
            except Exception as exc:  # noqa: BLE001
                result.warnings.append(warn(entry.path, exc))
        return result
