"""Severity words, spelled once at the bottom of the house: the ordered names findings carry (worst first), their
ranks (the `severity_rank` column, thresholds, sorting), the worst of several, and the CVSS base score bands.
Feeds' own vocabularies ("important", "moderate", "negligible") are mapped to these by
`advisories.normalize.severity_word`. Constants and small functions only, so the scanner imports it for free."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

Rated = Literal["critical", "high", "medium", "low"]  # a rating; "unknown" is the absence of one
Severity = Literal[Rated, "unknown"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # worst first
RANK: dict[str, int] = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}  # unknown 0 ... critical 4


def worst_of(words: Iterable[str | None]) -> Severity | None:
    """The worst severity among `words` (what is not a severity word is ignored); None when there is none."""
    present = set(words)
    return next((s for s in SEVERITIES if s in present), None)


def from_score(score: float, *, cvss2: bool = False) -> Severity:
    """The qualitative rating of a CVSS base score (v3.x and v4 bands: 9.0 critical, 7.0 high, 4.0 medium, else
    low); CVSS v2 has no critical band, so its 9.0 and up is high."""
    if score >= 9.0 and not cvss2:
        return "critical"
    return "high" if score >= 7.0 else "medium" if score >= 4.0 else "low"
