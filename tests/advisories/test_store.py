"""The advisory store on SQLite and PostgreSQL: imports, changesets, withdrawn records, bad input, batching,
alias merging and enrichment."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import event

from hullscan.advisories import service
from hullscan.advisories.service import SqlAdvisoryStore, changesets_since, import_path, normalize_name
from hullscan.advisories.types import AffectedPackage
from hullscan.db import Database
from hullscan.settings import Settings
from hullscan.versions import scheme_for_ecosystem
from hullscan.versions.ranges import RangeEvaluator
from tests.advisories.helpers import osv_records, write_jsonl
from tests.conftest import data_path


def is_affected(scheme: str, version: str, entry: AffectedPackage) -> bool:
    """The store's entry as matching evaluates it."""
    evaluator = RangeEvaluator()
    return evaluator.evaluate(scheme, version, evaluator.key(scheme, version), entry).affected


@pytest.fixture
def db(migrated_settings: Settings):
    database = Database(migrated_settings)
    yield database
    database.dispose()


def _status(db: Database) -> dict:
    with db.session() as s:
        return {x["name"]: x for x in service.status(s)["sources"]}


def test_import_every_shared_file_gives_documented_counts_and_reimport_changes_nothing(
    db: Database, migrated_settings: Settings
) -> None:
    results = import_path(db, migrated_settings, str(data_path("advisories")))
    by_name = {r.source: r for r in results}
    assert all(r.ok for r in results), [(r.source, r.error) for r in results if not r.ok]
    expected = {"osv:pypi": 2661, "osv:go": 4291, "alpine-secdb": 8000, "debian-dsa": 5406, "debian-dla": 3534,
                "kev": 1404, "ubuntu-oval:noble": 260}
    assert {k: by_name[k].records for k in expected} == expected
    status = _status(db)
    assert {k: status[k]["records"] for k in expected} == expected
    assert status["osv:pypi"]["advisories"] == 2661 - status["osv:pypi"]["skipped_reasons"].get(
        "invalid_record", {}).get("count", 0)
    with db.session() as s:
        last = service.status(s)["totals"]["last_changeset_id"]

    again = import_path(db, migrated_settings, str(data_path("advisories")))
    assert all(r.ok for r in again)
    assert all(r.added == r.modified == r.withdrawn == 0 for r in again), [
        (r.source, r.added, r.modified, r.withdrawn) for r in again]
    with db.session() as s:
        new_sets = changesets_since(s, last)
        assert all(not c.changes for c in new_sets)
        store = SqlAdvisoryStore(s)
        # A real Debian fix, keyed by SOURCE package and release number
        xorg = store.affected_for([("Debian:11", "xorg-server")])[("Debian:11", "xorg-server")]
        entry = next(a for a in xorg if a.advisory_id == "DSA-5380-1")
        assert is_affected("deb", "2:1.20.11-1+deb11u5", entry)
        assert not is_affected("deb", "2:1.20.11-1+deb11u6", entry)
        adv = store.advisories(["DSA-5380-1"])["DSA-5380-1"]
        assert "CVE-2023-1393" in adv.aliases
        # KEV enrichment reaches every record linked to the CVE
        kev_cve = "CVE-2021-44228"
        linked = [i for i, a in store.advisories(
            [r for r in _ids_with_alias(s, kev_cve)]).items() if a.known_exploited]
        assert linked, "Log4Shell is in KEV and in the Debian lists"


def _ids_with_alias(session, alias: str) -> list[str]:
    from sqlalchemy import select

    from hullscan.db.models.advisories import AdvisoryAlias

    return list(session.scalars(select(AdvisoryAlias.advisory_id).where(AdvisoryAlias.alias == alias)))


def test_modified_record_updates_and_is_in_the_changeset(db: Database, migrated_settings: Settings,
                                                         tmp_path: Path) -> None:
    records = [r for r in osv_records(limit=60) if r.get("affected") and not r.get("withdrawn")][:20]
    feed = write_jsonl(tmp_path / "feed.jsonl", records)
    first = import_path(db, migrated_settings, str(feed), source="osv:test")[0]
    assert first.ok and first.added == 20
    with db.session() as s:
        baseline = service.status(s)["totals"]["last_changeset_id"]

    changed = copy.deepcopy(records)
    target = changed[3]
    target["summary"] = "changed summary"
    eco, name = target["affected"][0]["package"]["ecosystem"], target["affected"][0]["package"]["name"]
    target["affected"][0]["ranges"] = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "999.0"}]}]
    gz = tmp_path / "feed2.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in changed) + "\n")
    second = import_path(db, migrated_settings, str(gz), source="osv:test")[0]
    assert (second.added, second.modified, second.withdrawn, second.unchanged) == (0, 1, 0, 19)
    with db.session() as s:
        sets = changesets_since(s, baseline)
        assert len(sets) == 1 and [c.advisory_id for c in sets[0].changes] == [target["id"]]
        assert sets[0].changes[0].change == "modified"
        key = ("PyPI", normalize_name(eco, name))
        assert key in sets[0].changes[0].keys
        store = SqlAdvisoryStore(s)
        assert store.advisories([target["id"]])[target["id"]].summary == "changed summary"
        entries = [a for a in store.affected_for([key])[key] if a.advisory_id == target["id"]]
        assert is_affected(scheme_for_ecosystem("PyPI"), "998.0", entries[0])


def test_withdrawn_record_never_matches_and_missing_records_are_withdrawn(
    db: Database, migrated_settings: Settings, tmp_path: Path
) -> None:
    records = [r for r in osv_records(limit=80) if r.get("affected") and not r.get("withdrawn")][:10]
    import_path(db, migrated_settings, str(write_jsonl(tmp_path / "a.jsonl", records)), source="osv:w")
    victim, dropped = copy.deepcopy(records[0]), records[1]
    victim["withdrawn"] = "2024-10-01T00:00:00Z"
    key = ("PyPI", normalize_name("PyPI", victim["affected"][0]["package"]["name"]))
    with db.session() as s:
        assert any(a.advisory_id == victim["id"] for a in SqlAdvisoryStore(s).affected_for([key]).get(key, []))
    result = import_path(db, migrated_settings, str(write_jsonl(tmp_path / "b.jsonl", [victim] + records[2:])),
                         source="osv:w")[0]
    assert (result.modified, result.withdrawn) == (0, 2)
    with db.session() as s:
        store = SqlAdvisoryStore(s)
        assert not any(a.advisory_id == victim["id"] for a in store.affected_for([key]).get(key, []))
        assert store.advisories([victim["id"]])[victim["id"]].withdrawn is not None
        assert dropped["id"] not in store.advisories([dropped["id"]])
        changes = {c.advisory_id: c.change for cs in changesets_since(s, 0) for c in cs.changes}
        assert changes[victim["id"]] == "withdrawn" and changes[dropped["id"]] == "withdrawn"


def test_bad_input_is_skipped_and_counted(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    good = osv_records(limit=5)
    unknown = copy.deepcopy(good[0])
    unknown["id"] = "TEST-UNKNOWN-ECO"
    unknown["affected"][0]["package"]["ecosystem"] = "NoSuchEcosystem"
    bad_version = copy.deepcopy(good[1])
    bad_version["id"] = "TEST-BAD-VERSION"
    bad_version["affected"] = [{"package": {"ecosystem": "Debian:12", "name": "x"},
                                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "not a version!"}]}]}]
    bad_range = copy.deepcopy(good[2])
    bad_range["id"] = "TEST-BAD-RANGE"
    bad_range["affected"][0]["ranges"] = [{"type": "ECOSYSTEM", "events": [{"fixed": 3, "introduced": "0"}]}]
    feed = write_jsonl(tmp_path / "bad.jsonl", good + [unknown, bad_version, bad_range],
                       ["{not json", "[1, 2", '"a string"', "\x00\xff garbage"])
    result = import_path(db, migrated_settings, str(feed), source="osv:bad")[0]
    assert result.ok
    state = _status(db)["osv:bad"]
    reasons = {k: v["count"] for k, v in state["skipped_reasons"].items()}
    assert reasons["malformed_json"] == 3
    assert reasons["invalid_record"] == 1
    assert reasons["unknown_ecosystem"] == 1
    assert reasons["invalid_version"] == 1
    assert reasons["invalid_range"] == 1
    assert state["skipped"] == sum(reasons.values())
    with db.session() as s:
        found = SqlAdvisoryStore(s).advisories([r["id"] for r in good] + ["TEST-UNKNOWN-ECO"])
        assert set(found) == {r["id"] for r in good} | {"TEST-UNKNOWN-ECO"}


def test_failed_source_keeps_old_data_and_others_still_import(db: Database, migrated_settings: Settings,
                                                              tmp_path: Path) -> None:
    records = osv_records(limit=30)
    folder = tmp_path / "feeds"
    folder.mkdir()
    gz = folder / "a.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in records) + "\n")
    first = import_path(db, migrated_settings, str(gz), source="osv:a")[0]
    assert first.added + first.withdrawn == 30  # a record already withdrawn when first seen counts as withdrawn
    # The same feed cut short: the gzip stream ends in the middle.
    data = gz.read_bytes()
    gz.write_bytes(data[: len(data) // 2])
    write_jsonl(folder / "b.jsonl", osv_records("go.jsonl.gz", limit=7))
    results = {r.source: r for r in import_path(db, migrated_settings, str(folder))}
    assert not results["osv:a"].ok and "compressed" in results["osv:a"].error
    assert results["osv:b"].ok and results["osv:b"].added + results["osv:b"].withdrawn == 7
    state = _status(db)["osv:a"]
    assert state["last_error"] and state["advisories"] == 30
    with db.session() as s:
        assert len(SqlAdvisoryStore(s).advisories([r["id"] for r in records])) == 30


def test_affected_for_is_batched(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    records = osv_records(limit=300)
    import_path(db, migrated_settings, str(write_jsonl(tmp_path / "f.jsonl", records)), source="osv:batch")
    live = {("PyPI", normalize_name("PyPI", a["package"]["name"])) for r in records if not r.get("withdrawn")
            for a in r.get("affected", [])}
    keys = set(live) | {("PyPI", f"no-such-package-{i}") for i in range(1500)}
    statements = []
    with db.session() as s:
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(s.get_bind(), "before_cursor_execute", listener)
        try:
            found = SqlAdvisoryStore(s).affected_for(keys)
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", listener)
    assert len(statements) <= 5, len(statements)
    # every hit is a requested live key; at most the two PyPI entries with unreadable ranges are missing
    assert set(found) <= live and len(live - set(found)) <= 2 and len(live) > 50


def test_aliases_merge_sources_and_enrichment(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    pysec = next(r for r in osv_records() if any(a.startswith("CVE-") for a in r.get("aliases", []))
                 and not r.get("withdrawn"))
    cve = next(a for a in pysec["aliases"] if a.startswith("CVE-"))
    import_path(db, migrated_settings, str(write_jsonl(tmp_path / "p.jsonl", [pysec])), source="osv:alias")
    (tmp_path / "v3.99").mkdir()
    (tmp_path / "v3.99" / "main.json").write_text(json.dumps({
        "distroversion": "v3.99", "reponame": "main",
        "packages": [{"pkg": {"name": "py3-demo", "secfixes": {"1.2.3-r0": [cve], "0": ["CVE-2000-0001"]}}}]}))
    alp = import_path(db, migrated_settings, str(tmp_path / "v3.99"))[0]
    assert alp.ok and alp.records == 1
    kev = tmp_path / "kev.json"
    kev.write_text(json.dumps({"catalogVersion": "x", "vulnerabilities": [
        {"cveID": cve, "dateAdded": "2024-01-02"}, {"cveID": "bogus"}]}))
    epss = tmp_path / "epss.csv"
    epss.write_text(f"#model_version:v2023.03.01,score_date:2024-01-01\ncve,epss,percentile\n{cve},0.5,0.9\nCVE-1,x,y\n")
    results = import_path(db, migrated_settings, str(kev)) + import_path(db, migrated_settings, str(epss))
    assert [r.ok for r in results] == [True, True]
    assert results[0].skipped == {"invalid_record": 1} and results[1].skipped == {"invalid_record": 1}
    with db.session() as s:
        store = SqlAdvisoryStore(s)
        merged = store.advisories([pysec["id"], f"ALPINE-{cve}"])
        assert f"ALPINE-{cve}" in merged[pysec["id"]].aliases and cve in merged[pysec["id"]].aliases
        assert pysec["id"] in merged[f"ALPINE-{cve}"].aliases
        for adv in merged.values():
            assert adv.known_exploited and adv.known_exploited_date == "2024-01-02"
            assert adv.epss_score == 0.5 and adv.epss_percentile == 0.9
        na = store.affected_for([("Alpine:v3.99", "py3-demo")])[("Alpine:v3.99", "py3-demo")]
        states = {a.advisory_id: a.fix_state for a in na}
        assert states == {f"ALPINE-{cve}": "fixed", "ALPINE-CVE-2000-0001": "not_affected"}
        assert not is_affected("apk", "0.1-r0", next(a for a in na if a.fix_state == "not_affected"))


def test_debian_tracker_json_states(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    doc = {
        "openssl": {
            "CVE-2024-0001": {"description": "demo", "releases": {
                "bookworm": {"status": "resolved", "fixed_version": "3.0.13-1~deb12u1", "urgency": "medium"},
                "bullseye": {"status": "open", "urgency": "unimportant"},
                "trixie": {"status": "resolved", "fixed_version": "0", "urgency": "not yet assigned"},
                "buster": {"status": "open", "urgency": "high"},
                "narnia": {"status": "open"}}},
        },
        "curl": {"CVE-2024-0002": {"releases": {"bookworm": {"status": "undetermined"}}}, "CVE-X": "junk"},
    }
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(doc))
    result = import_path(db, migrated_settings, str(path))[0]
    assert result.ok and result.source == "debian-tracker" and result.records == 3
    assert result.skipped == {"unknown_ecosystem": 1, "invalid_record": 1}
    with db.session() as s:
        store = SqlAdvisoryStore(s)
        got = store.affected_for([("Debian:12", "openssl"), ("Debian:11", "openssl"), ("Debian:13", "openssl"),
                                  ("Debian:10", "openssl"), ("Debian:12", "curl")])
        assert got[("Debian:12", "openssl")][0].fix_state == "fixed"
        assert got[("Debian:11", "openssl")][0].fix_state == "wont_fix"
        assert got[("Debian:13", "openssl")][0].fix_state == "not_affected"
        assert got[("Debian:10", "openssl")][0].fix_state == "unfixed"
        assert is_affected("deb", "3.0.0-1", got[("Debian:10", "openssl")][0])
        assert got[("Debian:12", "curl")][0].fix_state == "unfixed"
        assert store.advisories(["DEBIAN-CVE-2024-0001"])["DEBIAN-CVE-2024-0001"].aliases == ["CVE-2024-0001"]


def test_hostile_xml_is_rejected_cleanly(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    bomb = tmp_path / "com.ubuntu.noble.usn.oval.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
                    '<oval_definitions>&b;</oval_definitions>')
    result = import_path(db, migrated_settings, str(bomb))[0]
    # nothing in it is usable, so the import fails and says why (issue 15); nothing is written
    assert not result.ok and result.skipped == {"malformed_xml": 1} and result.added == 0
    assert "nothing usable" in result.error and "malformed_xml=1" in result.error
