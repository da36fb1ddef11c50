"""What every report writer gets: the inventory, the findings kept, what VEX suppressed, counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hullscan.matching.engine import MatchStats
from hullscan.matching.finding import Finding
from hullscan.severities import SEVERITIES
from hullscan.scanner.inventory import Inventory


@dataclass
class ScanReport:
    inventory: Inventory
    findings: list[Finding]
    stats: MatchStats = field(default_factory=MatchStats)
    suppressed: list[Finding] = field(default_factory=list)  # by VEX statements
    filtered: int = 0  # dropped by --severity / --ignore-unfixed
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def os_label(self) -> str | None:
        os = self.inventory.os
        return f"{os.family} {os.version}".strip() if os else None

    @property
    def image_label(self) -> str:
        img = self.inventory.image
        return f"{img.name}:{img.tag}" if img.tag else img.name

    def severity_counts(self) -> dict[str, int]:
        counts = Counter(f.severity for f in self.findings)
        return {sev: counts.get(sev, 0) for sev in SEVERITIES}

    @property
    def warnings(self) -> list[str]:
        return [*self.inventory.warnings, *self.stats.warnings]
