from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.matching.finding import Finding, FindingPackage
from hullscan.vulnerabilities import service as vulns
from hullscan.vulnerabilities.fingerprints import finding_uuid, image_without_tag


def finding(pkg: str, version: str, vid: str, severity: str = "high", fixed: list[str] | None = None) -> Finding:
    return Finding(package=FindingPackage(name=pkg, version=version, type="python"), vulnerability_id=vid,
                   identifiers=[vid], advisory_ids=[vid], ecosystem="PyPI", severity=severity,
                   fixed_versions=fixed or [])


def test_uuid_is_gitlabs_formula() -> None:
    # Independent computation of GitLab's UUIDv5 (production namespace), location and identifier fingerprints.
    loc = hashlib.sha1(b"127.0.0.1:5000/group/project/app:urllib3").hexdigest()
    ident = hashlib.sha1(b"cve:CVE-2019-11324").hexdigest()
    expected = uuid.uuid5(uuid.UUID("58dc0f06-936c-43b3-93bb-71693f1b6570"),
                          f"container_scanning_for_registry-{ident}-{loc}-7")
    from hullscan.vulnerabilities.fingerprints import identifier_fingerprint, location_fingerprint

    assert location_fingerprint("127.0.0.1:5000/group/project/app:latest", "urllib3") == loc
    assert identifier_fingerprint("CVE-2019-11324") == ident
    assert finding_uuid("container_scanning_for_registry", ident, loc, 7) == str(expected)
    assert image_without_tag("host:5000/a/b:v1") == "host:5000/a/b"
    assert image_without_tag("host:5000/a/b") == "host:5000/a/b"
    assert image_without_tag("host/a/b@sha256:abc") == "host/a/b"


@pytest.fixture
def db(migrated_settings):
    database = Database(migrated_settings)
    yield database
    database.dispose()


def test_record_resolve_redetect_and_triage(db) -> None:
    with db.session() as s:
        pid = projects.create_project(s, "group/project").id
    app_latest = vulns.ImageScope(pid, "reg/group/project/app", "latest", "sha256:1", "debian 12")
    app_v1 = vulns.ImageScope(pid, "reg/group/project/app", "v1", "sha256:1", "debian 12")
    other = vulns.ImageScope(pid, "reg/group/project/other", "latest", "sha256:9", "debian 12")
    t0 = utcnow()
    with db.session() as s:
        r = vulns.record_findings(s, app_latest, [finding("urllib3", "1.24.1", "CVE-2019-11324"),
                                                  finding("jinja2", "2.10", "CVE-2019-10906", "medium", ["2.10.1"])],
                                  now=t0)
        assert len(r.new_ids) == 2
        r2 = vulns.record_findings(s, other, [finding("urllib3", "1.24.1", "CVE-2019-11324")], now=t0)
        assert len(r2.new_ids) == 1  # one CVE in two images is two vulnerabilities
        vulns.record_findings(s, app_v1, [finding("urllib3", "1.24.1", "CVE-2019-11324")], now=t0)
    with db.session() as s:
        # rescan: no duplicates
        r = vulns.record_findings(s, app_latest, [finding("urllib3", "1.24.1", "CVE-2019-11324")],
                                  now=t0 + timedelta(seconds=1))
        assert r.new_ids == []
        jinja = s.scalars(vulns.select(vulns.Vulnerability).where(vulns.Vulnerability.package_name == "jinja2")).one()
        urllib3_app = r.seen_ids[0]
        vulns.change_state(s, [urllib3_app], "dismissed", author="alice", comment="not reachable",
                           dismissal_reason="mitigating_control")
        gone = vulns.mark_not_detected(s, app_latest, r.seen_ids, auto_resolve=True, now=t0 + timedelta(seconds=1))
        assert gone == [jinja.id]
    with db.session() as s:
        jinja = s.get(vulns.Vulnerability, jinja.id)
        assert jinja.no_longer_detected and jinja.state == "resolved"
        assert jinja.has_fix and jinja.solution == "Upgrade to version 2.10.1 or above"
        # v1 still has urllib3: latest dropping it later must not clear it (seen in another tag)
        vulns.mark_not_detected(s, app_latest, [], auto_resolve=True)
        u = s.get(vulns.Vulnerability, urllib3_app)
        assert not u.no_longer_detected and u.state == "dismissed"
        # the other image keeps all of its vulnerabilities
        flt = vulns.VulnerabilityFilter(project_id=pid, image="reg/group/project/other")
        rows, _ = vulns.query_vulnerabilities(s, flt)
        assert [v.state for v in rows] == ["detected"] and not rows[0].no_longer_detected
    with db.session() as s:
        # a vulnerability that comes back is detected again, with history
        r = vulns.record_findings(s, app_latest, [finding("jinja2", "2.10", "CVE-2019-10906", "medium", ["2.10.1"])])
        assert r.redetected_ids == [jinja.id]
        states = [(t.from_state, t.to_state) for t in vulns.history(s, jinja.id)]
        assert states == [(None, "detected"), ("detected", "resolved"), ("resolved", "detected")]
        # the dismissal survives rescans
        vulns.record_findings(s, app_latest, [finding("urllib3", "1.24.1", "CVE-2019-11324")])
        assert s.get(vulns.Vulnerability, urllib3_app).state == "dismissed"
        with pytest.raises(vulns.VulnerabilityError):
            vulns.change_state(s, [urllib3_app], "dismissed", author="bob")  # no reason
        with pytest.raises(vulns.VulnerabilityError):
            vulns.change_state(s, [999999], "confirmed", author="bob")


def test_query_filters_sort_and_cursor(db) -> None:
    with db.session() as s:
        pid = projects.create_project(s, "group/many").id
        scope = vulns.ImageScope(pid, "reg/group/many/app", "latest", "sha256:1", None)
        sev = ["critical", "high", "medium", "low", "unknown"]
        vulns.record_findings(s, scope, [finding(f"pkg{i}", "1.0", f"CVE-2020-{1000 + i}", sev[i % 5],
                                                 ["2.0"] if i % 2 else []) for i in range(23)])
    with db.session() as s:
        flt = vulns.VulnerabilityFilter(project_id=pid)
        seen, cursor, pages = [], None, 0
        while True:
            rows, cursor = vulns.query_vulnerabilities(s, flt, sort="severity_desc", cursor=cursor, limit=5)
            seen.extend(rows)
            pages += 1
            if not cursor:
                break
        assert pages == 5 and len({v.id for v in seen}) == 23
        ranks = [v.severity_rank for v in seen]
        assert ranks == sorted(ranks, reverse=True)
        assert vulns.severity_counts(s, flt) == {"critical": 5, "high": 5, "medium": 5, "low": 4, "unknown": 4}
        rows, _ = vulns.query_vulnerabilities(s, vulns.VulnerabilityFilter(project_id=pid, has_fix=True,
                                                                           severities=["critical"]), limit=100)
        assert {v.package_name for v in rows} == {"pkg5", "pkg15"}
        assert len(list(vulns.iter_export_rows(s, flt, batch=7))) == 23
        with pytest.raises(vulns.VulnerabilityError):
            vulns.query_vulnerabilities(s, flt, cursor="garbage!")
