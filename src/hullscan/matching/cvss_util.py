"""CVSS vector -> (base score, lower-case severity) with the `cvss` library; v3 preferred over v2."""

from __future__ import annotations

from functools import lru_cache

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError


def _v2_severity(score: float) -> str:
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low"


@lru_cache(maxsize=4096)
def severity_from_vector(vector: str) -> tuple[float | None, str]:
    """Base score and severity of a vector; (None, "unknown") for a vector the library rejects."""
    try:
        if vector.startswith("CVSS:4"):
            v4 = CVSS4(vector)
            return float(v4.base_score), v4.severity.lower()
        if vector.startswith("CVSS:3"):
            v3 = CVSS3(vector)
            score = float(v3.base_score)
            sev = v3.severities()[0].lower()
            return score, "unknown" if sev == "none" else sev
        v2 = CVSS2(vector.removeprefix("(").removesuffix(")"))
        score = float(v2.base_score)
        return score, _v2_severity(score)
    except (CVSSError, ValueError, KeyError, IndexError, AttributeError):
        return None, "unknown"
