"""Names, ecosystems and severities as the store keeps them, so every source and every caller agree."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from cvss import CVSS2, CVSS3, CVSS4

# Debian release codenames → the release number OSV and matching use (`Debian:<major>`).
DEBIAN_CODENAMES = {
    "buzz": "1.1", "rex": "1.2", "bo": "1.3", "hamm": "2.0", "slink": "2.1", "potato": "2.2",
    "woody": "3.0", "sarge": "3.1", "etch": "4", "lenny": "5", "squeeze": "6", "wheezy": "7",
    "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13",
    "forky": "14", "duke": "15", "sid": "unstable",
}
UBUNTU_CODENAMES = {
    "trusty": "14.04", "xenial": "16.04", "bionic": "18.04", "focal": "20.04", "jammy": "22.04",
    "kinetic": "22.10", "lunar": "23.04", "mantic": "23.10", "noble": "24.04", "oracular": "24.10",
    "plucky": "25.04", "questing": "25.10",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "PyPI", "Go", "npm", "Maven", "crates.io", "RubyGems", "Packagist", "NuGet", "Hex", "Pub", "SwiftURL",
        "Debian", "Ubuntu", "Alpine", "AlmaLinux", "Rocky Linux", "Red Hat", "Wolfi", "Chainguard", "SUSE",
        "openSUSE", "Mageia", "openEuler", "Azure Linux", "Mariner", "Oracle Linux", "Amazon Linux",
        "Alpaquita", "Fedora", "CentOS",
    )
}


class UnknownEcosystem(ValueError):
    """An ecosystem the store does not know how to version-compare."""


def normalize_ecosystem(ecosystem: str) -> str:
    """`Debian:bookworm`/`Debian:12.4` → `Debian:12`, `Alpine:3.19` → `Alpine:v3.19`, `Ubuntu:22.04:LTS` →
    `Ubuntu:22.04`, `pypi` → `PyPI`. Raises UnknownEcosystem for anything else."""
    raw = (ecosystem or "").strip()
    base, _, release = raw.partition(":")
    canonical = _CANONICAL.get(base.strip().lower())
    if canonical is None:
        raise UnknownEcosystem(f"unknown ecosystem {ecosystem!r}")
    release = release.strip()
    if not release:
        return canonical
    if canonical == "Debian":
        rel = DEBIAN_CODENAMES.get(release.lower(), release)
        m = re.match(r"^(\d+)(?:\.\d+)*$", rel)
        if m and int(m.group(1)) >= 4:
            rel = m.group(1)
        return f"Debian:{rel}"
    if canonical == "Ubuntu":
        m = re.search(r"(\d+\.\d+)", release)
        rel = m.group(1) if m else UBUNTU_CODENAMES.get(release.lower(), release)
        if "pro" in release.lower().split(":") and m:
            return f"Ubuntu:Pro:{rel}"
        return f"Ubuntu:{rel}"
    if canonical == "Alpine":
        if release.lower() == "edge":
            return "Alpine:edge"
        m = re.match(r"^v?(\d+\.\d+)", release)
        return f"Alpine:v{m.group(1)}" if m else f"Alpine:{release}"
    if canonical in ("AlmaLinux", "Rocky Linux", "Oracle Linux"):
        m = re.match(r"^(\d+)", release)
        return f"{canonical}:{m.group(1)}" if m else f"{canonical}:{release}"
    return f"{canonical}:{release}"


def normalize_name(ecosystem: str, name: str) -> str:
    """The package name as stored and looked up: PEP 503 for PyPI, lower case where the ecosystem ignores case."""
    base = ecosystem.split(":", 1)[0].strip().lower()
    name = name.strip()
    if base == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    if base == "crates.io":
        return name.lower().replace("_", "-")
    if base in ("go", "maven", "rubygems", "swifturl"):
        return name  # case-sensitive identifiers
    return name.lower()


SEVERITIES = ("critical", "high", "medium", "low", "negligible", "unknown")
_SEVERITY_WORDS = {
    "critical": "critical", "high": "high", "important": "high", "medium": "medium", "moderate": "medium",
    "low": "low", "negligible": "low", "unimportant": "low", "none": "low", "not yet assigned": "unknown",
    "unknown": "unknown",
}


def severity_word(value: str | None) -> str | None:
    if not value:
        return None
    return _SEVERITY_WORDS.get(value.strip().lower().replace(" **", ""))


def cvss_score(vector: str) -> tuple[str, float, str] | None:
    """(cvss version, base score, lower-case severity) of a vector, or None when the `cvss` library rejects it.

    Cached: feeds repeat the same vectors many times and the library parses slowly."""
    return _cvss_score(vector.strip())


@lru_cache(maxsize=16384)
def _cvss_score(v: str) -> tuple[str, float, str] | None:
    try:
        if v.startswith("CVSS:4"):
            c4 = CVSS4(v)
            return "4", float(c4.base_score), str(c4.severity).lower()
        if v.startswith("CVSS:3"):
            c3 = CVSS3(v)
            return "3", float(c3.base_score), str(c3.severities()[0]).lower()
        c2 = CVSS2(v)
        score = float(c2.base_score)
        sev = "high" if score >= 7.0 else "medium" if score >= 4.0 else "low"
        return "2", score, sev
    except Exception:  # the library raises several types for malformed vectors
        return None


def best_cvss(vectors: Iterable[str]) -> tuple[dict[str, str], str | None, float | None, str | None]:
    """All readable vectors by version, and the one GitLab would use: v3, else v2, else v4."""
    by_version: dict[str, tuple[str, float, str]] = {}
    for vector in vectors:
        scored = cvss_score(vector)
        if scored and scored[0] not in by_version:
            by_version[scored[0]] = (vector.strip(), scored[1], scored[2])
    for version in ("3", "2", "4"):
        if version in by_version:
            vec, score, sev = by_version[version]
            return {k: v[0] for k, v in by_version.items()}, vec, score, sev
    return {}, None, None, None
