"""The advisory store's contract with matching, ingestion and continuous scanning.

Ecosystem strings follow OSV: `PyPI`, `Go`, `npm`, `Maven`, `crates.io`, `RubyGems`, `Packagist`, `NuGet`,
and for distributions `<Distro>:<release>`: `Debian:12`, `Alpine:v3.19`, `Ubuntu:24.04`, `AlmaLinux:9`,
`Rocky Linux:9`, `Red Hat:9`, `Wolfi` (see `hullscan.ecosystems`). Package names are normalised with `normalize_name` (PEP 503 for PyPI);
for distributions they are the SOURCE package name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# fixed; unfixed = not fixed yet; wont_fix = the distribution decided not to fix; end_of_life = the release gets no
# more fixes; not_affected
FIX_STATES = ("fixed", "unfixed", "not_affected", "wont_fix", "end_of_life")


@dataclass(frozen=True)
class RangeEvent:
    kind: str  # introduced | fixed | last_affected | limit
    version: str


@dataclass(frozen=True)
class AffectedRange:
    type: str  # ECOSYSTEM | SEMVER | GIT
    events: tuple[RangeEvent, ...]


@dataclass
class AffectedPackage:
    """One advisory's statement about one (ecosystem, package)."""

    advisory_id: str
    ecosystem: str
    package: str
    ranges: list[AffectedRange] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # explicit affected versions
    fix_state: str = "fixed"
    severity: str | None = None  # per-package severity where the source gives one (distro urgency)
    arches: tuple[str, ...] = ()  # architectures the entry is limited to; empty: all (a tuple: no list per row)
    cpes: tuple[str, ...] = ()  # vendor products (CPEs) the statement is made for (Red Hat CSAF); empty: unknown


@dataclass
class Advisory:
    id: str
    source: str
    aliases: list[str] = field(default_factory=list)
    summary: str | None = None
    details: str | None = None
    published: datetime | None = None
    modified: datetime | None = None
    withdrawn: datetime | None = None
    severity: str | None = None  # critical | high | medium | low | unknown
    cvss_vector: str | None = None
    cvss_score: float | None = None
    cvss_vectors: dict[str, str] = field(default_factory=dict)  # CVSS version ("2", "3", "4") -> vector
    # where `severity` came from (docs/severity.md): `<source>` for a vendor word, `<source>:cvss` for a vector,
    # `nvd:<metric>` / `cve:<container>` when filled in from a CVE feed
    severity_source: str | None = None
    references: list[str] = field(default_factory=list)
    known_exploited: bool = False
    known_exploited_date: str | None = None
    epss_score: float | None = None
    epss_percentile: float | None = None


class AdvisoryStore(Protocol):
    """Read side used by matching: batched look-ups, never one query per package."""

    def affected_for(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[AffectedPackage]]:
        """Affected entries of non-withdrawn advisories for each (ecosystem, normalised package) key."""
        ...

    def advisories(self, ids: Iterable[str]) -> dict[str, Advisory]:
        """Advisories by id (with aliases, severity, KEV and EPSS enrichment)."""
        ...
