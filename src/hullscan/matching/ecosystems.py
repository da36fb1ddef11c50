"""Where an installed package is looked up: advisory ecosystem, package key and version scheme.

OS packages are keyed by distro release and SOURCE package name (GITLAB-FACTS "Continuous vulnerability
scanning"); language packages by OSV ecosystem and normalised name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from hullscan.scanner.inventory import OperatingSystem, Package

# Package.type -> OSV ecosystem of language packages.
LANGUAGE_ECOSYSTEMS: dict[str, str] = {
    "python": "PyPI",
    "npm": "npm",
    "go": "Go",
    "java": "Maven",
    "gem": "RubyGems",
    "composer": "Packagist",
    "cargo": "crates.io",
    "nuget": "NuGet",
}

# purl type -> Package.type (for SBOMs written by other tools).
PURL_TYPES: dict[str, str] = {
    "deb": "deb",
    "apk": "apk",
    "rpm": "rpm",
    "pypi": "python",
    "npm": "npm",
    "golang": "go",
    "maven": "java",
    "gem": "gem",
    "composer": "composer",
    "cargo": "cargo",
    "nuget": "nuget",
}

OS_TYPE_FOR_FAMILY: dict[str, str] = {
    "debian": "deb",
    "ubuntu": "deb",
    "alpine": "apk",
    "wolfi": "apk",
    "chainguard": "apk",
    "rhel": "rpm",
    "redhat": "rpm",
    "centos": "rpm",
    "almalinux": "rpm",
    "alma": "rpm",
    "rocky": "rpm",
    "amazon": "rpm",
    "oracle": "rpm",
    "ol": "rpm",
    "fedora": "rpm",
}

# Version scheme per ecosystem family (the part before `:`), as `hullscan.versions` names them.
SCHEMES: dict[str, str] = {
    "Debian": "deb",
    "Ubuntu": "deb",
    "Alpine": "apk",
    "Wolfi": "apk",
    "Chainguard": "apk",
    "Red Hat": "rpm",
    "AlmaLinux": "rpm",
    "Rocky Linux": "rpm",
    "Amazon Linux": "rpm",
    "Oracle Linux": "rpm",
    "CentOS": "rpm",
    "Fedora": "rpm",
    "PyPI": "pypi",
    "npm": "npm",
    "Go": "go",
    "Maven": "maven",
    "RubyGems": "gem",
    "Packagist": "composer",
    "crates.io": "cargo",
    "NuGet": "nuget",
}

# Ubuntu releases that have Expanded Security Maintenance (LTS); `<release>-ESM` of others is outdated.
_UBUNTU_ESM = re.compile(r"^\d*[02468]\.04$")
_LEADING_INT = re.compile(r"^(\d+)")


class UnsupportedRelease(ValueError):
    """The image's distribution or release has no advisory ecosystem (reported once, never fatal)."""


def scheme_for(ecosystem: str) -> str | None:
    """The version scheme of an ecosystem: the version library's own mapping, this table as a fallback."""
    try:
        from hullscan.versions import scheme_for_ecosystem  # type: ignore[attr-defined]
    except ImportError:
        return SCHEMES.get(ecosystem.split(":", 1)[0])
    try:
        return scheme_for_ecosystem(ecosystem) or SCHEMES.get(ecosystem.split(":", 1)[0])
    except (KeyError, ValueError):
        return SCHEMES.get(ecosystem.split(":", 1)[0])


def _major(version: str) -> str:
    m = _LEADING_INT.match(version.strip())
    if not m:
        raise UnsupportedRelease(f"no major version in {version!r}")
    return m.group(1)


def os_ecosystem(os: OperatingSystem, repository_release: str | None = None) -> str:
    """The distro-release ecosystem whose advisories apply to this OS (`Debian:12`, `Alpine:v3.19`, ...)."""
    family = os.family.strip().lower()
    version = (os.version or "").strip()
    if family == "debian":
        return f"Debian:{_major(version)}"
    if family == "ubuntu":
        release, _, esm = version.partition("-")
        if not re.fullmatch(r"\d+\.\d+", release):
            raise UnsupportedRelease(f"ubuntu release {version!r}")
        if esm and esm.upper() == "ESM" and not _UBUNTU_ESM.match(release):
            raise UnsupportedRelease(f"ubuntu {release} has no ESM; {version} is out of support")
        return f"Ubuntu:{release}"
    if family == "alpine":
        release = (repository_release or version).strip()
        if release == "edge" or re.search(r"_(alpha|beta|pre|rc)|edge", release):
            return "Alpine:edge"
        m = re.match(r"^v?(\d+)\.(\d+)", release)
        if not m:
            raise UnsupportedRelease(f"alpine release {release!r}")
        return f"Alpine:v{m.group(1)}.{m.group(2)}"
    if family in ("almalinux", "alma"):
        return f"AlmaLinux:{_major(version)}"
    if family == "rocky":
        return f"Rocky Linux:{_major(version)}"
    if family in ("oracle", "ol"):
        return f"Oracle Linux:{_major(version)}"
    if family == "centos":
        return f"CentOS:{_major(version)}"
    if family == "fedora":
        return f"Fedora:{_major(version)}"
    if family == "amazon":
        major = _major(version) if version else "1"
        return f"Amazon Linux:{major if major in ('2', '2022', '2023') else '1'}"
    if family in ("rhel", "redhat"):
        return "Red Hat"
    if family == "wolfi":
        return "Wolfi"
    if family == "chainguard":
        return "Chainguard"
    raise UnsupportedRelease(f"no advisory source for {family} {version}".strip())


@functools.lru_cache(maxsize=65536)
def normalize_name(ecosystem: str, name: str) -> str:
    """Store key of a package name; the advisory store's own rule so both sides agree (cached: inventories
    and re-matches ask for the same names again and again)."""
    return _store_normalizer()(ecosystem, name)


@functools.cache
def _store_normalizer() -> Callable[[str, str], str]:
    try:
        from hullscan.advisories.normalize import normalize_name as store_normalize
    except ImportError:  # advisory part not installed: the same rules, stated here
        return _fallback_normalize
    return store_normalize


def _fallback_normalize(ecosystem: str, name: str) -> str:
    family = ecosystem.split(":", 1)[0]
    if family == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    if family in ("npm", "NuGet", "Packagist", "crates.io"):
        return name.lower()
    return name


def language_name(pkg: Package) -> str:
    """The name advisories use for a language package: purl namespace joined as the ecosystem writes it."""
    if not pkg.purl:
        return pkg.name
    name = _purl_name(pkg.purl)
    return pkg.name if name is None else name


@functools.lru_cache(maxsize=65536)
def _purl_name(text: str) -> str | None:
    from hullscan.matching.purl import parse_purl

    purl = parse_purl(text)
    if purl is None:
        return None
    if purl.namespace:
        sep = ":" if purl.type == "maven" else "/"
        return f"{purl.namespace}{sep}{purl.name}"
    return purl.name


def os_version_of(pkg: Package) -> str:
    """The version compared against distro advisories: the source version for deb/apk (what DSA/secdb
    fixed versions name), the binary EVR for rpm (whose advisories list binary packages)."""
    if pkg.type == "rpm":
        version = pkg.version
        epoch = pkg.properties.get("epoch") if pkg.properties else None
        if epoch and epoch != "0" and ":" not in version:
            version = f"{epoch}:{version}"
        return version
    return pkg.source_version or pkg.version


def os_lookup_names(pkg: Package) -> list[str]:
    """Package keys of an OS package: source name (binary names too for rpm, whose advisories list them);
    modular rpms only under their `module:stream::name` key."""
    if pkg.type == "rpm":
        label = (pkg.properties or {}).get("modularity_label") or (pkg.properties or {}).get("modularitylabel")
        if label:
            parts = label.split(":")
            if len(parts) >= 2:
                return [f"{parts[0]}:{parts[1]}::{pkg.name}"]
        names = [pkg.name]
        if pkg.source_name and pkg.source_name != pkg.name:
            names.append(pkg.source_name)
        return names
    return [pkg.source_name or pkg.name]
