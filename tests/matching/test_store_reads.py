"""The store reads matching uses (driver-level SQL, values converted by the columns' own types) give exactly
what the ORM gives, on SQLite and PostgreSQL, and every advisory's alias list is its own whatever is asked
with it (matching fetches all matched advisories in one call on that promise)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import select

from hullscan.advisories.reader import SqlAdvisoryStore, SqliteFileAdvisoryStore
from hullscan.advisories.service import import_path
from hullscan.advisories.store import _ranges_from_json
from hullscan.db import Database, upgrade
from hullscan.db.models.advisories import AdvisoryAlias, AdvisoryRecord, AffectedEntry
from hullscan.settings import Settings
from tests.conftest import data_path

IMPORTS = [("osv", "pypi.jsonl.gz"), ("debian", "DSA", "list"), ("kev",)]


def _imported(tmp: Path, url: str) -> Iterator:
    settings = Settings(data_dir=tmp, database_url=url)
    upgrade(settings)
    db = Database(settings)
    for parts in IMPORTS:
        for result in import_path(db, settings, str(data_path("advisories", *parts))):
            assert result.ok, result
    with db.session() as s:
        yield s
    db.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def session(request, tmp_path_factory) -> Iterator:
    tmp = tmp_path_factory.mktemp(f"reads-{request.param}")
    url = f"sqlite:///{tmp / 'hullscan.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres").create_database()
    yield from _imported(tmp, url)


@pytest.fixture(scope="module")
def sqlite_session(tmp_path_factory) -> Iterator:
    tmp = tmp_path_factory.mktemp("reads-file")
    yield from _imported(tmp, f"sqlite:///{tmp / 'hullscan.db'}")


def test_affected_for_returns_the_stored_rows_in_order(session) -> None:
    keys = sorted(set(session.execute(
        select(AffectedEntry.ecosystem, AffectedEntry.package).where(AffectedEntry.ecosystem.in_(["PyPI", "Debian:11"]))
    ).all()))
    assert len(keys) > 600
    got = SqlAdvisoryStore(session).affected_for([tuple(k) for k in keys])
    withdrawn = set(session.scalars(select(AdvisoryRecord.id).where(AdvisoryRecord.withdrawn.is_not(None))))
    rows = session.scalars(select(AffectedEntry).where(AffectedEntry.ecosystem.in_(["PyPI", "Debian:11"]))
                           .order_by(AffectedEntry.id)).all()
    expected: dict[tuple[str, str], list[tuple]] = {}
    for r in rows:
        if r.advisory_id not in withdrawn:
            expected.setdefault((r.ecosystem, r.package), []).append(
                (r.advisory_id, r.ecosystem, r.package, _ranges_from_json(r.ranges), list(r.versions), r.fix_state,
                 r.severity))
    actual = {k: [(a.advisory_id, a.ecosystem, a.package, a.ranges, a.versions, a.fix_state, a.severity) for a in v]
              for k, v in got.items()}
    assert actual == expected


def test_advisories_carry_the_stored_fields_with_utc_datetimes(session) -> None:
    records = {r.id: r for r in session.scalars(select(AdvisoryRecord).where(
        AdvisoryRecord.source.in_(["osv:pypi", "debian-dsa"])))}
    got = SqlAdvisoryStore(session).advisories(sorted(records))
    assert set(got) == set(records)
    for ident, record in records.items():
        adv = got[ident]
        assert (adv.source, adv.summary, adv.details, adv.severity, adv.cvss_vector, adv.cvss_score) == (
            record.source, record.summary, record.details, record.severity, record.cvss_vector, record.cvss_score)
        assert adv.references == list(record.references) and adv.cvss_vectors == dict(record.cvss_vectors)
        assert (adv.published, adv.modified, adv.withdrawn) == (record.published, record.modified, record.withdrawn)
        for value in (adv.published, adv.modified, adv.withdrawn):
            assert value is None or value.tzinfo is not None and value.utcoffset() == UTC.utcoffset(None)
    assert any(a.published for a in got.values()) and any(a.references for a in got.values())
    assert any(a.known_exploited and a.known_exploited_date for a in got.values()), "KEV reaches linked records"


def test_alias_lists_do_not_depend_on_what_else_is_asked(session) -> None:
    store = SqlAdvisoryStore(session)
    assert store.alias_lists_per_id is True
    ids = sorted(set(session.scalars(select(AdvisoryAlias.advisory_id))))
    together = store.advisories(ids)
    sample = random.Random(5).sample(ids, 40)
    # DSAs bundle several CVEs; a CVE shared by a PYSEC record and a DSA must not merge the DSA's other CVEs
    sample += [i for i in ids if i.startswith("DSA-")][:10]
    for ident in sample:
        alone = store.advisories([ident])[ident]
        assert alone.aliases == together[ident].aliases, ident
        assert (alone.known_exploited, alone.epss_score) == (together[ident].known_exploited, together[ident].epss_score)
    assert any(len(together[i].aliases) > 1 for i in sample)


def test_the_sqlite_file_store_answers_as_the_session_store(sqlite_session) -> None:
    """`hullscan scan` on the embedded default reads the file with the standard library's driver."""
    session = sqlite_session
    ours = SqliteFileAdvisoryStore(Path(session.get_bind().url.database))
    try:
        reference = SqlAdvisoryStore(session)
        keys = [tuple(k) for k in session.execute(select(AffectedEntry.ecosystem, AffectedEntry.package).distinct())]
        assert len(keys) > 600
        assert ours.affected_for(keys) == reference.affected_for(keys)
        ids = sorted(session.scalars(select(AdvisoryRecord.id)))
        assert ours.advisories(ids) == reference.advisories(ids)
        assert any(a.published for a in reference.advisories(ids).values())
        assert not ours.is_empty()
    finally:
        ours.close()


def test_reader_reads_advisory_columns_with_the_models_types() -> None:
    from sqlalchemy import JSON, Float, String, Text

    from hullscan.advisories import reader
    from hullscan.db.base import UTCDateTime

    kinds = {"datetime": UTCDateTime, "json": JSON}
    for name, kind in reader._ADVISORY_COLUMNS:
        column_type = AdvisoryRecord.__table__.c[name].type
        if kind is None:  # read as the driver gives it
            assert isinstance(column_type, (String, Text, Float)), name
        else:
            assert type(column_type) is kinds[kind], name


def test_matchings_store_reads_load_no_orm_models() -> None:
    """`hullscan scan` opens the store through the reader; the models of every part stay unloaded."""
    import subprocess
    import sys

    code = ("import sys, hullscan.advisories.reader, hullscan.db; "
            "print(sorted(m for m in sys.modules if m.startswith('hullscan.db.models')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
    code = "import sys, hullscan.advisories.reader; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False", "the SQLite file store must not load SQLAlchemy"
