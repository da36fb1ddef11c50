"""`sync` from an OSV-bucket-shaped tree over HTTP: first full sync, incremental no-op, incremental with
changes, a download cut mid-way (retried; no partial state), and a corrupt all.zip (old data intact)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from hullscan.advisories import service
from hullscan.advisories.service import SqlAdvisoryStore, changesets_since
from hullscan.db import Database
from hullscan.settings import Settings
from tests.advisories.helpers import osv_records
from tests.advisories.osv_bucket import Bucket
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER


@pytest.fixture
def bucket() -> Iterator[Bucket]:
    b = Bucket().start()
    yield b
    b.stop()


@pytest.fixture
def records() -> list[dict]:
    out = []
    for i, r in enumerate(osv_records(limit=40)):
        r = copy.deepcopy(r)
        r["modified"] = f"2024-01-01T00:00:{i:02d}Z"
        out.append(r)
    return out


def _settings(base: Settings, bucket: Bucket) -> Settings:
    return base.model_copy(update={"advisories_osv_base_url": bucket.url, "advisories_osv_ecosystems": ["PyPI"],
                                   "advisories_http_retries": 3})


def _state(db: Database, name: str = "osv:pypi") -> dict:
    with db.session() as s:
        return {x["name"]: x for x in service.status(s)["sources"]}[name]


def test_full_then_incremental_sync(migrated_settings: Settings, bucket: Bucket, records: list[dict]) -> None:
    settings = _settings(migrated_settings, bucket)
    db = Database(settings)
    try:
        bucket.publish("PyPI", records)
        first = service.sync(db, settings, ["osv"])
        assert [(r.source, r.ok) for r in first] == [("osv:pypi", True)]
        assert first[0].added + first[0].withdrawn == 40
        assert "/PyPI/all.zip" in bucket.requests
        assert _state(db)["cursor"] == "2024-01-01T00:00:39Z"

        # No-op: only modified_id.csv is fetched, nothing changes, no changeset entries.
        bucket.requests.clear()
        with db.session() as s:
            last = service.status(s)["totals"]["last_changeset_id"]
        noop = service.sync(db, settings, ["osv:pypi"])
        assert noop[0].ok and (noop[0].added, noop[0].modified, noop[0].withdrawn) == (0, 0, 0)
        assert bucket.requests == ["/PyPI/modified_id.csv"]
        with db.session() as s:
            assert changesets_since(s, last) == []

        # Two records change upstream: only those two are fetched and applied.
        changed = copy.deepcopy(records)
        changed[5]["summary"] = "new summary"
        changed[5]["modified"] = "2024-02-01T00:00:00Z"
        changed[9]["withdrawn"] = "2024-02-02T00:00:00Z"
        changed[9]["modified"] = "2024-02-02T00:00:00Z"
        bucket.publish("PyPI", changed)
        bucket.requests.clear()
        inc = service.sync(db, settings, ["osv"])
        assert inc[0].ok
        assert sorted(bucket.requests) == sorted(["/PyPI/modified_id.csv", f"/PyPI/{records[5]['id']}.json",
                                                  f"/PyPI/{records[9]['id']}.json"])
        was_withdrawn = bool(records[9].get("withdrawn"))
        assert (inc[0].modified, inc[0].withdrawn) == ((2, 0) if was_withdrawn else (1, 1))
        with db.session() as s:
            sets = changesets_since(s, last)
            assert {c.advisory_id for cs in sets for c in cs.changes} == {records[5]["id"], records[9]["id"]}
            advs = SqlAdvisoryStore(s).advisories([records[5]["id"], records[9]["id"]])
            assert advs[records[5]["id"]].summary == "new summary"
            assert advs[records[9]["id"]].withdrawn is not None
        assert _state(db)["cursor"] == "2024-02-02T00:00:00Z"
    finally:
        db.dispose()


def test_download_cut_midway_is_retried(migrated_settings: Settings, bucket: Bucket, records: list[dict]) -> None:
    settings = _settings(migrated_settings, bucket)
    db = Database(settings)
    try:
        bucket.publish("PyPI", records)
        bucket.cut_next["/PyPI/all.zip"] = 1
        result = service.sync(db, settings, ["osv"])[0]
        assert result.ok and result.added + result.withdrawn == 40
        assert bucket.requests.count("/PyPI/all.zip") == 2

        # Always cut: the sync fails with a clear error and writes nothing.
        other = settings.model_copy(update={"advisories_osv_ecosystems": ["Go"]})
        bucket.publish("Go", osv_records("go.jsonl.gz", limit=10))
        bucket.cut_next["/Go/all.zip"] = 99
        failed = service.sync(db, other, ["osv"])[0]
        assert not failed.ok and "all.zip" in failed.error and "bytes" in failed.error
        state = _state(db, "osv:go")
        assert state["last_error"] and state["last_success_at"] is None and state["advisories"] == 0
        with db.session() as s:
            assert service.status(s)["totals"]["advisories"] == 40
    finally:
        db.dispose()


def test_corrupt_zip_keeps_previous_data(migrated_settings: Settings, bucket: Bucket, records: list[dict]) -> None:
    settings = _settings(migrated_settings, bucket)
    db = Database(settings)
    try:
        bucket.publish("PyPI", records)
        assert service.sync(db, settings, ["osv"])[0].ok
        # Many changes force a full download; the archive is damaged inside (CRC error in a member).
        forced = settings.model_copy(update={"advisories_osv_incremental_max": 0})
        changed = copy.deepcopy(records)
        for r in changed:
            r["modified"] = "2024-03-01T00:00:00Z"
            r["summary"] = "should never be visible"
        bucket.publish("PyPI", changed)
        data = bytearray(bucket.files["/PyPI/all.zip"])
        mid = len(data) // 2
        data[mid:mid + 64] = bytes(64)
        bucket.files["/PyPI/all.zip"] = bytes(data)
        result = service.sync(db, forced, ["osv"])[0]
        assert not result.ok and "CorruptArchive" in result.error and "all.zip" in result.error
        state = _state(db)
        assert state["last_error"] and state["cursor"] == "2024-01-01T00:00:39Z"
        with db.session() as s:
            advs = SqlAdvisoryStore(s).advisories([r["id"] for r in records])
            assert len(advs) == 40 and all(a.summary != "should never be visible" for a in advs.values())

        bucket.files["/PyPI/all.zip"] = b"this is not a zip at all"
        bad = service.sync(db, forced, ["osv"])[0]
        assert not bad.ok and "not a readable zip" in bad.error
    finally:
        db.dispose()


def test_import_from_url(migrated_settings: Settings, bucket: Bucket, records: list[dict]) -> None:
    bucket.publish("PyPI", records)
    db = Database(migrated_settings)
    try:
        result = service.import_path(db, migrated_settings, bucket.url + "/PyPI/all.zip")[0]
        assert result.source == "osv:pypi"
        assert result.ok and result.records == 40 and result.added + result.withdrawn == 40
        missing = service.import_path  # a 404 is a clear error, not a crash
        with pytest.raises(Exception, match="HTTP 404"):
            missing(db, migrated_settings, bucket.url + "/PyPI/nope.zip")
    finally:
        db.dispose()


def test_serve_runs_the_scheduled_sync(migrated_settings: Settings, bucket: Bucket, records: list[dict]) -> None:
    import time

    from fastapi.testclient import TestClient

    from hullscan.web.app import create_app

    bucket.publish("PyPI", records)
    settings = _settings(migrated_settings, bucket).model_copy(update={
        "advisories_sync_interval": 3600, "advisories_sync_initial_delay": 0, "advisories_sources": ["osv"],
        "admin_password": SecretStr(ADMIN_PASSWORD)})
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 120
        state = None
        while time.monotonic() < deadline:
            status = client.get("/api/v1/advisories/status", auth=(ADMIN_USER, ADMIN_PASSWORD)).json()
            sources = {s["name"]: s for s in status["sources"]}
            state = sources.get("osv:pypi")
            if state and state["last_success_at"]:
                break
            time.sleep(0.2)
        assert state and state["last_success_at"] and state["records"] == 40
    assert bucket.requests.count("/PyPI/all.zip") == 1
