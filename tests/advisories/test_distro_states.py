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
from hullscan.advisories.service import SqlAdvisoryStore, changesets_since
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


# --- Ubuntu: Canonical's OpenVEX gives the states its OSV and OVAL cannot ----------------------------------------

UBUNTU = data_path("feeds-samples", "ubuntu", "vunnel")


def _ubuntu_vex_tar_xz() -> bytes:
    """vex-all.tar.xz as Canonical lays it out (`vex/cve/<year>/CVE-*.json`), from the real sample documents."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for path in sorted((UBUNTU / "vex").rglob("*.json")):
            tar.add(path, arcname=f"vex/{path.relative_to(UBUNTU / 'vex')}")
    return buf.getvalue()


def test_ubuntu_vex_states_with_osv_and_oval(db: Database, migrated_settings: Settings, site: Bucket,
                                             tmp_path) -> None:
    """The `ubuntu` source syncs each release's USN OVAL and the VEX archive; with Canonical's OSV (the `osv`
    source's Ubuntu ecosystem) the README's facts hold: jammy's glibc and dietlibc are will-not-fix for
    CVE-2016-20013 (OSV alone says only "no fix"), xenial's curl is end of life for CVE-2023-38545, the ESM
    pockets are their own `Ubuntu:Pro:<release>` ecosystems (not affected there: no finding)."""
    site.files["/oval/com.ubuntu.noble.usn.oval.xml"] = \
        data_path("advisories", "ubuntu-oval", "com.ubuntu.noble.usn.oval.xml").read_bytes()
    site.files["/vex/vex-all.tar.xz"] = _ubuntu_vex_tar_xz()
    settings = migrated_settings.model_copy(update={
        "advisories_ubuntu_oval_url": f"{site.url}/oval/com.ubuntu.{{release}}.usn.oval.xml",
        "advisories_ubuntu_releases": ["noble"], "advisories_ubuntu_vex_url": f"{site.url}/vex/vex-all.tar.xz",
        "advisories_http_retries": 1})
    results = {r.source: r for r in service.sync(db, settings, ["ubuntu"])}
    assert set(results) == {"ubuntu-oval:noble", "ubuntu-vex"}
    assert all(r.ok for r in results.values()), {k: r.error for k, r in results.items()}
    assert results["ubuntu-vex"].records == 2 and results["ubuntu-vex"].added == 2

    # OSV alone: jammy's glibc has no fix event → "not fixed yet"
    assert all(r.ok for r in service.import_path(db, migrated_settings, str(UBUNTU / "osv" / "cve"),
                                                 fmt="osv", source="osv:ubuntu"))
    glibc = _found(db, "ubuntu", "22.04", _deb("glibc", "2.35-0ubuntu3.13"))["CVE-2016-20013"]
    assert glibc.fix_state == "wont_fix" and "will not fix" in glibc.solution
    assert set(glibc.advisory_ids) >= {"UBUNTU-VEX-CVE-2016-20013", "UBUNTU-CVE-2016-20013"}
    assert _found(db, "ubuntu", "22.04", _deb("dietlibc", "0.34~cvs20160606-12"))["CVE-2016-20013"].fix_state \
        == "wont_fix"
    eol = _found(db, "ubuntu", "16.04", _deb("curl", "7.47.0-1ubuntu2.19"))["CVE-2023-38545"]
    assert (eol.fix_state, eol.fixed_versions) == ("end_of_life", [])
    with db.session() as s:
        pro = SqlAdvisoryStore(s).affected_for([("Ubuntu:Pro:16.04", "curl")])[("Ubuntu:Pro:16.04", "curl")]
    assert [e.fix_state for e in pro] == ["not_affected"]
    # the VEX "fixed" statements name the archive's current version, not the fix: they add no fixed range, so
    # jammy's curl 7.81.0-1ubuntu1.14 (USN-6429-1's fix) is not reported from them
    assert "CVE-2023-38545" not in _found(db, "ubuntu", "22.04", _deb("curl", "7.81.0-1ubuntu1.14"))


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.sampled_from(["fixed", "affected", "not_affected", "under_investigation", "bogus", None]),
       action=st.sampled_from(["", "This package (for the given release) is no longer supported.",
                               "the Ubuntu Security Team decided to not fix it.", "deferred"]),
       purl=st.sampled_from(["pkg:deb/ubuntu/glibc@2.35?arch=source&distro=jammy", "pkg:deb/ubuntu/x?arch=source",
                             "pkg:deb/ubuntu/x@1?arch=source&distro=esm-apps/jammy", "pkg:/?arch=source",
                             "pkg:deb/ubuntu/x@1?arch=source&distro=fips/focal", "pkg:rpm/x@1?arch=source&distro=jammy",
                             "pkg:deb/ubuntu/x@1?arch=amd64&distro=jammy"]),
       junk=st.none() | st.integers() | st.text(max_size=5))
def test_any_openvex_statement_is_a_known_state_or_counted(status, action, purl, junk) -> None:
    from hullscan.advisories.parsers import ubuntu

    tally = Tally()
    doc = {"statements": [{"vulnerability": {"name": "CVE-2024-1"}, "status": status, "action_statement": action,
                           "products": [{"@id": purl}, junk]}, junk]}
    parsed = list(ubuntu.iter_vex_documents(iter([("d.json", json.dumps(doc).encode())]), tally))
    assert tally.records == 1
    for p in parsed:
        assert p.advisory.aliases == ["CVE-2024-1"]
        assert all(a.fix_state in FIX_STATES and a.fix_state != "fixed" for a in p.affected)
        assert all(a.ecosystem.startswith("Ubuntu:") for a in p.affected)


# --- Red Hat: deletions.csv --------------------------------------------------------------------------------------


def test_redhat_deletions_csv_removes_withdrawn_documents_on_sync(db: Database, migrated_settings: Settings,
                                                                   site: Bucket) -> None:
    """Red Hat's VEX folder lists withdrawn documents in `deletions.csv` (same shape as changes.csv, see
    feeds-samples/rhel/vunnel/csaf/server/deletions.csv): an incremental sync removes their advisories (and the
    findings they gave) and does not fetch them; the others stay."""
    from tests.advisories.test_os_feeds import VEX, _rpm, _vex_archive

    docs = {f"2024/{f.name}": f.read_bytes() for f in VEX.glob("cve-2024-*.json")}
    site.files["/vex/archive_latest.txt"] = b"csaf_vex_2026-12-01.tar.zst\n"
    site.files["/vex/csaf_vex_2026-12-01.tar.zst"] = _vex_archive(docs)
    site.files["/vex/changes.csv"] = b"".join(f'"{p}","2026-12-01T00:00:00+00:00"\n'.encode() for p in docs)
    site.files["/vex/deletions.csv"] = b'"2023/cve-2023-0001.json","2026-11-01T00:00:00+00:00"\n'
    site.files["/repository-to-cpe.json"] = data_path("redhat-repository-cpe", "repository-to-cpe.json").read_bytes()
    settings = migrated_settings.model_copy(update={
        "advisories_redhat_vex_url": f"{site.url}/vex", "advisories_http_retries": 1,
        "advisories_redhat_repository_cpe_url": f"{site.url}/repository-to-cpe.json"})
    first, repository_map = service.sync(db, settings, ["redhat"])  # `redhat` syncs the VEX, then the map
    assert first.ok and first.added == 3, first.error
    assert repository_map.ok, repository_map.error
    assert "CVE-2024-10041" in _found(db, "rhel", "9.5", _rpm("pam", "1.5.1-20.el9"))

    site.requests.clear()
    site.files["/vex/changes.csv"] += b'"2024/cve-2024-10041.json","2026-12-02T00:00:00+00:00"\n'
    site.files["/vex/deletions.csv"] += b'"2024/cve-2024-10041.json","2026-12-03T00:00:00+00:00"\n'
    second, _ = service.sync(db, settings, ["redhat"])
    assert (second.ok, second.withdrawn, second.added, second.modified) == (True, 1, 0, 0), second.error
    assert site.requests == ["/vex/changes.csv", "/vex/deletions.csv",  # the withdrawn document is not fetched
                             "/repository-to-cpe.json"]
    assert "CVE-2024-10041" not in _found(db, "rhel", "9.5", _rpm("pam", "1.5.1-20.el9"))
    with db.session() as s:
        store = SqlAdvisoryStore(s)
        assert "REDHAT-CVE-2024-10041" not in store.advisories(["REDHAT-CVE-2024-10041"])
        assert set(store.advisories(["REDHAT-CVE-2024-11111", "REDHAT-CVE-2024-22222"])) == {
            "REDHAT-CVE-2024-11111", "REDHAT-CVE-2024-22222"}
        changes = changesets_since(s, 0)
    assert any(e.advisory_id == "REDHAT-CVE-2024-10041" and e.change == "withdrawn" and ("Red Hat:9", "pam") in
               [tuple(k) for k in e.keys] for c in changes for e in c.changes)  # re-matching finds the images


# --- Oracle Linux: per-arch respins ------------------------------------------------------------------------------


def test_oracle_per_arch_fixes_apply_to_their_arch(db: Database, migrated_settings: Settings) -> None:
    """feeds-samples/oracle/expected/per-arch-fixed-in.json: ELSA-2022-4803 fixed rsyslog in 8.24.0-57.0.1.el7_9.3 on
    x86_64 and 8.24.0-57.0.4.el7_9.3 on aarch64 — the lower build for every arch, the aarch64 respin for aarch64
    only; firefox (one build for every arch) and osbuild (rebuilds shipped for both arches) stay arch-less."""
    path = data_path("feeds-samples", "oracle", "vunnel", "mock_per_arch_data")
    [result] = service.import_path(db, migrated_settings, str(path), fmt="oracle-oval")
    assert result.ok, result.error

    def rpm(name: str, version: str, arch: str | None) -> Package:
        return Package(name, version, "rpm", source_name=name, source_version=version, arch=arch)

    fixed_x86 = "8.24.0-57.0.1.el7_9.3"
    assert "CVE-2022-24903" not in _found(db, "ol", "7.9", rpm("rsyslog", fixed_x86, "x86_64"))
    on_arm = _found(db, "ol", "7.9", rpm("rsyslog", fixed_x86, "aarch64"))["CVE-2022-24903"]
    assert on_arm.fixed_versions == ["8.24.0-57.0.4.el7_9.3"]
    assert "CVE-2022-24903" not in _found(db, "ol", "7.9", rpm("rsyslog", "8.24.0-57.0.4.el7_9.3", "aarch64"))
    below = _found(db, "ol", "7.9", rpm("rsyslog", "8.24.0-57.el7_9.3", "x86_64"))["CVE-2022-24903"]
    assert below.fixed_versions == [fixed_x86]
    with db.session() as s:
        got = SqlAdvisoryStore(s).affected_for([("Oracle Linux:7", "rsyslog"), ("Oracle Linux:10", "firefox"),
                                                ("Oracle Linux:8", "osbuild")])
    assert sorted((e.ranges[0].events[-1].version, e.arches) for e in got[("Oracle Linux:7", "rsyslog")]) == [
        (fixed_x86, ()), ("8.24.0-57.0.4.el7_9.3", ("aarch64",))]
    assert [e.arches for e in got[("Oracle Linux:10", "firefox")]] == [()]
    assert [(e.ranges[0].events[-1].version, e.arches) for e in got[("Oracle Linux:8", "osbuild")]] == [
        ("110-1.el8", ())]
    # a package without arch information is matched against the arch-less entry only: never flagged when patched
    assert "CVE-2022-24903" not in _found(db, "ol", "7.9", rpm("rsyslog", fixed_x86, None))


# --- openSUSE Leap OVAL ------------------------------------------------------------------------------------------


def test_opensuse_leap_oval_syncs_and_matches(db: Database, migrated_settings: Settings, site: Bucket) -> None:
    """SUSE publishes Leap OVAL as it does SLES (`opensuse.leap.<release>.xml`, platform `openSUSE Leap 15.5 is
    installed`); the file served is the real SLES 15 sample with its SLES platforms named as Leap's: the `suse`
    source syncs it into `openSUSE:Leap 15.5`, installed < fixed → found, = fixed → not found, not affected →
    never found."""
    import re as _re

    sles = data_path("feeds-samples", "sles", "vunnel", "suse_truncated.xml").read_text()
    leap, renamed = _re.subn(r'comment="SUSE Linux Enterprise Server 15[^"]* is installed"',
                             'comment="openSUSE Leap 15.5 is installed"', sles)
    assert renamed >= 4
    site.files["/oval/opensuse.leap.15.5.xml"] = leap.encode()
    settings = migrated_settings.model_copy(update={
        "advisories_suse_releases": [], "advisories_opensuse_leap_releases": ["15.5"],
        "advisories_opensuse_leap_oval_url": f"{site.url}/oval/opensuse.leap.{{release}}.xml",
        "advisories_http_retries": 1})
    [result] = service.sync(db, settings, ["suse"])
    assert (result.source, result.ok) == ("suse-oval:leap-15.5", True), result.error
    kernel = _found(db, "opensuse-leap", "15.5", Package("kernel-default", "4.12.14-150.71.1", "rpm",
                                                          source_name="kernel-default",
                                                          source_version="4.12.14-150.71.1"))["CVE-2021-29154"]
    assert kernel.fixed_versions == ["4.12.14-150.72.1"] and kernel.severity == "high"
    assert "SUSE-leap-15.5-CVE-2021-29154" in kernel.advisory_ids
    assert not _found(db, "opensuse-leap", "15.5", Package("kernel-default", "4.12.14-150.72.1", "rpm",
                                                           source_name="kernel-default",
                                                           source_version="4.12.14-150.72.1"))
    assert not _found(db, "sles", "15", Package("kernel-default", "4.12.14-150.71.1", "rpm",
                                                source_name="kernel-default", source_version="4.12.14-150.71.1"))
    with db.session() as s:
        [entry] = SqlAdvisoryStore(s).affected_of("SUSE-leap-15.5-CVE-2026-34073")
    assert (entry.ecosystem, entry.package, entry.fix_state) == (
        "openSUSE:Leap 15.5", "python3-cryptography", "not_affected")
