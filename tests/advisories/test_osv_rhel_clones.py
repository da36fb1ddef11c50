"""AlmaLinux and Rocky Linux errata in OSV (issue 15): their CVEs sit in `related`, not `aliases`, and their
rating is Red Hat's word in the summary ("Important: …"). Read on the real records of tests/data/modular-rpm and
feeds-samples/{alma,rocky}: the CVEs become aliases (one finding per CVE, CVE-feed severities apply), the
vendor's word is the severity (docs/severity.md, precedence 1), its source named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from hullscan.advisories.parsers.base import Tally
from hullscan.advisories.parsers.osv import parse_record
from hullscan.advisories.service import SqlAdvisoryStore, import_path
from hullscan.db import Database
from hullscan.matching import match
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from hullscan.settings import Settings
from tests.conftest import data_path

_RECORDS = sorted([
    *data_path("feeds-samples", "alma", "vunnel", "osv-database", "advisories").rglob("*.json"),
    *data_path("feeds-samples", "rocky", "vunnel", "osv").glob("*.json"),
    *data_path("modular-rpm", "almalinux9").glob("*.json"),
])
_WORDS = {"Critical": "critical", "Important": "high", "Moderate": "medium", "Low": "low"}
ALSA_REQUESTS = data_path("feeds-samples", "alma", "vunnel", "osv-database", "advisories", "almalinux8",
                          "ALSA-2023:4520.json")


def _parse(record: dict):
    parsed = parse_record(record, Tally())
    assert parsed is not None
    return parsed.advisory


@pytest.mark.parametrize("path", _RECORDS, ids=lambda p: p.name)
def test_real_records_carry_their_related_cves_and_vendor_rating(path: Path) -> None:
    record = json.loads(path.read_text())
    advisory = _parse(record)
    assert set(advisory.aliases) == set(record.get("aliases") or []) | set(record.get("related") or [])
    word = record["summary"].partition(":")[0]
    vendor = "almalinux" if advisory.id.startswith("AL") else "rocky"
    if word in _WORDS:
        assert (advisory.severity, advisory.severity_source) == (_WORDS[word], f"{vendor}:summary")
    else:  # ALBA-2021:4378 "krb5 bug fix and enhancement update": no rating, no guess
        assert advisory.severity is None and advisory.severity_source is None


def test_the_samples_cover_both_vendors_and_every_rating_seen() -> None:
    advisories = [_parse(json.loads(p.read_text())) for p in _RECORDS]
    assert {a.severity_source for a in advisories} == {"almalinux:summary", "rocky:summary", None}
    assert {a.severity for a in advisories} == {"high", "medium", None}
    assert sum(len(a.aliases) for a in advisories) > 40


def test_database_specific_severity_ranks_before_the_summary() -> None:
    record = json.loads(ALSA_REQUESTS.read_text())
    record["database_specific"] = {"severity": "Important"}
    advisory = _parse(record)
    assert (advisory.severity, advisory.severity_source) == ("high", "almalinux:database_specific")


def test_related_of_other_databases_stays_unlinked() -> None:
    """`related` of a PYSEC/GHSA record names other vulnerabilities, not this one: never aliases."""
    advisory = _parse({"id": "PYSEC-2099-1", "related": ["CVE-2099-1"], "summary": "Important: x"})
    assert advisory.aliases == [] and advisory.severity is None


@hyp_settings(max_examples=200, deadline=None)
@given(related=st.one_of(st.none(), st.text(max_size=40), st.lists(st.one_of(st.text(max_size=40), st.integers(),
                                                                             st.none()), max_size=20)),
       summary=st.one_of(st.none(), st.integers(), st.text(max_size=200)),
       prefix=st.sampled_from(["ALSA-", "RLSA-", "ALBA-", "RLEA-"]))
def test_hostile_related_and_summary_never_break_parsing(related, summary, prefix) -> None:
    advisory = _parse({"id": prefix + "2024:1", "related": related, "summary": summary})
    assert all(a.startswith("CVE-") and len(a) <= 32 for a in advisory.aliases)
    assert advisory.severity in (None, "critical", "high", "medium", "low")


def _requests_finding(settings: Settings, folder: Path):
    db = Database(settings)
    try:
        for source in (folder, data_path("feeds-samples", "cve", "cvelist-subset.jsonl.gz")):
            results = import_path(db, settings, str(source))
            assert results and all(r.ok for r in results), results
        installed = Package(name="python3-requests", version="2.20.0-2.1.el8_1", type="rpm",
                            source_name="python-requests", arch="noarch", properties={"release": "2.1.el8_1"})
        with db.session() as session:
            found = match(Inventory(ImageInfo(name="alma"), OperatingSystem("almalinux", "8.8"), [installed]),
                          SqlAdvisoryStore(session)).findings
    finally:
        db.dispose()
    assert len(found) == 1, found
    return found[0]


def test_an_alsa_finding_is_its_cve_with_the_vendor_rating(migrated_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / ALSA_REQUESTS.name).write_bytes(ALSA_REQUESTS.read_bytes())
    finding = _requests_finding(migrated_settings, tmp_path)
    assert finding.vulnerability_id == "CVE-2023-32681" and finding.advisory_ids == ["ALSA-2023:4520"]
    assert "ALSA-2023:4520" in finding.identifiers
    assert (finding.severity, finding.severity_source) == ("medium", "almalinux:summary")


def test_an_unrated_alsa_takes_its_cves_severity(migrated_settings: Settings, tmp_path: Path) -> None:
    """Without the vendor's word, the CVE record's CVSS (CNA GitHub, 6.1) applies through `related`."""
    record = json.loads(ALSA_REQUESTS.read_text())
    record["summary"] = record["summary"].partition(": ")[2]
    (tmp_path / ALSA_REQUESTS.name).write_text(json.dumps(record))
    finding = _requests_finding(migrated_settings, tmp_path)
    assert finding.vulnerability_id == "CVE-2023-32681"
    assert finding.severity == "medium" and finding.cvss_score == pytest.approx(6.1)
    assert (finding.severity_source or "").startswith("cve:"), finding.severity_source
