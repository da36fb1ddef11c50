"""The `Finding` type: one (package, vulnerability) pair with everything ingestion and reports need."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hullscan.severities import RANK, SEVERITIES


_NO_FIX = {
    "wont_fix": "no solution available: the distribution will not fix this in this release",
    "end_of_life": "no solution available: this distribution release is at its end of life and gets no more fixes;"
                   " move to a supported release",
}


@dataclass(frozen=True)
class FindingPackage:
    """The installed package a finding is about, as the inventory described it."""

    name: str
    version: str
    type: str
    purl: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    path: str | None = None
    layer_digest: str | None = None
    layer_diff_id: str | None = None


@dataclass
class Finding:
    """One vulnerability of one package; aliases of the same vulnerability are merged into `identifiers`."""

    package: FindingPackage
    vulnerability_id: str  # primary id: the CVE when there is one, else the advisory id
    identifiers: list[str]  # every id of this vulnerability, primary first
    advisory_ids: list[str]  # store records that matched (most specific first)
    ecosystem: str  # the advisory ecosystem that matched (`Debian:12`, `PyPI`, ...)
    severity: str = "unknown"  # critical | high | medium | low | unknown
    severity_source: str | None = None  # which feed and field gave the severity (docs/severity.md)
    cvss_score: float | None = None
    cvss_vector: str | None = None
    known_exploited: bool = False
    known_exploited_date: str | None = None
    epss_score: float | None = None
    epss_percentile: float | None = None
    fixed_versions: list[str] = field(default_factory=list)
    fix_state: str = "fixed"  # fixed | unfixed (not fixed yet) | wont_fix | end_of_life (advisories.types)
    title: str | None = None
    description: str | None = None
    links: list[str] = field(default_factory=list)
    published: datetime | None = None

    @property
    def severity_rank(self) -> int:
        return RANK.get(self.severity, 0)

    def risk_key(self) -> tuple[bool, float, float, bool]:
        """Sort key of the "risk" order (docs/risk.md), most urgent first: known exploited, EPSS percentile,
        CVSS score, fix available; an unknown value sorts after every known one."""
        epss = self.epss_percentile if self.epss_percentile is not None else self.epss_score
        return (not self.known_exploited, -(epss if epss is not None else -1.0),
                -(self.cvss_score if self.cvss_score is not None else -1.0), not self.fixed_versions)

    @property
    def solution(self) -> str:
        """GitLab's wording: upgrade advice, or that no fix exists yet (or will never come, as the distro says)."""
        if self.fixed_versions:
            return f"Upgrade to version {', '.join(self.fixed_versions)} or above"
        return _NO_FIX.get(self.fix_state, "no solution available yet")

    def display_title(self, os_label: str | None = None) -> str:
        """The advisory title, or GitLab's fallback sentence."""
        if self.title:
            return self.title
        where = f" in {os_label}" if os_label else ""
        return f"{self.package.name}{where} is vulnerable to {self.vulnerability_id}"

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form (the `json` report and callers that serialise findings)."""
        return {
            "vulnerability_id": self.vulnerability_id,
            "identifiers": list(self.identifiers),
            "advisory_ids": list(self.advisory_ids),
            "ecosystem": self.ecosystem,
            "package": {
                "name": self.package.name,
                "version": self.package.version,
                "type": self.package.type,
                "purl": self.package.purl,
                "source_name": self.package.source_name,
                "source_version": self.package.source_version,
                "path": self.package.path,
                "layer_digest": self.package.layer_digest,
                "layer_diff_id": self.package.layer_diff_id,
            },
            "severity": self.severity,
            "severity_source": self.severity_source,
            "cvss_score": self.cvss_score,
            "cvss_vector": self.cvss_vector,
            "known_exploited": self.known_exploited,
            "known_exploited_date": self.known_exploited_date,
            "epss_score": self.epss_score,
            "epss_percentile": self.epss_percentile,
            "fixed_versions": list(self.fixed_versions),
            "fix_state": self.fix_state,
            "solution": self.solution,
            "title": self.title,
            "description": self.description,
            "links": list(self.links),
            "published": self.published.isoformat() if self.published else None,
        }


def normalize_severity(value: str | None) -> str:
    """Lower-case severity in GitLab's set; anything unrecognised is `unknown`."""
    if not value:
        return "unknown"
    v = value.strip().lower()
    if v in ("moderate", "important"):
        return "medium" if v == "moderate" else "high"
    if v in ("negligible", "unimportant", "info", "none"):
        return "low" if v in ("negligible", "unimportant") else "unknown"
    return v if v in SEVERITIES else "unknown"
