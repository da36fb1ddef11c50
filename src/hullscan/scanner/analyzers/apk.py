"""Alpine/Wolfi packages: the apk database `/lib/apk/db/installed` (one `K:value` record per package)."""

from __future__ import annotations

import re

from hullscan.scanner.analyzers.base import PerFileAnalyzer, TooManyPackages
from hullscan.scanner.inventory import Package

DB_PATHS = ("/lib/apk/db/installed", "/usr/lib/apk/db/installed")


def split_licenses(value: str) -> list[str]:
    """An SPDX expression stays whole; a legacy space-separated list (`MIT BSD GPL2+`) is split."""
    value = value.strip()
    if not value:
        return []
    if any(op in value for op in (" AND ", " OR ", " WITH ", "(")):
        return [value]
    return value.split()


_CONSTRAINT = re.compile(r"[<>=~]")


def dependency_names(field: str) -> list[str]:
    """An apk `D:` or `p:` field: blank-separated names (`so:libc.musl-x86_64.so.1`, `cmd:sh`, `/bin/sh`,
    `musl>=1.2`), each without its version constraint; `!conflicts` are not dependencies."""
    names = []
    for word in field.split():
        if not word.startswith("!"):
            name = _CONSTRAINT.split(word, 1)[0]
            if name:
                names.append(name)
    return names


def parse_installed(text: str, path: str, limit: int | None = None) -> list[Package]:
    """One package per blank-line separated record; linear in the text. Stops after `limit` packages
    (TooManyPackages, carrying those found)."""
    packages: list[Package] = []
    record: dict[str, str] = {}

    def flush() -> None:
        name, version = record.get("P"), record.get("V")
        if name and version:
            if limit is not None and len(packages) >= limit:
                raise TooManyPackages(limit, packages)
            props = {k: v for k, v in (("commit", record.get("c")), ("maintainer", record.get("m"))) if v}
            packages.append(
                Package(name=name, version=version, type="apk", source_name=record.get("o") or name,
                        source_version=version, arch=record.get("A"), licenses=split_licenses(record.get("L", "")),
                        path=path, properties=props, depends=dependency_names(record.get("D", "")),
                        provides=dependency_names(record.get("p", "")))
            )
        record.clear()

    for line in text.splitlines():
        if not line.strip():
            flush()
            continue
        key, sep, value = line.partition(":")
        if sep and len(key) == 1 and key not in record:
            record[key] = value
    flush()
    return packages


APK = PerFileAnalyzer("apk", 2, lambda path, size, mode: path in DB_PATHS, lambda entry, ctx: parse_installed(
    entry.read().decode("utf-8", "replace"), entry.path, ctx.packages_left(0)))
