"""Read side of the store: batched look-ups for matching, alias-merged advisories, changesets."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hullscan.batches import chunks
from hullscan.advisories.types import Advisory, AffectedPackage, AffectedRange, RangeEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hullscan.db.models.advisories import AffectedEntry

# The look-ups matching makes need no ORM models (importing them loads every part's tables: a quarter of a
# second of `hullscan scan`), nor, on the SQLite file, SQLAlchemy at all (`SqliteFileAdvisoryStore`: half a
# second of imports); the other reads below import them when called.


def _ranges_from_json(data: list[dict]) -> list[AffectedRange]:
    """Stored ranges (`[{"type": ..., "events": [{kind: version}, ...]}, ...]`, as the store writes them)."""
    return [
        AffectedRange(r.get("type", "ECOSYSTEM"), tuple(RangeEvent(k, v) for ev in r.get("events", []) for k, v in ev.items()))
        for r in data
    ]

# Matching's hot reads that return only strings and numbers run straight on the driver (SQLAlchemy's
# per-statement parameter expansion and per-row processing cost as much as SQLite's own work here), with only
# the columns matching uses. `{p}` is one parameter, `{in}` an IN-list of the values asked for; the parameters
# are bound in text order, `{p}` ones first. Ranges and versions come as their JSON text, parsed once per
# distinct text (most rows share a handful of shapes, e.g. `introduced 0 / fixed X`).
_AFFECTED_SQL = (
    "SELECT e.advisory_id, e.ecosystem, e.package, CAST(e.ranges AS TEXT), CAST(e.versions AS TEXT), e.fix_state,"
    " e.severity, e.arches, e.cpes FROM advisory_affected e JOIN advisories a ON a.id = e.advisory_id"
    " WHERE e.ecosystem = {p} AND e.package IN {in} AND a.withdrawn IS NULL ORDER BY e.id"
)
# Both directions of the alias graph, asked separately: two plain index searches cost less than one OR.
_EDGES_SQL = (
    "SELECT advisory_id, alias FROM advisory_aliases WHERE advisory_id IN {in}",
    "SELECT advisory_id, alias FROM advisory_aliases WHERE alias IN {in}",
)
# One index seek per ecosystem: does the store hold any record for it (the scan's "no silent gaps" warning).
_ECOSYSTEM_LOADED_SQL = "SELECT ecosystem FROM advisory_affected WHERE ecosystem IN {in} LIMIT 1"
_REPOSITORY_CPES_SQL = "SELECT repository, cpes FROM redhat_repository_cpes WHERE repository IN {in}"
_REPOSITORY_MAP_SYNCED_SQL = "SELECT 1 FROM redhat_repository_cpes LIMIT 1"
_ENRICHMENT_SQL = (
    "SELECT cve_id, known_exploited, known_exploited_date, epss_score, epss_percentile"
    " FROM vulnerability_enrichment WHERE cve_id IN {in}"
)
# Advisory rows go the same way; their datetimes and JSON are read with the columns' own types (`_processors`;
# the types are those of `AdvisoryRecord`, which a test holds them to).
# (column, kind): None = as the driver gives it, "datetime" = UTCDateTime, "json" = JSON.
_ADVISORY_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("id", None), ("source", None), ("summary", None), ("details", None), ("published", "datetime"),
    ("modified", "datetime"), ("withdrawn", "datetime"), ("severity", None), ("cvss_vector", None),
    ("cvss_score", None), ("cvss_vectors", "json"), ("references", "json"), ("severity_source", None),
)
_ADVISORIES_SQL = (
    "SELECT " + ", ".join(f'"{name}"' for name, _ in _ADVISORY_COLUMNS) + " FROM advisories WHERE id IN {in}"
)
# CVSS from the CVE feeds, for advisories with no severity of their own (docs/severity.md).
_CVE_SEVERITY_SQL = (
    "SELECT cve_id, feed, severity, score, vector, source FROM cve_severities"
    " WHERE cve_id IN {in} AND severity IS NOT NULL"
)
_FEED_RANK = {"nvd": 0, "cve": 1}  # NVD's analysed score first, then the CVE record's (CNA, then CISA-ADP)
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # positional placeholder per DB-API paramstyle


@lru_cache(maxsize=256)
def _driver_sql(template: str, mark: str, size: int) -> tuple[str, int]:
    in_list = "(" + ",".join([mark] * size) + ")"
    return template.replace("{p}", mark).replace("{in}", in_list), template.count("{in}")


@lru_cache(maxsize=64)
def _portable_sql(template: str) -> Any:
    from sqlalchemy import bindparam, text

    parts = template.split("{p}")
    sql = "".join(part + (f":p{i}" if i < len(parts) - 1 else "") for i, part in enumerate(parts))
    return text(sql.replace("{in}", ":values")).bindparams(bindparam("values", expanding=True))


def _rows(session: Session, template: str, values: list[Any], head: tuple[Any, ...] = ()) -> list[Any]:
    """Rows of one of the templates above for `values` (and the `{p}` parameters `head`)."""
    conn = session.connection()
    mark = _MARKS.get(conn.dialect.paramstyle)
    if mark is None:  # a driver with named parameters: the same statement through SQLAlchemy
        params = {f"p{i}": v for i, v in enumerate(head)}
        return list(conn.execute(_portable_sql(template), {**params, "values": values}).all())
    sql, lists = _driver_sql(template, mark, len(values))
    return list(conn.exec_driver_sql(sql, (*head, *(values * lists))).all())


@lru_cache(maxsize=8)
def _processors(dialect: Any) -> tuple[tuple[int, Any], ...]:
    """(position, result processor) of the advisory columns whose driver values may need converting (datetimes
    and JSON: text on SQLite). Strings and numbers come from the drivers as they are."""
    from sqlalchemy import JSON

    from hullscan.db.base import UTCDateTime

    out = []
    for index, (_, kind) in enumerate(_ADVISORY_COLUMNS):
        if kind is not None:
            type_ = UTCDateTime() if kind == "datetime" else JSON()
            process = type_.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                if kind == "datetime":  # immutable results, and a feed's dates repeat: read each once
                    process = lru_cache(maxsize=65536)(process)
                out.append((index, process))
    return tuple(out)


@lru_cache(maxsize=65536)
def _sqlite_datetime(value: str | None) -> datetime | None:
    """What SQLAlchemy's SQLite DATETIME and `UTCDateTime` make of a stored value (`YYYY-MM-DD HH:MM:SS.ffffff`)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _sqlite_json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


_SQLITE_PROCESSORS = tuple((index, _sqlite_datetime if kind == "datetime" else _sqlite_json)
                           for index, (_, kind) in enumerate(_ADVISORY_COLUMNS) if kind is not None)


@lru_cache(maxsize=65536)
def _ranges_of_text(text: str | None) -> tuple[AffectedRange, ...]:
    """Parsed ranges of one stored JSON text. The same AffectedRange objects are handed to every row with that
    text, so per-range work downstream (ordering parsed events) is done once per shape, not once per row."""
    return tuple(_ranges_from_json(json.loads(text) if text else []))


@lru_cache(maxsize=16384)
def _versions_of_text(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text and text != "[]" else ()


Rows = Callable[..., list[Any]]  # (template, values, head=()) -> rows


class _MatchingReads:
    """The look-ups matching makes (`AdvisoryStore`): every one a few IN-queries, never one per package, over
    `_rows` (a template of the SQL above, its values and `{p}` parameters -> rows) and `_processors`."""

    # Each advisory's alias list is its own closure in the alias graph, whatever else is asked in the same call
    # (see `linked_ids`); matching relies on this to fetch all matched advisories in one call.
    alias_lists_per_id = True

    def __init__(self, rows: Rows, processors: Callable[[], tuple[tuple[int, Any], ...]]) -> None:
        self._rows = rows
        self._processors = processors

    def affected_for(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[AffectedPackage]]:
        by_eco: dict[str, set[str]] = {}
        for eco, pkg in keys:
            by_eco.setdefault(eco, set()).add(pkg)
        out: dict[tuple[str, str], list[AffectedPackage]] = {}
        for eco, packages in by_eco.items():
            for chunk in chunks(sorted(packages)):
                rows = self._rows(_AFFECTED_SQL, chunk, (eco,))
                for advisory_id, ecosystem, package, ranges, versions, fix_state, severity, arches, cpes in rows:
                    out.setdefault((ecosystem, package), []).append(AffectedPackage(
                        advisory_id, ecosystem, package, list(_ranges_of_text(ranges)),
                        list(_versions_of_text(versions)), fix_state, severity, tuple(arches.split(",")) if arches else (),
                        tuple(cpes.split()) if cpes else (),
                    ))
        return out

    def ecosystems_loaded(self, ecosystems: Iterable[str]) -> set[str]:
        """Those of `ecosystems` the store holds any affected record for: a scan names the others, whose packages
        went unchecked, rather than report "Total: 0" in silence. One index seek each."""
        return {eco for eco in set(ecosystems) if self._rows(_ECOSYSTEM_LOADED_SQL, [eco])}

    def repository_cpes(self, repositories: Iterable[str]) -> dict[str, tuple[str, ...]] | None:
        """The product CPEs Red Hat's repository-to-CPE map gives each of `repositories` it names; None when the
        map was never synced (matching then falls back to its built-in rule for the main repositories)."""
        if not self._repository_map_synced():
            return None
        out: dict[str, tuple[str, ...]] = {}
        for chunk in chunks(sorted(set(repositories))):
            for repository, cpes in self._rows(_REPOSITORY_CPES_SQL, chunk):
                out[repository] = tuple(cpes.split())
        return out

    def _repository_map_synced(self) -> bool:
        return bool(self._rows(_REPOSITORY_MAP_SYNCED_SQL, []))

    def linked_ids(self, ids: Iterable[str]) -> dict[str, set[str]]:
        """Every identifier linked to each id through the alias graph (shared aliases, two hops)."""
        ids = list(dict.fromkeys(ids))
        neighbours: defaultdict[str, set[str]] = defaultdict(set)
        frontier = set(ids)
        asked: set[str] = set()
        for _ in range(2):
            frontier -= asked
            if not frontier:
                break
            asked |= frontier
            for chunk, sql in itertools.product(chunks(sorted(frontier)), _EDGES_SQL):
                for a, b in self._rows(sql, chunk):
                    neighbours[a].add(b)
                    neighbours[b].add(a)
            frontier = set(neighbours)
        bundle: dict[str, bool] = {}

        def is_bundle(node: str) -> bool:
            known_bundle = bundle.get(node)
            if known_bundle is None:
                known_bundle = bundle[node] = sum(1 for n in neighbours.get(node, ()) if n.startswith("CVE-")) > 1
            return known_bundle

        empty: set[str] = set()
        out: dict[str, set[str]] = {}
        for i in ids:
            hop1 = neighbours.get(i, empty) - {i}
            seen = {i} | hop1
            for node in hop1:
                if not is_bundle(node):
                    seen |= neighbours.get(node, empty)
            seen.discard(i)
            out[i] = seen
        return out

    def advisories(self, ids: Iterable[str]) -> dict[str, Advisory]:
        ids = list(dict.fromkeys(ids))
        rows: dict[str, list[Any]] = {}
        processors = self._processors()
        for chunk in chunks(ids):
            for raw in self._rows(_ADVISORIES_SQL, chunk):
                row = list(raw)
                for index, process in processors:
                    row[index] = process(row[index])
                rows[row[0]] = row
        linked = self.linked_ids(rows)
        cves = {i for i in rows if i.startswith("CVE-")}
        for others in linked.values():
            cves.update(x for x in others if x.startswith("CVE-"))
        enrich: dict[str, tuple[bool, str | None, float | None, float | None]] = {}
        for chunk in chunks(sorted(cves)):
            for cve_id, known_exploited, kev_added, epss_score, epss_percentile in self._rows(_ENRICHMENT_SQL, chunk):
                enrich[cve_id] = (bool(known_exploited), kev_added, epss_score, epss_percentile)
        unscored = [i for i, row in rows.items() if not (row[7] and row[7] != "unknown") and not row[8]]
        cve_scores = self._cve_severities({c for i in unscored for c in (linked[i] | {i}) if c in cves}) \
            if unscored else {}
        out = {}
        for i, (_, source, summary, details, published, modified, withdrawn, severity, cvss_vector, cvss_score,
                cvss_vectors, references, severity_source) in rows.items():
            others = linked[i]
            if cve_scores and not (severity and severity != "unknown") and not cvss_vector:
                scored = [cve_scores[c] for c in (others | {i}) if c in cve_scores]
                if scored:  # the worst of the CVEs this advisory names (a bundle can name several)
                    _, severity, cvss_score, cvss_vector, severity_source = min(scored, key=lambda x: (-x[2], x[0]))
            kev_date: str | None = None
            known_exploited = False
            best: tuple[bool, str | None, float | None, float | None] | None = None
            facts = [c for c in others if c in enrich] if enrich else []
            if i in enrich:
                facts.append(i)
            if facts:
                # sorted: of equal EPSS scores the smallest id's percentile wins, whatever the set order
                for c in sorted(facts):
                    fact = enrich[c]
                    if fact[0]:
                        known_exploited = True
                        if fact[1] and (kev_date is None or fact[1] < kev_date):
                            kev_date = fact[1]
                    if fact[2] is not None and (best is None or (fact[2] or 0.0) > (best[2] or 0.0)):
                        best = fact
            out[i] = Advisory(
                id=i, source=source, aliases=sorted(others), summary=summary, details=details,
                published=published, modified=modified, withdrawn=withdrawn, severity=severity,
                cvss_vector=cvss_vector, cvss_score=cvss_score, cvss_vectors=cvss_vectors or {},
                severity_source=severity_source,
                references=references or [], known_exploited=known_exploited,
                known_exploited_date=kev_date,
                epss_score=best[2] if best else None,
                epss_percentile=best[3] if best else None,
            )
        return out


    def _cve_severities(self, cves: set[str]) -> dict[str, tuple[str, str, float, str, str]]:
        """cve -> (cve, severity, score, vector, source) of the feed that ranks first for it."""
        best: dict[str, tuple[int, tuple[str, str, float, str, str]]] = {}
        for chunk in chunks(sorted(cves)):
            for cve_id, feed, severity, score, vector, source in self._cve_rows(chunk):
                rank = _FEED_RANK.get(feed, 9)
                if score is None or (cve_id in best and best[cve_id][0] <= rank):
                    continue
                best[cve_id] = (rank, (cve_id, severity, float(score), vector, f"{feed}:{source}"[:64]))
        return {c: v for c, (_, v) in best.items()}

    def _cve_rows(self, chunk: list[str]) -> list[Any]:
        return self._rows(_CVE_SEVERITY_SQL, chunk)


class SqlAdvisoryStore(_MatchingReads):
    """`AdvisoryStore` over a database session (SQLite or PostgreSQL), with the other reads of the store."""

    def __init__(self, session: Session) -> None:
        super().__init__(partial(_rows, session),
                         lambda: _processors(session.get_bind().dialect))
        self.session = session

    def affected_of(self, advisory_id: str) -> list[AffectedPackage]:
        from sqlalchemy import select

        from hullscan.db.models.advisories import AffectedEntry

        rows = self.session.execute(
            select(AffectedEntry).where(AffectedEntry.advisory_id == advisory_id).order_by(AffectedEntry.id)
        ).scalars()
        return [_affected(r) for r in rows]

    def search(self, package: str, ecosystem: str | None = None, limit: int = 200) -> list[AffectedPackage]:
        """Affected entries for a package name (normalised per ecosystem), across ecosystems unless one is given."""
        from sqlalchemy import and_, select

        from hullscan.advisories.normalize import normalize_name
        from hullscan.db.models.advisories import AffectedEntry

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
        fix_state=row.fix_state, severity=row.severity, arches=tuple(row.arches.split(",")) if row.arches else (),
        cpes=tuple(row.cpes.split()) if row.cpes else (),
    )


class SqliteFileAdvisoryStore(_MatchingReads):
    """`AdvisoryStore` straight on an SQLite database file with the standard library's driver: the same SQL
    and conversions as `SqlAdvisoryStore` (tests/matching/test_store_reads.py compares every answer), without
    importing SQLAlchemy, for `hullscan scan` on the embedded default. Reads only (`query_only`)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError("not a file")
        self._conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA query_only = ON")
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(advisories)")}
        if columns and "severity_source" not in columns:
            self._conn.close()
            raise sqlite3.OperationalError("the advisory store predates this version: run `hullscan db upgrade`")
        self._conn.execute("BEGIN")  # one snapshot for every read, as the session store's unit of work
        super().__init__(self._file_rows, lambda: _SQLITE_PROCESSORS)

    def _file_rows(self, template: str, values: list[Any], head: tuple[Any, ...] = ()) -> list[Any]:
        sql, lists = _driver_sql(template, "?", len(values))
        return self._conn.execute(sql, (*head, *(values * lists))).fetchall()

    def _cve_rows(self, chunk: list[str]) -> list[Any]:
        try:
            return super()._cve_rows(chunk)
        except sqlite3.OperationalError:  # a store written before CVE severities existed: none to add
            return []

    def _repository_map_synced(self) -> bool:
        try:
            return super()._repository_map_synced()
        except sqlite3.OperationalError:  # a store written before the map existed: never synced
            return False

    def is_empty(self) -> bool:
        """No advisory stored; sqlite3.Error when the file has no advisory tables (never migrated)."""
        return self._conn.execute("SELECT 1 FROM advisories LIMIT 1").fetchone() is None

    def close(self) -> None:
        self._conn.rollback()
        self._conn.close()


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
    from sqlalchemy import select

    from hullscan.db.models.advisories import AdvisoryChange, AdvisoryChangeset

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
