"""Red Hat's repository-to-CPE map is synced like the other Red Hat data and read by matching through the store.

A loopback HTTP server stands in for security.access.redhat.com, serving tests/data/redhat-repository-cpe
(shaped like the real file, see its README). A sync stores the map whole; a malformed, unusable or oversized file
fails the source with a clear error and keeps the previous map; before any sync the store says it has none.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from hullscan.advisories import service
from hullscan.advisories.parsers import redhat_repositories
from hullscan.advisories.parsers.base import Tally
from hullscan.advisories.reader import SqlAdvisoryStore, SqliteFileAdvisoryStore
from hullscan.db import Database
from hullscan.settings import Settings

MAP = Path(__file__).parent.parent / "data" / "redhat-repository-cpe" / "repository-to-cpe.json"


class _Site:
    """A folder served over loopback HTTP; `body` is the file at /data/metrics/repository-to-cpe.json."""

    def __init__(self, root: Path) -> None:
        self.file = root / "data" / "metrics" / "repository-to-cpe.json"
        self.file.parent.mkdir(parents=True)
        self.body = MAP.read_bytes()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(root)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/data/metrics/repository-to-cpe.json"

    @property
    def body(self) -> bytes:
        return self.file.read_bytes()

    @body.setter
    def body(self, data: bytes) -> None:
        self.file.write_bytes(data)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[_Site]:
    s = _Site(tmp_path / "site")
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture
def synced(migrated_settings: Settings, site: _Site) -> Iterator[tuple[Database, Settings]]:
    cfg = migrated_settings.model_copy(update={"advisories_redhat_repository_cpe_url": site.url,
                                               "advisories_http_retries": 1})
    db = Database(cfg)
    try:
        [result] = service.sync(db, cfg, ["redhat-cpe"])
        assert result.ok and result.source == "redhat-repository-cpes", result
        assert result.records == 11 and result.added == 10 and not result.skipped
        yield db, cfg
    finally:
        db.dispose()


def test_sync_stores_the_map_and_the_store_answers_from_it(synced: tuple[Database, Settings]) -> None:
    db, cfg = synced
    with db.read_session() as session:
        stored = service.repository_cpes(session)
        store = SqlAdvisoryStore(session)
        got = store.repository_cpes(["rhel-9-for-x86_64-baseos-eus-rpms", "rhel-9-for-x86_64-sap-solutions-rpms",
                                     "not-a-red-hat-repo-rpms"])
        state = next(s for s in service.status(session)["sources"] if s["name"] == "redhat-repository-cpes")
    assert len(stored) == 10
    assert got == {  # the `__9_DOT_4__x86_64` label folded into its content set
        "rhel-9-for-x86_64-baseos-eus-rpms": ("cpe:/a:redhat:rhel_eus:9.0::baseos", "cpe:/a:redhat:rhel_eus:9.2::baseos",
                                              "cpe:/a:redhat:rhel_eus:9.4::baseos"),
        "rhel-9-for-x86_64-sap-solutions-rpms": ("cpe:/a:redhat:enterprise_linux:9::sap",),
    }
    assert state["last_error"] is None and state["records"] == 11 and state["location"] == cfg.advisories_redhat_repository_cpe_url
    if cfg.database_url and cfg.database_url.startswith("sqlite:///"):  # `hullscan scan`'s driver-level store too
        file_store = SqliteFileAdvisoryStore(Path(cfg.database_url.removeprefix("sqlite:///")))
        try:
            assert file_store.repository_cpes(["rhel-9-for-x86_64-sap-solutions-rpms"]) == {
                "rhel-9-for-x86_64-sap-solutions-rpms": ("cpe:/a:redhat:enterprise_linux:9::sap",)}
        finally:
            file_store.close()


def test_store_without_a_synced_map_says_so(migrated_settings: Settings) -> None:
    db = Database(migrated_settings)
    try:
        with db.read_session() as session:
            assert SqlAdvisoryStore(session).repository_cpes(["rhel-9-for-x86_64-baseos-rpms"]) is None
    finally:
        db.dispose()


@pytest.mark.parametrize(("body", "error"), [
    (b"{\"data\": {\"rhel-9-for-x86_64-baseos-rpms\": ", "InvalidMapping: not JSON"),
    (b"[1, 2, 3]", 'no "data" object'),
    (json.dumps({"data": {"../etc": {"cpes": ["cpe:/o:redhat:enterprise_linux:9::baseos"]},
                          "rhel-9-x-rpms": {"cpes": ["not a cpe"]}, "y-rpms": {"cpes": []}}}).encode(),
     "none of its 3 entries"),
    (b" " * 4096 + MAP.read_bytes(), "larger than 2048 bytes"),
])
def test_a_bad_file_is_refused_and_the_previous_map_kept(synced: tuple[Database, Settings], site: _Site,
                                                          body: bytes, error: str) -> None:
    db, cfg = synced
    with db.read_session() as session:
        before = service.repository_cpes(session)
    site.body = body
    cfg = cfg.model_copy(update={"advisories_redhat_repository_cpe_max_bytes": 2048}) \
        if error.startswith("larger") else cfg
    [result] = service.sync(db, cfg, ["redhat-cpe"])
    assert not result.ok and result.error is not None and error in result.error, result.error
    with db.read_session() as session:
        assert service.repository_cpes(session) == before
        state = next(s for s in service.status(session)["sources"] if s["name"] == "redhat-repository-cpes")
    assert state["last_error"] == result.error and state["last_success_at"] is not None
    assert len(_changesets(db)) == 1  # the first sync's only: a refused file changes nothing to re-match


def test_entries_that_are_not_repositories_with_cpes_are_counted() -> None:
    tally = Tally()
    got = redhat_repositories.parse(json.dumps({"data": {
        "rhel-9-for-x86_64-baseos-rpms": {"cpes": ["cpe:/o:redhat:enterprise_linux:9::baseos"]},
        "bad label": {"cpes": ["cpe:/o:redhat:enterprise_linux:9::baseos"]},
        "rhel-9-for-x86_64-appstream-rpms": {"cpes": "cpe:/a:redhat:enterprise_linux:9::appstream"},
        "rhel-9-for-x86_64-sap-solutions-rpms": {"cpes": ["cpe:/a:redhat:enterprise_linux:9::sap", 7]},
    }}).encode(), tally)
    assert got == {"rhel-9-for-x86_64-baseos-rpms": ("cpe:/o:redhat:enterprise_linux:9::baseos",)}
    assert tally.records == 4 and dict(tally.skipped) == {"invalid_repository": 1, "no_cpes": 1, "invalid_cpe": 1}


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=20), kids, max_size=4),
                     max_leaves=20)
_labels = st.sampled_from(["rhel-9-for-x86_64-baseos-rpms", "x__9_DOT_4__x86_64", "", "../x", "a" * 300]) | \
    st.text(max_size=40)
_cpes = st.lists(st.sampled_from(["cpe:/o:redhat:enterprise_linux:9::baseos", "cpe:/a:redhat:rhel_eus:9.4::sap",
                                  "cpe:/", "x"]) | st.text(max_size=30), max_size=4)
_documents = st.dictionaries(_labels, st.fixed_dictionaries({"cpes": _cpes}) | _json, max_size=8).map(
    lambda d: {"data": d}) | _json


@given(doc=_documents, raw=st.binary(max_size=64), as_raw=st.booleans())
@hyp_settings(max_examples=300, deadline=None)
def test_any_bytes_give_a_map_of_repositories_to_cpes_or_the_parsers_error(doc: object, raw: bytes,
                                                                            as_raw: bool) -> None:
    tally = Tally()
    data = raw if as_raw else json.dumps(doc).encode()
    try:
        got = redhat_repositories.parse(data, tally)
    except redhat_repositories.InvalidMapping:
        return
    doc = json.loads(raw) if as_raw else doc
    assert got and isinstance(doc, dict)
    assert tally.records == len(doc["data"]) >= len(got)
    for repository, cpes in got.items():
        assert "__" not in repository and "/" not in repository and 0 < len(repository) <= 200
        assert cpes == tuple(sorted(set(cpes))) and all(c.startswith("cpe:/") for c in cpes)


def _changesets(db: Database) -> list[service.Changeset]:
    with db.read_session() as session:
        return [c for c in service.changesets_since(session) if c.source == redhat_repositories.KIND]


def test_a_sync_that_changes_the_map_records_the_repositories_and_an_identical_one_nothing(
        synced: tuple[Database, Settings], site: _Site) -> None:
    db, cfg = synced
    [first] = _changesets(db)  # the first sync: every repository is new
    assert (first.added, first.modified, first.withdrawn) == (10, 0, 0)
    assert {c.advisory_id for c in first.changes} == set(json.loads(MAP.read_bytes())["data"]) - {
        "rhel-9-for-x86_64-baseos-eus-rpms__9_DOT_4__x86_64"}
    assert all(c.keys == [(redhat_repositories.CONTENT_SET_KEY, c.advisory_id)] for c in first.changes)

    [same] = service.sync(db, cfg, ["redhat-cpe"])
    assert same.ok and _changesets(db) == [first]

    data = json.loads(MAP.read_bytes())["data"]
    data["rhel-9-for-x86_64-sap-solutions-rpms"]["cpes"].append("cpe:/a:redhat:rhel_e4s:9.4::sap")
    del data["rhel-9-for-x86_64-highavailability-rpms"]
    data["rhel-10-for-x86_64-baseos-rpms"] = {"cpes": ["cpe:/o:redhat:enterprise_linux:10::baseos"]}
    data["rhel-9-for-x86_64-appstream-eus-rpms"]["cpes"].reverse()  # order does not count
    site.body = json.dumps({"data": data}).encode()
    [changed] = service.sync(db, cfg, ["redhat-cpe"])
    assert changed.ok, changed
    [_, second] = _changesets(db)
    assert [(c.advisory_id, c.change) for c in second.changes] == [
        ("rhel-10-for-x86_64-baseos-rpms", "added"), ("rhel-9-for-x86_64-highavailability-rpms", "withdrawn"),
        ("rhel-9-for-x86_64-sap-solutions-rpms", "modified")]
    assert (second.added, second.modified, second.withdrawn) == (1, 1, 1)
    with db.read_session() as session:
        stored = service.repository_cpes(session)
        state = next(s for s in service.status(session)["sources"] if s["name"] == redhat_repositories.KIND)
    assert "rhel-9-for-x86_64-highavailability-rpms" not in stored and state["last_changeset_id"] == second.id
    assert stored["rhel-9-for-x86_64-sap-solutions-rpms"] == ("cpe:/a:redhat:enterprise_linux:9::sap",
                                                              "cpe:/a:redhat:rhel_e4s:9.4::sap")


_maps = st.dictionaries(st.sampled_from(["a-rpms", "b-rpms", "c-rpms", "d-rpms"]),
                        st.lists(st.sampled_from(["cpe:/o:redhat:x:9", "cpe:/a:redhat:y:9.4", "cpe:/a:redhat:z"]),
                                 min_size=1, max_size=3, unique=True).map(lambda c: tuple(sorted(c))), max_size=4)


@given(old=_maps, new=_maps)
def test_changes_name_exactly_the_repositories_whose_cpes_differ(old: dict[str, tuple[str, ...]],
                                                                  new: dict[str, tuple[str, ...]]) -> None:
    got = redhat_repositories.changes(old, new)
    assert set(got) == {r for r in old.keys() | new.keys() if old.get(r) != new.get(r)}
    assert all(got[r] == ("added" if r not in old else "withdrawn" if r not in new else "modified") for r in got)
    assert (not got) == (old == new) and list(got) == sorted(got)
