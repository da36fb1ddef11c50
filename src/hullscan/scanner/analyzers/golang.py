"""Go binaries (ELF, PE, Mach-O): the build info Go 1.18+ embeds inline after the `\\xff Go buildinf:` magic.

Yields a `stdlib` component at the toolchain version, the main module and every dependency (replacements
applied, as `go version -m` shows them). A main module built outside a module download (`(devel)`) takes
its version from the `-ldflags` build setting only as docs/scanner.md ("Go binaries") says: one `-X`
flag setting `main.version` or `<path>/version.Version` (any case of `version`) to a semantic version, and
only one such flag; anything else leaves the version unknown.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from hullscan.scanner.analyzers import binary
from hullscan.scanner.analyzers.base import AnalysisContext, FileEntry, PerFileAnalyzer
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


_GO_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)")
_GO_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SEMVER = re.compile(r"v?(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)"
                     r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\Z")
_MAX_LDFLAGS = 1 << 16  # a build setting longer than this is not looked at


def go_unquote(text: str) -> str:
    """A build setting value as `go version -m` prints it: Go-quoted (strconv.Quote) when it holds blanks or
    quotes, else bare."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text

    def one(match: re.Match[str]) -> str:
        code = match[1]
        if code[0] in "xuU" and len(code) > 1:
            return chr(min(int(code[1:], 16), 0x10FFFF))
        if code[0] in "01234567" and len(code) == 3:
            return chr(int(code, 8))
        return _GO_SIMPLE_ESCAPES.get(code, code)

    return _GO_ESCAPE.sub(one, text[1:-1])


def split_flags(text: str) -> list[str]:
    """Fields of a flag string as the go command splits `-ldflags`: blanks separate fields, a field that
    starts with a quote (' or ") runs to the matching quote, with no escapes."""
    fields: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] in "'\"":
            end = text.find(text[i], i + 1)
            end = n if end < 0 else end
            fields.append(text[i + 1 : end])
            i = end + 1
            continue
        start = i
        while i < n and not text[i].isspace():
            i += 1
        fields.append(text[start:i])
    return fields


def ldflags_version(ldflags: str) -> str | None:
    """The main module's version from `-X importpath.name=value` flags, under the documented rule; None unless
    exactly one flag qualifies (Trivy too gives up when several do)."""
    fields = split_flags(ldflags[:_MAX_LDFLAGS])
    found: list[str] = []
    for i, field in enumerate(fields):
        if field in ("-X", "--X") and i + 1 < len(fields):
            setting = fields[i + 1]
        elif field.startswith(("-X=", "--X=")):
            setting = field.partition("=")[2]
        else:
            continue
        key, sep, value = setting.partition("=")
        package, dot, name = key.rpartition(".")
        if not sep or not dot or name.lower() != "version":
            continue
        if (package == "main" or package.rpartition("/")[2] == "version") and _SEMVER.match(value):
            found.append("v" + value.removeprefix("v"))
    return found[0] if len(found) == 1 else None


def packages_from_buildinfo(version: str, modinfo: str, path: str) -> list[Package]:
    ldflags = next((go_unquote(line[len("build\t-ldflags="):]) for line in modinfo.splitlines()
                    if line.startswith("build\t-ldflags=")), None)
    found = [Package(name="stdlib", version=version, type="go", purl=go_purl("stdlib", version), path=path,
                     properties={"kind": "stdlib"})]
    for line in modinfo.splitlines():
        parts = line.split("\t")
        if parts[0] in ("mod", "dep") and len(parts) >= 2:
            ver = parts[2] if len(parts) >= 3 else ""
            props = {"kind": parts[0]}
            if parts[0] == "mod" and ver in ("", "(devel)") and ldflags and (flagged := ldflags_version(ldflags)):
                ver, props["version_from"] = flagged, "ldflags"
            found.append(Package(name=parts[1], version=ver, type="go", purl=go_purl(parts[1], ver), path=path,
                                 properties=props))
        elif parts[0] == "=>" and len(parts) >= 3 and len(found) > 1:
            replaced = found[-1]  # a replacement applies to the line just above it
            replaced.name, replaced.version = parts[1], parts[2]
            replaced.purl = go_purl(parts[1], parts[2])
            replaced.properties["replaced"] = "true"
    main = next((p for p in found if p.properties["kind"] == "mod"), None)
    if main is not None:  # the main module is built from every other module in the binary (no finer graph)
        main.depends = [f"{p.name} {p.version}" for p in found if p is not main]
    return found


def _parse(entry: FileEntry, ctx: AnalysisContext) -> list[Package]:
    with entry.open() as fh:
        if binary.sniff(fh.read(4)) is None:
            return []
        info = read_buildinfo(binary.view(fh, entry.data))
    return packages_from_buildinfo(*info, entry.path) if info else []


GO_BINARY = PerFileAnalyzer("gobinary", 2, lambda path, size, mode: size >= MIN_SIZE and (
    bool(mode & 0o111) or path.endswith(".exe")), _parse)
