"""Names, ecosystems and severities as the store keeps them, so every source and every caller agree."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from cvss import CVSS2, CVSS3, CVSS4

from hullscan.severities import from_score
from hullscan.ecosystems import (
    DEBIAN_CODENAMES,
    UBUNTU_CODENAMES,
    UnknownEcosystem,
    normalize_ecosystem,
    normalize_name,
)

# Ecosystem names, releases and package-name rules live in the one ecosystem table; re-exported for parsers.
__all__ = [
    "DEBIAN_CODENAMES", "UBUNTU_CODENAMES", "UnknownEcosystem", "best_cvss", "cvss_score", "normalize_ecosystem",
    "normalize_name", "severity_word",
]


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
        return "2", score, from_score(score, cvss2=True)
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
