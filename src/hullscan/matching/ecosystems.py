"""Where an installed package is looked up: advisory ecosystem, package key and version scheme.

OS packages are keyed by distro release and SOURCE package name (GITLAB-FACTS "Continuous vulnerability
scanning"); language packages by OSV ecosystem and normalised name.
"""

from __future__ import annotations

import functools

from hullscan import ecosystems as table
from hullscan.ecosystems import LANGUAGE_ECOSYSTEMS, UnsupportedRelease, normalize_name
from hullscan.scanner.inventory import OperatingSystem, Package

__all__ = [
    "LANGUAGE_ECOSYSTEMS", "UnsupportedRelease", "language_name", "normalize_name", "os_ecosystem",
    "os_lookup_names", "os_package_type", "os_version_of", "scheme_for",
]


def scheme_for(ecosystem: str) -> str | None:
    """The version scheme of an ecosystem, None when the table has no row for it."""
    try:
        return table.scheme_for_ecosystem(ecosystem)
    except table.UnknownEcosystem:
        return None


def os_ecosystem(os: OperatingSystem, repository_release: str | None = None) -> str:
    """The distro-release ecosystem whose advisories apply to this OS (`Debian:12`, `Alpine:v3.19`, ...)."""
    return table.os_ecosystem(os.family, os.version or "", repository_release)


def os_package_type(os: OperatingSystem | None) -> str | None:
    """The package type of the image's distribution (only those packages are matched against its advisories)."""
    return table.package_type_for_family(os.family) if os is not None else None


def language_name(pkg: Package) -> str:
    """The name advisories use for a language package: purl namespace joined as the ecosystem writes it."""
    if not pkg.purl:
        return pkg.name
    name = _purl_name(pkg.purl)
    return pkg.name if name is None else name


@functools.lru_cache(maxsize=65536)
def _purl_name(text: str) -> str | None:
    from hullscan.scanner.purl import parse_purl

    purl = parse_purl(text)
    if purl is None:
        return None
    if purl.namespace:
        kind = table.KIND_BY_PURL_TYPE.get(purl.type)
        sep = kind.namespace_sep if kind else "/"
        return f"{purl.namespace}{sep}{purl.name}"
    return purl.name


def os_version_of(pkg: Package) -> str:
    """The version compared against distro advisories: the source version for deb/apk (what DSA/secdb
    fixed versions name), the binary EVR with its epoch for rpm (whose advisories list binary packages)."""
    if table.KINDS[pkg.type].keyed_by == "binary":
        version = pkg.version
        epoch = pkg.properties.get("epoch") if pkg.properties else None
        if epoch and epoch != "0" and ":" not in version:
            version = f"{epoch}:{version}"
        return version
    return pkg.source_version or pkg.version


def os_lookup_names(pkg: Package) -> list[str]:
    """Package keys of an OS package: the name its advisories use (source for deb/apk, binary for rpm); a
    package built in a module stream only under `module:stream::name`, so other streams' advisories and the
    non-modular package's never apply to it."""
    kind = table.KINDS[pkg.type]
    if kind.keyed_by == "binary":
        props = pkg.properties or {}
        stream = table.module_stream(props.get("modularitylabel") or props.get("modularity_label"))
        return [table.modular_name(stream, pkg.name) if stream else pkg.name]
    return [pkg.source_name or pkg.name]
