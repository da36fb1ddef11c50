"""The advisory store: writing one source atomically with a changeset, and batched reads for matching.

A source is written in one transaction, so readers see its old data or its new data, never half.
Each advisory carries a hash of its normalised content; re-importing the same data changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import JSON, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from hullscan.batches import chunks
from hullscan.advisories.parsers import redhat_repositories
from hullscan.advisories.parsers.base import CveSeverity, Enrichment, Parsed, Tally
from hullscan.advisories.types import AffectedRange, RangeEvent
from hullscan.db.base import table_of, utcnow
from hullscan.db.models.advisories import (
    AdvisoryAlias,
    AdvisoryChangeset,
    AdvisoryRecord,
    AdvisorySourceState,
    AffectedEntry,
    CveSeverityRecord,
    RepositoryCpes,
    VulnerabilityEnrichment,
)



# Bulk inserts go straight to the driver's executemany with rows as tuples: JSON values are serialised once
# here (range texts are memoised per import, see RangeMemo), datetimes go through the column type's own bind
# processor, and SQLAlchemy's per-row parameter processing, which dominated import time, is skipped.
# PostgreSQL gets explicit JSON casts.
_BULK_SQL = {
    "advisory_affected": (
        "INSERT INTO advisory_affected (advisory_id, ecosystem, package, ranges, versions, fix_state, severity,"
        " arches, cpes) VALUES ({p}, {p}, {p}, {j}, {j}, {p}, {p}, {p}, {p})"),
    "advisory_aliases": "INSERT INTO advisory_aliases (advisory_id, alias) VALUES ({p}, {p})",
    "advisory_changes": "INSERT INTO advisory_changes (changeset_id, advisory_id, change, keys) VALUES ({p}, {p}, {p}, {j})",
}
_ADVISORY_COLUMNS = ("id", "source", "aliases", "summary", "details", "published", "modified", "withdrawn", "severity",
                     "cvss_vector", "cvss_score", "cvss_vectors", "references", "content_hash", "updated_at",
                     "severity_source")


def _placeholders(dialect_name: str) -> tuple[str, str]:
    return ("?", "?") if dialect_name == "sqlite" else ("%s", "%s::json")


def _executemany(session: Session, sql: str, rows: list[tuple]) -> None:
    conn = session.connection()
    for chunk in chunks(rows, 5000):
        conn.exec_driver_sql(sql, chunk)


def _bulk_insert(session: Session, table_name: str, rows: list[tuple]) -> None:
    if not rows:
        return
    p, j = _placeholders(session.connection().dialect.name)
    _executemany(session, _BULK_SQL[table_name].format(p=p, j=j), rows)


def _delete_advisories(session: Session, ids: list[str]) -> dict[str, set[tuple[str, str]]]:
    """Delete advisories with their aliases and affected entries; the (ecosystem, package) keys each had, so
    the changeset can name the packages a replacement or withdrawal touches."""
    keys: dict[str, set[tuple[str, str]]] = {}
    for adv_id, eco, pkg in session.execute(
        select(AffectedEntry.advisory_id, AffectedEntry.ecosystem, AffectedEntry.package)
        .where(AffectedEntry.advisory_id.in_(ids))
    ):
        keys.setdefault(adv_id, set()).add((eco, pkg))
    session.execute(delete(AdvisoryAlias).where(AdvisoryAlias.advisory_id.in_(ids)))
    session.execute(delete(AffectedEntry).where(AffectedEntry.advisory_id.in_(ids)))
    session.execute(delete(AdvisoryRecord).where(AdvisoryRecord.id.in_(ids)))
    return keys


def _insert_advisories(session: Session, rows: list[tuple]) -> None:
    """Rows in `_ADVISORY_COLUMNS` order with JSON columns already serialised; datetimes are bound here."""
    if not rows:
        return
    dialect = session.connection().dialect
    table = table_of(AdvisoryRecord)
    p, j = _placeholders(dialect.name)
    marks, processors = [], []
    for i, name in enumerate(_ADVISORY_COLUMNS):
        column = table.c[name]
        json_column = isinstance(column.type, JSON)
        marks.append(j if json_column else p)
        process = None if json_column else column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((i, process))
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in _ADVISORY_COLUMNS)}) "
           f"VALUES ({', '.join(marks)})")
    if processors:
        bound = []
        for row in rows:
            values = list(row)
            for i, process in processors:
                values[i] = process(values[i])
            bound.append(tuple(values))
        rows = bound
    _executemany(session, sql, rows)


class RangeMemo:
    """Per-import memo of each range's hash structure and stored JSON text, keyed by object identity.

    Distro parsers share one range object per fixed version (tens of thousands of entries, a few thousand
    distinct ranges), so each is serialised once. Entries keep their range alive, so an id is never reused
    while it is in the memo; the memo lives only as long as one `apply_source` call.
    """

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[AffectedRange, tuple, str]] = {}

    def _entry(self, rng: AffectedRange) -> tuple[AffectedRange, tuple, str]:
        entry = self._by_id.get(id(rng))
        if entry is None or entry[0] is not rng:
            events = tuple((e.kind, e.version) for e in rng.events)
            text = json.dumps({"type": rng.type, "events": [{k: v} for k, v in events]}, separators=(",", ":"))
            entry = (rng, (rng.type, events), text)
            self._by_id[id(rng)] = entry
        return entry

    def structure(self, rng: AffectedRange) -> tuple:
        return self._entry(rng)[1]

    def text(self, ranges: list[AffectedRange]) -> str:
        if not ranges:
            return "[]"
        return "[" + ",".join([self._entry(r)[2] for r in ranges]) + "]"


def _versions_text(versions: list[str]) -> str:
    return json.dumps(versions, separators=(",", ":")) if versions else "[]"


def _ranges_from_json(data: list[dict]) -> list[AffectedRange]:
    out = []
    for r in data:
        events = tuple(RangeEvent(k, v) for ev in r.get("events", []) for k, v in ev.items())
        out.append(AffectedRange(r.get("type", "ECOSYSTEM"), events))
    return out


def content_hash(parsed: Parsed, memo: RangeMemo | None = None) -> str:
    """Hash of everything stored for an advisory, to tell a changed record from a re-import of the same one.

    The hashed text must stay stable across releases (a change would rewrite every record once), so ranges are
    hashed as (type, [(kind, version), ...]) exactly as before; the memo only avoids rebuilding them."""
    a = parsed.advisory
    head = [a.id, a.aliases, a.summary, a.details, a.published, a.modified, a.withdrawn, a.severity,
            a.cvss_vector, a.cvss_score, sorted(a.cvss_vectors.items()), a.references]
    if a.severity_source:  # appended only when set: records without a severity keep their earlier hash
        head.append(a.severity_source)
    structure = (memo or RangeMemo()).structure
    affected = sorted([  # arches appended only when set: entries for every arch keep their earlier hash
        (x.ecosystem, x.package, [structure(r) for r in x.ranges], x.versions, x.fix_state, x.severity or "",
         *([sorted(x.arches)] if x.arches else []), *([sorted(x.cpes)] if x.cpes else []))
        for x in parsed.affected
    ])
    blob = json.dumps([head, affected], default=str, separators=(",", ":"), check_circular=False).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass
class ApplyResult:
    changeset_id: int
    added: int = 0
    modified: int = 0
    withdrawn: int = 0
    unchanged: int = 0
    advisories: int = 0
    keys: set[tuple[str, str]] = field(default_factory=set)


def _advisory_row(p: Parsed, source: str, digest: str, now: datetime) -> tuple:
    """One advisories row in `_ADVISORY_COLUMNS` order, JSON columns serialised (as SQLAlchemy would)."""
    a = p.advisory
    return (a.id, source, json.dumps(list(a.aliases)) if a.aliases else "[]", a.summary, a.details, a.published,
            a.modified, a.withdrawn, a.severity, a.cvss_vector, a.cvss_score,
            json.dumps(dict(a.cvss_vectors)) if a.cvss_vectors else "{}",
            json.dumps(list(a.references)) if a.references else "[]", digest, now, a.severity_source)


def apply_source(
    session: Session,
    source: str,
    records: Iterable[Parsed],
    *,
    snapshot: bool,
    progress: Callable[[int], None] | None = None,
    remove: Iterable[str] = (),
) -> ApplyResult:
    """Write a source's advisories in the caller's transaction and record the changeset.

    `snapshot=True` means `records` is the source's complete data: advisories of this source that are
    absent are removed (recorded as withdrawn). Incremental syncs pass `snapshot=False`, and in `remove` the ids
    the source says it deleted (Red Hat's deletions.csv): those of this source are removed the same way.
    """
    changeset = AdvisoryChangeset(source=source, created_at=utcnow())
    session.add(changeset)
    session.flush()
    result = ApplyResult(changeset_id=changeset.id)
    now = utcnow()
    seen: set[str] = set()
    changes: list[tuple] = []
    memo = RangeMemo()

    for batch in chunks(records):
        by_id: dict[str, Parsed] = {}
        for p in batch:
            by_id[p.advisory.id] = p  # a later copy of the same id in one stream wins
        digests = {i: content_hash(p, memo) for i, p in by_id.items()}
        existing = {
            row.id: (row.source, row.content_hash, row.withdrawn)
            for row in session.execute(
                select(AdvisoryRecord.id, AdvisoryRecord.source, AdvisoryRecord.content_hash, AdvisoryRecord.withdrawn)
                .where(AdvisoryRecord.id.in_(list(by_id)))
            )
        }
        replace = [i for i in by_id if i in existing and existing[i][1] != digests[i]]
        new = [i for i in by_id if i not in existing]
        result.unchanged += len(by_id) - len(replace) - len(new)
        seen.update(by_id)
        old_keys = _delete_advisories(session, replace) if replace else {}
        write = new + replace
        if not write:
            if progress:
                progress(len(batch))
            continue
        _insert_advisories(session, [_advisory_row(by_id[i], source, digests[i], now) for i in write])
        ranges_text = memo.text
        _bulk_insert(session, "advisory_affected", [
            (i, a.ecosystem, a.package, ranges_text(a.ranges), _versions_text(a.versions), a.fix_state, a.severity,
             ",".join(a.arches) or None, " ".join(a.cpes) or None)
            for i in write for a in by_id[i].affected
        ])
        _bulk_insert(session, "advisory_aliases", [
            (i, al[:128]) for i in write for al in sorted(set(by_id[i].advisory.aliases))])
        for i in write:
            keys = {(a.ecosystem, a.package) for a in by_id[i].affected} | old_keys.get(i, set())
            withdrawn_now = by_id[i].advisory.withdrawn is not None
            if i in existing:
                kind = "withdrawn" if withdrawn_now and existing[i][2] is None else "modified"
            else:
                kind = "withdrawn" if withdrawn_now else "added"
            setattr(result, kind, getattr(result, kind) + 1)
            result.keys |= keys
            changes.append((changeset.id, i, kind, json.dumps(sorted([list(k) for k in keys]))))
        if progress:
            progress(len(batch))

    gone = [i for i in dict.fromkeys(remove) if i not in seen]
    if gone:
        gone = [i for (i,) in session.execute(select(AdvisoryRecord.id).where(
            AdvisoryRecord.source == source, AdvisoryRecord.id.in_(gone)))]
    if snapshot:
        gone = [
            i for (i,) in session.execute(select(AdvisoryRecord.id).where(AdvisoryRecord.source == source))
            if i not in seen
        ]
    if gone:
        for chunk in chunks(gone):
            keys_by_id = _delete_advisories(session, chunk)
            for i in chunk:
                keys = keys_by_id.get(i, set())
                result.withdrawn += 1
                result.keys |= keys
                changes.append((changeset.id, i, "withdrawn", json.dumps(sorted([list(k) for k in keys]))))
    _bulk_insert(session, "advisory_changes", changes)
    changeset.added, changeset.modified, changeset.withdrawn = result.added, result.modified, result.withdrawn
    result.advisories = len(seen)
    return result


def apply_repository_cpes(session: Session, source: str, stored: dict[str, tuple[str, ...]],
                          mapping: dict[str, tuple[str, ...]]) -> ApplyResult:
    """Replace Red Hat's repository-to-CPE map (`stored`, as read in this transaction) by `mapping` and record a
    changeset naming each repository whose CPEs changed (key `(CONTENT_SET_KEY, repository)`): continuous
    scanning re-matches the stored images built on them. An unchanged map (the daily case) is neither rewritten
    nor recorded: the result's changeset id is then 0."""
    changes = redhat_repositories.changes(stored, mapping)
    result = ApplyResult(changeset_id=0, advisories=len(mapping))
    if not changes:
        return result
    session.execute(delete(RepositoryCpes))
    session.add_all(RepositoryCpes(repository=repo, cpes=" ".join(cpes)) for repo, cpes in mapping.items())
    changeset = AdvisoryChangeset(source=source, created_at=utcnow())
    session.add(changeset)
    session.flush()
    result.changeset_id = changeset.id
    for kind in ("added", "modified", "withdrawn"):
        setattr(result, kind, sum(1 for c in changes.values() if c == kind))
    changeset.added, changeset.modified, changeset.withdrawn = result.added, result.modified, result.withdrawn
    _bulk_insert(session, "advisory_changes", [
        (changeset.id, repo[:128], change, json.dumps([[redhat_repositories.CONTENT_SET_KEY, repo]]))
        for repo, change in changes.items()])
    return result


def apply_enrichment(session: Session, source: str, facts: Iterable[Enrichment], *, kind: str) -> ApplyResult:
    """Replace one enrichment feed's facts (KEV flags or EPSS scores): only rows whose values change are
    written, and CVEs the feed no longer lists lose the fact."""
    changeset = AdvisoryChangeset(source=source, created_at=utcnow())
    session.add(changeset)
    session.flush()
    result = ApplyResult(changeset_id=changeset.id)
    E = VulnerabilityEnrichment
    fields = ("known_exploited", "known_exploited_date") if kind == "kev" else ("epss_score", "epss_percentile")
    cleared = {"known_exploited": False, "known_exploited_date": None} if kind == "kev" else \
        {"epss_score": None, "epss_percentile": None}
    seen: set[str] = set()
    for batch in chunks(facts, 2000):
        by_cve = {f.cve_id: f for f in batch}
        seen.update(by_cve)
        current = {row[0]: tuple(row[1:]) for row in session.execute(
            select(E.cve_id, *(getattr(E, f) for f in fields)).where(E.cve_id.in_(list(by_cve))))}
        fresh, changed = [], []
        for cve, f in by_cve.items():
            values = {"known_exploited": True, "known_exploited_date": f.known_exploited_date} if kind == "kev" \
                else {"epss_score": f.epss_score, "epss_percentile": f.epss_percentile}
            if cve not in current:
                fresh.append({"cve_id": cve, **cleared, "known_exploited": False, **values})
            elif current[cve] != tuple(values[k] for k in fields):
                changed.append({"b_cve": cve, **values})
        if fresh:
            session.connection().execute(table_of(E).insert(), fresh)
        if changed:
            session.connection().execute(
                table_of(E).update().where(table_of(E).c.cve_id == bindparam("b_cve")), changed)
        result.added += len(fresh)
        result.modified += len(changed)
    flag = E.known_exploited.is_(True) if kind == "kev" else E.epss_score.is_not(None)
    stale = [c for c in session.scalars(select(E.cve_id).where(flag)) if c not in seen]
    for chunk in chunks(stale):
        session.execute(update(E).where(E.cve_id.in_(chunk)).values(**cleared))
    result.withdrawn = len(stale)
    result.advisories = len(seen)
    changeset.added, changeset.modified, changeset.withdrawn = result.added, result.modified, result.withdrawn
    return result


_CVE_FIELDS = ("severity", "score", "vector", "cvss_version", "source", "modified")


def apply_cve_severities(session: Session, feed: str, facts: Iterable[CveSeverity]) -> ApplyResult:
    """Write one CVE feed's severities (only rows whose values change) and record, as a changeset, the
    advisories that name a changed CVE with their (ecosystem, package) keys, so continuous scanning re-matches
    those packages and stored vulnerabilities take the new severity. CVEs absent from an import are kept:
    these feeds are read incrementally."""
    changeset = AdvisoryChangeset(source=feed, created_at=utcnow())
    session.add(changeset)
    session.flush()
    result = ApplyResult(changeset_id=changeset.id)
    T = CveSeverityRecord
    table = table_of(T)
    seen: set[str] = set()
    changed_cves: list[str] = []
    for batch in chunks(facts, 2000):
        by_cve = {f.cve_id: f for f in batch if f.feed == feed}
        seen.update(by_cve)
        current = {row[0]: tuple(row[1:]) for row in session.execute(
            select(T.cve_id, *(getattr(T, c) for c in _CVE_FIELDS)).where(T.feed == feed, T.cve_id.in_(list(by_cve))))}
        fresh, changed = [], []
        for cve, f in by_cve.items():
            values = {c: getattr(f, c) for c in _CVE_FIELDS}
            if cve not in current:
                fresh.append({"cve_id": cve, "feed": feed, **values})
            elif current[cve] != tuple(values.values()):
                changed.append({"b_cve": cve, "b_feed": feed, **values})
            else:
                result.unchanged += 1
                continue
            if cve not in current and f.severity is None:
                continue  # a new CVE without a score changes no finding
            changed_cves.append(cve)
        if fresh:
            session.connection().execute(table.insert(), fresh)
        if changed:
            session.connection().execute(
                table.update().where(table.c.cve_id == bindparam("b_cve"), table.c.feed == bindparam("b_feed")),
                changed)
        result.added += len(fresh)
        result.modified += len(changed)
    changes: list[tuple] = []
    for chunk in chunks(sorted(set(changed_cves))):
        linked: set[str] = set(chunk)
        linked.update(a for (a,) in session.execute(
            select(AdvisoryAlias.advisory_id).where(AdvisoryAlias.alias.in_(chunk))))
        keys_by_id: dict[str, set[tuple[str, str]]] = {}
        for sub in chunks(sorted(linked)):
            for adv_id, eco, pkg in session.execute(
                select(AffectedEntry.advisory_id, AffectedEntry.ecosystem, AffectedEntry.package)
                .where(AffectedEntry.advisory_id.in_(sub))
            ):
                keys_by_id.setdefault(adv_id, set()).add((eco, pkg))
        for adv_id in sorted(keys_by_id):
            result.keys |= keys_by_id[adv_id]
            changes.append((changeset.id, adv_id, "modified", json.dumps(sorted([list(k) for k in keys_by_id[adv_id]]))))
    _bulk_insert(session, "advisory_changes", changes)
    result.advisories = len(seen)
    changeset.added, changeset.modified = result.added, result.modified
    return result


def record_state(
    session: Session, name: str, kind: str, location: str | None, tally: Tally, result: ApplyResult | None,
    error: str | None, cursor: str | None = None,
) -> None:
    """Upsert the source's status row (also on failure, so `advisories status` shows the error)."""
    state = session.get(AdvisorySourceState, name)
    now = utcnow()
    if state is None:
        state = AdvisorySourceState(name=name, kind=kind, records=0, advisories=0, skipped=0, skipped_reasons={})
        session.add(state)
    state.kind, state.location, state.last_attempt_at = kind, location, now
    state.last_error = error
    if error is None and result is not None:
        state.last_success_at = now
        state.records = tally.records
        state.skipped = sum(tally.skipped.values())
        state.skipped_reasons = {k: {"count": v, "example": tally.examples.get(k, "")} for k, v in tally.skipped.items()}
        state.last_changeset_id = result.changeset_id
        if kind in ("nvd", "cve"):  # CVEs this feed scores
            state.advisories = session.scalar(select(func.count()).select_from(CveSeverityRecord).where(
                CveSeverityRecord.feed == kind, CveSeverityRecord.severity.is_not(None))) or 0
        else:
            state.advisories = session.scalar(
                select(func.count()).select_from(AdvisoryRecord).where(AdvisoryRecord.source == name)
            ) or (result.advisories if kind in ("kev", "epss") else 0)
        if cursor is not None:
            state.cursor = cursor
