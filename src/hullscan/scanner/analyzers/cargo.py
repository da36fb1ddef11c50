"""Rust crates: `cargo auditable` binaries (zlib-compressed JSON in the ELF `.dep-v0` section) and Cargo.lock."""

from __future__ import annotations

import json
import posixpath
import zlib

from packageurl import PackageURL

from hullscan.scanner.analyzers import binary
from hullscan.scanner.analyzers.base import AnalysisContext, FileEntry, PerFileAnalyzer
from hullscan.scanner.inventory import Package

MAX_DEP_INFO = 8 << 20


def _crate(name: str, version: str, path: str, registry: bool) -> Package:
    purl = PackageURL(type="cargo", name=name, version=version).to_string() if registry else None
    return Package(name=name, version=version, type="cargo", purl=purl, path=path)


def parse_cargo_lock(data: bytes, path: str) -> list[Package]:
    import tomllib

    doc = tomllib.loads(data.decode("utf-8", "replace"))
    found = []
    for item in doc.get("package") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("version"), str):
            found.append(_crate(item["name"], item["version"], path, bool(item.get("source"))))
    return found


def parse_dep_v0(section: bytes, path: str) -> list[Package]:
    decompressor = zlib.decompressobj()
    raw = decompressor.decompress(section, MAX_DEP_INFO)
    if decompressor.unconsumed_tail:
        raise ValueError(".dep-v0 inflates past its cap")
    doc = json.loads(raw)
    return [_crate(p["name"], p["version"], path, p.get("source", "registry") != "local")
            for p in doc.get("packages", []) if isinstance(p, dict) and "name" in p and "version" in p]


def _wants(path: str, size: int, mode: int) -> bool:
    return posixpath.basename(path) == "Cargo.lock" or (size >= 1024 and bool(mode & 0o111))


def _parse(entry: FileEntry, ctx: AnalysisContext) -> list[Package]:
    if posixpath.basename(entry.path) == "Cargo.lock":
        return parse_cargo_lock(entry.read(), entry.path)
    with entry.open() as fh:
        if binary.sniff(fh.read(4)) != binary.ELF:
            return []
        section = binary.elf_section(binary.view(fh, entry.data), ".dep-v0")
    return parse_dep_v0(section, entry.path) if section else []


CARGO = PerFileAnalyzer("cargo", 1, _wants, _parse)
