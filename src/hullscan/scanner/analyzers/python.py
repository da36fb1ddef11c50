"""Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, bare `*.egg-info` files and zipped
`*.egg` files (their `EGG-INFO/PKG-INFO`), anywhere."""

from __future__ import annotations

import re
from packageurl import PackageURL

from hullscan.scanner.analyzers.base import AnalysisContext, FileEntry, PerFileAnalyzer, read_zip_member
from hullscan.scanner.inventory import Package


def normalize_name(name: str) -> str:
    """PEP 503 normalised name, as PURLs and advisories use it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_headers(text: str) -> dict[str, list[str]]:
    """The RFC 822 header block of a METADATA/PKG-INFO file (up to the first blank line): every value of each
    field, continuation lines joined. Linear in the text (lines are collected, joined once), unlike
    `email.parser`, which is several times slower on long folded fields."""
    fields: dict[str, list[list[str]]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t":
            if current is not None:
                current.append(line.strip())
            continue
        key, sep, value = line.partition(":")
        if not sep:
            current = None
            continue
        current = [value.strip()]
        fields.setdefault(key.strip().lower(), []).append(current)
    return {key: ["\n".join(parts) for parts in found] for key, found in fields.items()}


def licenses_from_metadata(headers: dict[str, list[str]]) -> list[str]:
    def first(name: str) -> str:
        found = headers.get(name.lower())
        return found[0].strip() if found else ""

    if expression := first("License-Expression"):
        return [expression]
    license_field = first("License")
    if license_field and license_field.upper() != "UNKNOWN" and "\n" not in license_field and len(license_field) < 100:
        return [license_field]
    found = []
    for classifier in headers.get("classifier", []):
        parts = [p.strip() for p in classifier.split("::")]
        if parts[0] == "License" and len(parts) > 1 and parts[-1] not in ("OSI Approved",):
            found.append(parts[-1])
    return found


_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EXTRA = re.compile(r"\bextra\b")
_OR = re.compile(r"\bor\b")


def required_names(values: list[str]) -> list[str]:
    """The normalised names of `Requires-Dist` values (PEP 508), without those that only an extra needs (a
    marker naming `extra` with no `or`). By hand rather than with packaging.requirements, whose import costs
    25 ms on every scan; tests/scanner/test_properties.py checks it against packaging."""
    names: dict[str, None] = {}  # ordered, de-duplicated
    for value in values:
        requirement, _, marker = value.partition(";")
        if _EXTRA.search(marker) and not _OR.search(marker):
            continue
        if match := _REQUIREMENT_NAME.match(requirement):
            names[normalize_name(match[1])] = None
    return list(names)


def parse_metadata(data: bytes, path: str) -> Package | None:
    headers = read_headers(data.decode("utf-8", "replace"))
    name = (headers.get("name") or [""])[0].strip()
    if not name:
        raise ValueError("no Name field")
    version = (headers.get("version") or [""])[0].strip()
    normalized = normalize_name(name)
    purl = PackageURL(type="pypi", name=normalized, version=version or None).to_string()
    return Package(name=name, version=version, type="python", purl=purl, licenses=licenses_from_metadata(headers),
                   path=path, depends=required_names(headers.get("requires-dist", [])), provides=[normalized])


EGG_PKG_INFO = "EGG-INFO/PKG-INFO"
EGG_REQUIRES = "EGG-INFO/requires.txt"


def egg_required_names(text: str) -> list[str]:
    """setuptools' `requires.txt`: requirements before any section, and in `[:marker]` sections, are needed;
    `[extra]` and `[extra:marker]` sections only with that extra."""
    wanted: list[str] = []
    needed = True
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            needed = line.startswith("[:")
        elif line and not line.startswith("#") and needed:
            wanted.append(line)
    return required_names(wanted)


def parse_egg(entry: FileEntry) -> Package | None:
    """A zipped egg: its `EGG-INFO/PKG-INFO` and `requires.txt` (size-capped like every archive member); None
    when it has no PKG-INFO."""
    import zipfile

    with entry.open() as fh, zipfile.ZipFile(fh) as archive:
        data = read_zip_member(archive, EGG_PKG_INFO)
        requires = read_zip_member(archive, EGG_REQUIRES) if data is not None else None
    if data is None:
        return None
    package = parse_metadata(data, entry.path)
    if package is not None and requires is not None:
        package.depends = list(dict.fromkeys(package.depends + egg_required_names(requires.decode("utf-8", "replace"))))
    return package


def _wants(path: str, size: int, mode: int) -> bool:
    lower = path.lower()
    if lower.endswith("dist-info/metadata") or lower.endswith("egg-info/pkg-info"):
        return True
    return lower.endswith((".egg-info", ".egg")) and mode & 0o170000 != 0o040000


def _parse(entry: FileEntry, ctx: AnalysisContext) -> list[Package]:
    if entry.path.lower().endswith(".egg"):
        package = parse_egg(entry)
    else:
        package = parse_metadata(entry.read(), entry.path)
    return [package] if package else []


PYTHON = PerFileAnalyzer("python", 5, _wants, _parse)
