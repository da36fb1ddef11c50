"""Read side of the store: batched look-ups for matching, alias-merged advisories, changesets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hullscan.advisories.store import BATCH, _chunks, _ranges_from_json
from hullscan.advisories.types import Advisory, AffectedPackage
from hullscan.db.models.advisories import (
    AdvisoryAlias,
    AdvisoryChange,
    AdvisoryChangeset,
    AdvisoryRecord,
    AffectedEntry,
    VulnerabilityEnrichment,
)


class SqlAdvisoryStore:
    """`AdvisoryStore` over the database: every look-up is a few IN-queries, never one per package."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def affected_for(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[AffectedPackage]]:
        by_eco: dict[str, set[str]] = {}
        for eco, pkg in keys:
            by_eco.setdefault(eco, set()).add(pkg)
        out: dict[tuple[str, str], list[AffectedPackage]] = {}
        for eco, packages in by_eco.items():
            for chunk in _chunks(sorted(packages), BATCH):
                rows = self.session.execute(
                    select(AffectedEntry)
                    .join(AdvisoryRecord, AdvisoryRecord.id == AffectedEntry.advisory_id)
                    .where(AffectedEntry.ecosystem == eco, AffectedEntry.package.in_(chunk),
                           AdvisoryRecord.withdrawn.is_(None))
                    .order_by(AffectedEntry.id)
                ).scalars()
                for row in rows:
                    out.setdefault((row.ecosystem, row.package), []).append(_affected(row))
        return out

    def linked_ids(self, ids: Iterable[str]) -> dict[str, set[str]]:
        """Every identifier linked to each id through the alias graph (shared aliases, two hops)."""
        ids = list(dict.fromkeys(ids))
        edges: list[tuple[str, str]] = []
        frontier = set(ids)
        known: set[str] = set()
        for _ in range(2):
            frontier -= known
            if not frontier:
                break
            known |= frontier
            for chunk in _chunks(sorted(frontier), BATCH):
                edges.extend((a, b) for a, b in self.session.execute(
                    select(AdvisoryAlias.advisory_id, AdvisoryAlias.alias)
                    .where(or_(AdvisoryAlias.advisory_id.in_(chunk), AdvisoryAlias.alias.in_(chunk)))
                ))
            frontier = {x for e in edges for x in e}
        neighbours: dict[str, set[str]] = {}
        for a, b in edges:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
        # Each id's own closure (two hops), never the union over the whole batch: asking for two ids together
        # must not merge them. A bundle (a DSA/DLA/USN naming several CVEs) is a neighbour, not a bridge.
        def is_bundle(node: str) -> bool:
            return sum(1 for n in neighbours.get(node, ()) if n.startswith("CVE-")) > 1

        out: dict[str, set[str]] = {}
        for i in ids:
            seen = {i}
            frontier_i = {i}
            for _ in range(2):
                nxt = set()
                for node in frontier_i:
                    if node != i and is_bundle(node):
                        continue
                    nxt |= neighbours.get(node, set()) - seen
                seen |= nxt
                frontier_i = nxt
            out[i] = seen - {i}
        return out

    def advisories(self, ids: Iterable[str]) -> dict[str, Advisory]:
        ids = list(dict.fromkeys(ids))
        rows: dict[str, AdvisoryRecord] = {}
        for chunk in _chunks(ids, BATCH):
            for row in self.session.execute(select(AdvisoryRecord).where(AdvisoryRecord.id.in_(chunk))).scalars():
                rows[row.id] = row
        linked = self.linked_ids(rows)
        cves = {x for i in rows for x in linked[i] | {i} if x.startswith("CVE-")}
        enrich: dict[str, VulnerabilityEnrichment] = {}
        for chunk in _chunks(sorted(cves), BATCH):
            for e in self.session.execute(
                select(VulnerabilityEnrichment).where(VulnerabilityEnrichment.cve_id.in_(chunk))
            ).scalars():
                enrich[e.cve_id] = e
        out = {}
        for i, row in rows.items():
            ident = linked[i] | {i}
            facts = [enrich[c] for c in sorted(ident) if c in enrich]
            kev = [f for f in facts if f.known_exploited]
            epss = [f for f in facts if f.epss_score is not None]
            best = max(epss, key=lambda f: f.epss_score or 0.0) if epss else None
            out[i] = Advisory(
                id=row.id, source=row.source, aliases=sorted(linked[i]), summary=row.summary, details=row.details,
                published=row.published, modified=row.modified, withdrawn=row.withdrawn, severity=row.severity,
                cvss_vector=row.cvss_vector, cvss_score=row.cvss_score, cvss_vectors=dict(row.cvss_vectors or {}),
                references=list(row.references or []), known_exploited=bool(kev),
                known_exploited_date=min((f.known_exploited_date or "" for f in kev), default=None) or None,
                epss_score=best.epss_score if best else None,
                epss_percentile=best.epss_percentile if best else None,
            )
        return out

    def affected_of(self, advisory_id: str) -> list[AffectedPackage]:
        rows = self.session.execute(
            select(AffectedEntry).where(AffectedEntry.advisory_id == advisory_id).order_by(AffectedEntry.id)
        ).scalars()
        return [_affected(r) for r in rows]

    def search(self, package: str, ecosystem: str | None = None, limit: int = 200) -> list[AffectedPackage]:
        """Affected entries for a package name (normalised per ecosystem), across ecosystems unless one is given."""
        from hullscan.advisories.normalize import normalize_name

        conds = []
        if ecosystem:
            conds.append(and_(AffectedEntry.ecosystem == ecosystem,
                              AffectedEntry.package == normalize_name(ecosystem, package)))
        else:
            names = {package, package.lower(), normalize_name("PyPI", package)}
            conds.append(AffectedEntry.package.in_(sorted(names)))
        rows = self.session.execute(
            select(AffectedEntry).where(*conds).order_by(AffectedEntry.ecosystem, AffectedEntry.advisory_id).limit(limit)
        ).scalars()
        return [_affected(r) for r in rows]


def _affected(row: AffectedEntry) -> AffectedPackage:
    return AffectedPackage(
        advisory_id=row.advisory_id, ecosystem=row.ecosystem, package=row.package,
        ranges=_ranges_from_json(row.ranges or []), versions=list(row.versions or []),
        fix_state=row.fix_state, severity=row.severity,
    )


@dataclass
class ChangeEntry:
    advisory_id: str
    change: str  # added | modified | withdrawn
    keys: list[tuple[str, str]]


@dataclass
class Changeset:
    id: int
    source: str
    created_at: datetime
    added: int
    modified: int
    withdrawn: int
    changes: list[ChangeEntry] = field(default_factory=list)


def changesets_since(session: Session, changeset_id: int = 0, limit: int = 100) -> list[Changeset]:
    """Changesets newer than `changeset_id`, oldest first, with their changes (two queries)."""
    sets = list(session.execute(
        select(AdvisoryChangeset).where(AdvisoryChangeset.id > changeset_id).order_by(AdvisoryChangeset.id).limit(limit)
    ).scalars())
    out = {s.id: Changeset(s.id, s.source, s.created_at, s.added, s.modified, s.withdrawn) for s in sets}
    if out:
        for change in session.execute(
            select(AdvisoryChange).where(AdvisoryChange.changeset_id.in_(list(out))).order_by(AdvisoryChange.id)
        ).scalars():
            out[change.changeset_id].changes.append(
                ChangeEntry(change.advisory_id, change.change, [tuple(k) for k in change.keys])
            )
    return list(out.values())
