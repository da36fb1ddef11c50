"""A small in-process AdvisoryStore for unit tests of matching logic (the acceptance tests use the real store)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from hullscan.advisories.types import Advisory, AffectedPackage


@dataclass
class ArchAffectedPackage(AffectedPackage):
    """An affected row that applies to some architectures only (RHEL-clone advisories)."""

    arches: list[str] = field(default_factory=list)


class MemoryStore:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], list[AffectedPackage]] = defaultdict(list)
        self.records: dict[str, Advisory] = {}
        self.calls: list[str] = []

    def add(self, advisory: Advisory, *affected: AffectedPackage) -> None:
        self.records.setdefault(advisory.id, advisory)
        for entry in affected:
            self.entries[(entry.ecosystem, entry.package)].append(entry)

    def affected_for(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[AffectedPackage]]:
        self.calls.append("affected_for")
        return {k: list(self.entries[k]) for k in keys if k in self.entries}

    def advisories(self, ids: Iterable[str]) -> dict[str, Advisory]:
        self.calls.append("advisories")
        return {i: self.records[i] for i in ids if i in self.records}
