"""Continuous re-matching in bulk: the same vulnerabilities as matching each stored image afresh, with a number of
SQL statements that does not grow with the number of images. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from sqlalchemy import event, insert, select

from hullscan.advisories.normalize import normalize_name
from hullscan.advisories.reader import SqlAdvisoryStore
from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import SbomOccurrence, SbomSource, Vulnerability
from hullscan.ingestion import service as ingestion_service
from hullscan.ingestion.service import inventory_of_source, rematch_advisory_changes
from hullscan.matching.engine import match

POOL = [f"rematchpkg-{i:02d}" for i in range(24)]


def advisory(i: int, fixed: str, withdrawn: str | None = None) -> dict:
    rec = {"id": f"HULLSCAN-RM-{i:02d}", "modified": "2026-11-28T00:00:00Z", "summary": f"test {POOL[i]}",
           "affected": [{"package": {"ecosystem": "PyPI", "name": POOL[i]},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}
    if withdrawn:
        rec["withdrawn"] = withdrawn
    return rec


def store_images(db: Database, pid: int, prefix: str, count: int, rng: random.Random) -> None:
    """Stored images as ingestion leaves them (sources and occurrences), two tags per image name."""
    with db.session() as s:
        s.execute(insert(SbomSource), [dict(project_id=pid, source_type=2, image_name=f"reg/{prefix}/img{i // 2}",
                                            image_tag=f"t{i % 2}", image_digest=f"sha256:{i:064d}")
                                       for i in range(count)])
        ids = s.scalars(select(SbomSource.id).where(SbomSource.image_name.like(f"reg/{prefix}/%"))).all()
        rows = []
        for sid in ids:
            for name in rng.sample(POOL, 6):
                version = rng.choice(["1.0", "2.5", "3.0"])
                rows.append(dict(source_id=sid, project_id=pid, name=name, version=version, type="python",
                                 purl=f"pkg:pypi/{name}@{version}", ecosystem="PyPI",
                                 package_key=normalize_name("PyPI", name)))
        s.execute(insert(SbomOccurrence), rows)


class Feed:
    """The advisory source as a whole: each publication imports every record (a source import is a snapshot;
    the store records what changed)."""

    def __init__(self, tmp_path: Path, db: Database, settings) -> None:
        self.path, self.db, self.settings = tmp_path / "feed.jsonl", db, settings
        self.records: dict[str, dict] = {}

    def __call__(self, records: list[dict]) -> None:
        self.records.update({r["id"]: r for r in records})
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.records.values()))
        import_path(self.db, self.settings, str(self.path), fmt="osv", source="rematch-test")


def expected(session, pid: int) -> set[tuple[str, str, str, str]]:
    """Every stored image of the project matched afresh, with no advisory cache."""
    store = SqlAdvisoryStore(session)
    out = set()
    for source in session.scalars(select(SbomSource).where(SbomSource.project_id == pid)):
        occurrences = session.scalars(select(SbomOccurrence).where(SbomOccurrence.source_id == source.id)
                                      .order_by(SbomOccurrence.id)).all()
        for f in match(inventory_of_source(source, occurrences), store).findings:
            out.add((source.image_name, f.package.name, f.vulnerability_id, f.severity))
    return out


def current(session, pid: int) -> set[tuple[str, str, str, str]]:
    return {(v.image_name, v.package_name, v.primary_identifier, v.severity) for v in session.scalars(
        select(Vulnerability).where(Vulnerability.project_id == pid, Vulnerability.no_longer_detected.is_(False)))}


def rematch_counting(db: Database) -> tuple[int, Counter[str]]:
    """(sources re-matched, SQL statements executed by kind) of one re-match run: "advisories" reads the advisory
    store, "recording" everything else (occurrences, vulnerabilities, sightings, transitions)."""
    statements: Counter[str] = Counter()

    def count(conn, cursor, statement: str, *_args) -> None:
        statements["advisories" if "advisor" in statement.split(" WHERE ")[0].lower() else "recording"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.session() as s:
            result = rematch_advisory_changes(s, limit=1000)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return result.sources, statements


def test_rematch_in_bulk_equals_fresh_matching(migrated_settings, tmp_path, monkeypatch) -> None:
    db = Database(migrated_settings)
    rng = random.Random(11)
    with db.session() as s:
        small = projects.create_project(s, "group/small").id
        large = projects.create_project(s, "group/large").id
        projects.update_project_settings(s, projects.get_project(s, large), auto_resolve=True)  # small: off
    store_images(db, small, "small", 4, rng)
    store_images(db, large, "large", 60, rng)
    feed = Feed(tmp_path, db, migrated_settings)

    # Advisories for half the pool: new vulnerabilities in both projects, no pipeline.
    feed([advisory(i, "2.0") for i in range(0, 24, 2)])
    sources, _ = rematch_counting(db)
    assert sources == 64
    with db.session() as s:
        for pid in (small, large):
            assert current(s, pid) == expected(s, pid) and len(current(s, pid)) > (30 if pid == large else 2)
        assert {v.activity for v in s.scalars(select(Vulnerability))} == {"detected_by_advisory_update"}

    # A narrowed range (fixed earlier), a withdrawal, a new advisory: each image's set follows the advisories,
    # also when the images are recorded in several batches (of about 7 images, the two tags of an image together).
    monkeypatch.setattr(ingestion_service, "REMATCH_BATCH", 7)
    feed([advisory(0, "1.0"), advisory(2, "2.0", withdrawn="2026-11-28T01:00:00Z"), advisory(1, "9.0")])
    assert rematch_counting(db)[0] > 14
    with db.session() as s:
        for pid in (small, large):
            assert current(s, pid) == expected(s, pid)
        gone = s.scalars(select(Vulnerability).where(Vulnerability.no_longer_detected.is_(True))).all()
        assert {v.package_name for v in gone} == {POOL[0], POOL[2]}
        # re-matching honours each project's auto_resolve, as ingestion does
        assert {v.state for v in gone if v.project_id == large} == {"resolved"}
        assert {v.state for v in gone if v.project_id == small} == {"detected"}

    monkeypatch.undo()

    # The statements a re-match needs do not grow with the images it touches: four packages held by a few
    # images cost what four packages held by dozens cost.
    only_small, everywhere = [POOL[i] for i in (3, 5, 7, 9)], [POOL[i] for i in (11, 13, 15, 17)]
    with db.session() as s:
        s.execute(SbomOccurrence.__table__.delete().where(SbomOccurrence.project_id == large,
                                                          SbomOccurrence.name.in_(only_small)))
    feed([advisory(POOL.index(n), "9.0") for n in only_small])
    sources_small, statements_small = rematch_counting(db)
    feed([advisory(POOL.index(n), "9.0") for n in everywhere])
    sources_large, statements_large = rematch_counting(db)
    assert 1 <= sources_small <= 4 and sources_large >= 30, (sources_small, sources_large)
    assert statements_large["recording"] <= statements_small["recording"] + 8, (statements_small, statements_large)
    if getattr(SqlAdvisoryStore, "alias_lists_per_id", False):  # advisories are then read once per batch, not once per image
        assert statements_large["advisories"] <= statements_small["advisories"] + 4, (statements_small,
                                                                                     statements_large)
    with db.session() as s:
        for pid in (small, large):
            assert current(s, pid) == expected(s, pid)
    db.dispose()
