"""Debian and Ubuntu from their upstream feeds by default, with the distro's states as the finding's fix state
(issue 15 item 3): fixed, not fixed yet, will not fix, end of life. Installed < fixed → found, = fixed → not
found, on the real tracker sample (feeds-samples/debian) plus release entries shaped like the live tracker's
(`nodsa`, `nodsa_reason`, `repositories`), synced from a local HTTP server standing in for the tracker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hullscan.advisories import service
from hullscan.advisories.parsers import debian
from hullscan.advisories.parsers.base import Tally
from hullscan.advisories.service import SqlAdvisoryStore
from hullscan.advisories.types import FIX_STATES
from hullscan.db import Database
from hullscan.matching import match_inventory
from hullscan.matching.finding import Finding
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from hullscan.settings import Settings
from tests.advisories.osv_bucket import Bucket
from tests.conftest import data_path

TRACKER = data_path("feeds-samples", "debian", "vunnel", "input", "debian.json")


@pytest.fixture
def db(migrated_settings: Settings) -> Iterator[Database]:
    d = Database(migrated_settings)
    yield d
    d.dispose()


@pytest.fixture
def site() -> Iterator[Bucket]:
    b = Bucket().start()
    yield b
    b.stop()


def _tracker_document() -> dict:
    """The real sample, plus the release states the live tracker writes that the sample does not show."""
    doc = json.loads(TRACKER.read_text())
    doc["openssl"] = {"CVE-2024-4741": {
        "description": "Use After Free with SSL_free_buffers", "scope": "remote", "releases": {
            "bookworm": {"status": "resolved", "repositories": {"bookworm": "3.0.15-1~deb12u1"},
                         "fixed_version": "3.0.14-1~deb12u1", "urgency": "not yet assigned"},
            "bullseye": {"status": "open", "repositories": {"bullseye": "1.1.1w-0+deb11u1"},
                         "urgency": "not yet assigned", "nodsa": "Minor issue", "nodsa_reason": ""},
            "trixie": {"status": "open", "repositories": {"trixie": "3.2.1-3"}, "urgency": "low",
                       "nodsa": "Minor issue", "nodsa_reason": "postponed"},
            "forky": {"status": "resolved", "repositories": {"forky": "3.5.0-1"}, "fixed_version": "3.3.0-1",
                      "urgency": "low"},
            "sid": {"status": "resolved", "repositories": {"sid": "3.5.0-1"}, "fixed_version": "3.3.0-1",
                    "urgency": "low"}}}}
    doc["bash"] = {"CVE-2022-3715": {
        "description": "heap buffer overflow in valid_parameter_transform", "scope": "local", "releases": {
            "bookworm": {"status": "open", "repositories": {"bookworm": "5.2.15-2"}, "urgency": "not yet assigned",
                         "nodsa": "Minor issue", "nodsa_reason": "ignored"},
            "trixie": {"status": "undetermined", "repositories": {"trixie": "5.2.37-1"},
                       "urgency": "not yet assigned"}}}}
    return doc


def _deb(name: str, version: str) -> Package:
    return Package(name, version, "deb", source_name=name, source_version=version)


def _found(db: Database, family: str, version: str, *pkgs: Package) -> dict[str, Finding]:
    inventory = Inventory(ImageInfo("example.test/distro-states"), OperatingSystem(family, version), list(pkgs))
    with db.session() as s:
        return {f.vulnerability_id: f for f in match_inventory(inventory, SqlAdvisoryStore(s))}


def test_debian_and_ubuntu_are_default_sources() -> None:
    defaults = Settings()
    assert {"debian", "ubuntu"} <= set(defaults.advisories_sources)
    assert defaults.advisories_debian_tracker_url == "https://security-tracker.debian.org/tracker/data/json"
    assert {"Debian", "Ubuntu"} <= set(defaults.advisories_osv_ecosystems)


def test_debian_tracker_sync_gives_each_release_its_fix_state(db: Database, migrated_settings: Settings,
                                                              site: Bucket) -> None:
    site.files["/tracker/data/json"] = json.dumps(_tracker_document()).encode()
    settings = migrated_settings.model_copy(update={
        "advisories_debian_tracker_url": f"{site.url}/tracker/data/json", "advisories_http_retries": 1})
    [result] = service.sync(db, settings, ["debian"])
    assert (result.source, result.ok) == ("debian-tracker", True), result.error
    assert site.requests == ["/tracker/data/json"]

    # fixed per release: sope 5.8.0-1+deb12u1 on bookworm, 5.12.1-2 on trixie (the sample's facts)
    below = _found(db, "debian", "12.11", _deb("sope", "5.8.0-1"))["CVE-2025-53603"]
    assert (below.fix_state, below.fixed_versions) == ("fixed", ["5.8.0-1+deb12u1"])
    assert below.solution == "Upgrade to version 5.8.0-1+deb12u1 or above"
    assert "CVE-2025-53603" not in _found(db, "debian", "12.11", _deb("sope", "5.8.0-1+deb12u1"))
    assert "CVE-2025-53603" in _found(db, "debian", "13", _deb("sope", "5.12.1-1"))
    assert "CVE-2025-53603" not in _found(db, "debian", "13", _deb("sope", "5.12.1-2"))
    # fixed version "0": never affected
    assert "CVE-2007-2383" not in _found(db, "debian", "10", _deb("prototypejs", "1.5.0-1"))
    # open with urgency end-of-life: buster's chromium gets no more fixes
    eol = _found(db, "debian", "10", _deb("chromium", "90.0.4430.212-1~deb10u1"))["CVE-2022-0456"]
    assert (eol.fix_state, eol.fixed_versions) == ("end_of_life", [])
    assert "end of life" in eol.solution
    assert "CVE-2022-0456" not in _found(db, "debian", "11", _deb("chromium", "98.0.4758.80-1~deb11u1"))
    # no-DSA without reason → will not fix; no-DSA postponed → not fixed yet; ignored → will not fix
    nodsa = _found(db, "debian", "11.9", _deb("openssl", "1.1.1w-0+deb11u1"))["CVE-2024-4741"]
    assert nodsa.fix_state == "wont_fix" and "will not fix" in nodsa.solution
    postponed = _found(db, "debian", "13", _deb("openssl", "3.2.1-3"))["CVE-2024-4741"]
    assert postponed.fix_state == "unfixed" and postponed.solution == "no solution available yet"
    assert _found(db, "debian", "12", _deb("bash", "5.2.15-2"))["CVE-2022-3715"].fix_state == "wont_fix"
    assert _found(db, "debian", "13", _deb("bash", "5.2.37-1"))["CVE-2022-3715"].fix_state == "unfixed"
    # bookworm's fix; forky (testing) and sid (unstable) stored as their own releases (an image's `forky/sid`
    # cannot tell testing from unstable, so scans of those say "no feed": tests/test_ecosystems.py)
    assert "CVE-2024-4741" not in _found(db, "debian", "12", _deb("openssl", "3.0.14-1~deb12u1"))
    with db.session() as s:
        entries = SqlAdvisoryStore(s).affected_for([("Debian:14", "openssl"), ("Debian:unstable", "openssl")])
    assert [e.fix_state for e in entries[("Debian:14", "openssl")]] == ["fixed"]
    assert [e.fix_state for e in entries[("Debian:unstable", "openssl")]] == ["fixed"]


def test_debian_list_end_of_life_lines_are_their_own_state(db: Database, migrated_settings: Settings,
                                                           tmp_path) -> None:
    text = data_path("advisories", "debian", "DSA", "list").read_text()
    start = text.index("\n[", text.index("[jessie] - virtualbox <end-of-life>") - 2000) + 1
    end = text.index("\n[", text.index("[jessie] - virtualbox <end-of-life>"))
    (tmp_path / "DSA").mkdir()
    (tmp_path / "DSA" / "list").write_text(text[start:end] + "\n")
    [result] = service.import_path(db, migrated_settings, str(tmp_path / "DSA" / "list"))
    assert result.ok, result.error
    with db.session() as s:
        got = SqlAdvisoryStore(s).affected_for([("Debian:8", "virtualbox")])[("Debian:8", "virtualbox")]
    assert [e.fix_state for e in got] == ["end_of_life"]


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(releases=st.dictionaries(
    st.sampled_from(["bookworm", "trixie", "forky", "sid", "narnia", ""]),
    st.dictionaries(st.sampled_from(["status", "fixed_version", "urgency", "nodsa", "nodsa_reason", "repositories"]),
                    st.none() | st.integers() | st.sampled_from(
                        ["open", "resolved", "undetermined", "0", "1.0-1", "end-of-life", "unimportant", "",
                         "postponed", "ignored", "Minor issue"]) | st.dictionaries(st.text(max_size=5),
                                                                                   st.text(max_size=5)),
                    max_size=6) | st.integers() | st.text(max_size=4),
    max_size=5))
def test_any_tracker_release_entry_is_a_known_state_or_counted(releases: dict) -> None:
    tally = Tally()
    doc = {"pkg": {"CVE-2024-1": {"releases": releases}}}
    parsed = list(debian.iter_tracker_json(json.dumps(doc).encode(), tally))
    states = [a.fix_state for p in parsed for a in p.affected]
    assert set(states) <= set(FIX_STATES)
    assert len(states) + sum(tally.skipped.values()) == len(releases)  # each release: a state, or counted


def test_scan_of_an_end_of_life_release_warns_in_every_format(tmp_path) -> None:
    """Debian 10 (LTS ended 2024-06-30, ecosystems.RELEASE_END_OF_LIFE): `hullscan scan` says so in the table,
    JSON and SARIF outputs and on stderr; a supported release (Debian 12) does not."""
    import os
    import subprocess
    import sys

    from hullscan.db import upgrade
    from hullscan.scanner import write_cyclonedx

    settings = Settings(data_dir=tmp_path / "data")
    upgrade(settings)
    db = Database(settings)
    try:
        assert all(r.ok for r in service.import_path(db, settings, str(TRACKER)))
    finally:
        db.dispose()

    def sbom(version: str) -> str:
        pkg = Package("chromium", "90.0.4430.212-1~deb10u1", "deb", source_name="chromium",
                      source_version="90.0.4430.212-1~deb10u1",
                      purl=f"pkg:deb/debian/chromium@90.0.4430.212-1~deb10u1?distro=debian-{version}")
        path = tmp_path / f"debian-{version}.cdx.json"
        path.write_text(write_cyclonedx(Inventory(ImageInfo("example.test/old"), OperatingSystem("debian", version),
                                                  [pkg])))
        return str(path)

    env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    env.update({"HULLSCAN_DATA_DIR": str(settings.data_dir), "HULLSCAN_ADVISORIES_SOURCES": "[]", "COLUMNS": "200"})

    def scan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hullscan", "scan", *args], env=env, text=True,
                              capture_output=True, timeout=300, check=False)

    old = sbom("10.13")
    as_json = scan(old, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    warning = next(w for w in doc["warnings"] if w.startswith("Debian:10 reached its end of life on 2024-06-30"))
    assert doc["summary"]["end_of_life"] == {"Debian:10": "2024-06-30"}
    assert warning in as_json.stderr
    [finding] = doc["findings"]
    assert finding["fix_state"] == "end_of_life" and "end of life" in finding["solution"]
    sarif = scan(old, "--format", "sarif")
    notes = [n["message"]["text"] for n in json.loads(sarif.stdout)["runs"][0]["invocations"][0]
             ["toolExecutionNotifications"]]
    assert warning in notes
    table = scan(old)
    assert "reached its end of life" in table.stdout and "end of life" in table.stdout
    current = json.loads(scan(sbom("12.11"), "--format", "json").stdout)
    assert current["summary"]["end_of_life"] == {} and not any("end of life" in w for w in current["warnings"])
