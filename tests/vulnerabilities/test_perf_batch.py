"""Bulk recording (`record_findings_many`, `mark_not_detected_many`) ends where consecutive per-image calls end.

Two projects get the same history of scans, one image at a time in one and as batches in the other; every
vulnerability, sighting and state transition must come out the same (ids and UUIDs aside: the UUID includes the
project). SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.db.models.vulnerabilities import Vulnerability, VulnerabilitySighting, VulnerabilityStateTransition
from hullscan.matching.finding import Finding, FindingPackage
from hullscan.vulnerabilities import service as vulns


def finding(pkg: str, version: str, vid: str, severity: str = "high") -> Finding:
    return Finding(package=FindingPackage(name=pkg, version=version, type="python"), vulnerability_id=vid,
                   identifiers=[vid], advisory_ids=[vid], ecosystem="PyPI", severity=severity)


@pytest.fixture
def db(migrated_settings):
    database = Database(migrated_settings)
    yield database
    database.dispose()


def snapshot(session, project_id: int) -> dict:
    """Everything recording writes for a project, keyed by what identifies a vulnerability within it."""
    out = {}
    rows = session.scalars(select(Vulnerability).where(Vulnerability.project_id == project_id)).all()
    for v in rows:
        sightings = sorted((s.image_tag, s.image_digest, s.active, s.first_seen_at, s.last_seen_at)
                           for s in session.scalars(select(VulnerabilitySighting)
                                                    .where(VulnerabilitySighting.vulnerability_id == v.id)))
        history = [(t.from_state, t.to_state, t.comment, t.created_at) for t in session.scalars(
            select(VulnerabilityStateTransition).where(VulnerabilityStateTransition.vulnerability_id == v.id)
            .order_by(VulnerabilityStateTransition.id))]
        out[(v.image_name, v.package_name, v.primary_identifier)] = dict(
            state=v.state, severity=v.severity, image=v.image, image_digest=v.image_digest, version=v.package_version,
            no_longer_detected=v.no_longer_detected, no_longer_detected_at=v.no_longer_detected_at,
            resolved_at=v.resolved_at, detected_at=v.detected_at, last_seen_at=v.last_seen_at, activity=v.activity,
            location=v.location, sightings=sightings, history=history)
    return out


def rounds(pid: int) -> list[list[tuple[vulns.ImageScope, list[Finding]]]]:
    """Scans of three images (two tags of one), with a digest change, a severity change, a package going away
    and coming back, and an image tag sharing a vulnerability with another tag of its image."""
    app = "reg/group/p/app"
    latest = lambda digest: vulns.ImageScope(pid, app, "latest", digest, "debian 12")  # noqa: E731
    v1 = vulns.ImageScope(pid, app, "v1", "sha256:1", "debian 12")
    other = vulns.ImageScope(pid, "reg/group/p/other", "latest", "sha256:9", None)
    return [
        [(latest("sha256:1"), [finding("urllib3", "1.24", "CVE-2019-1"), finding("jinja2", "2.10", "CVE-2019-2")]),
         (v1, [finding("urllib3", "1.24", "CVE-2019-1")]),
         (other, [finding("urllib3", "1.24", "CVE-2019-1"), finding("django", "3.2", "CVE-2021-3", "critical")])],
        # latest moves to a new digest without jinja2; urllib3 turns critical
        [(latest("sha256:2"), [finding("urllib3", "1.24", "CVE-2019-1", "critical")]),
         (other, [finding("django", "3.2", "CVE-2021-3", "critical")])],
        # jinja2 comes back in latest; v1 drops urllib3 (latest still has it)
        [(latest("sha256:3"), [finding("urllib3", "1.24", "CVE-2019-1", "critical"),
                               finding("jinja2", "2.10", "CVE-2019-2")]),
         (v1, [])],
    ]


def test_batches_end_like_consecutive_calls(db) -> None:
    with db.session() as s:
        one_by_one = projects.create_project(s, "group/one").id
        batched = projects.create_project(s, "group/batched").id
        for pid in (one_by_one, batched):
            projects.update_project_settings(s, projects.get_project(s, pid), auto_resolve=True)
    t0 = utcnow()
    for n, (seq_round, batch_round) in enumerate(zip(rounds(one_by_one), rounds(batched))):
        now = t0 + timedelta(minutes=n)
        with db.session() as s:
            for scope, findings in seq_round:
                recorded = vulns.record_findings(s, scope, findings, now=now)
                vulns.mark_not_detected(s, scope, recorded.seen_ids, auto_resolve=True, now=now)
        with db.session() as s:
            results = vulns.record_findings_many(s, batch_round, now=now)
            vulns.mark_not_detected_many(s, [(scope, r.seen_ids, None) for (scope, _), r in zip(batch_round, results)],
                                         auto_resolve=True, now=now)
    with db.session() as s:
        want, got = snapshot(s, one_by_one), snapshot(s, batched)
    assert len(want) == 4 and got == want
    jinja = want[("reg/group/p/app", "jinja2", "CVE-2019-2")]
    assert [h[:2] for h in jinja["history"]] == [(None, "detected"), ("detected", "resolved"), ("resolved", "detected")]
    urllib3 = want[("reg/group/p/app", "urllib3", "CVE-2019-1")]
    assert urllib3["severity"] == "critical" and not urllib3["no_longer_detected"]
    assert [(tag, digest, active) for tag, digest, active, *_ in urllib3["sightings"]] == [
        ("latest", "sha256:1", False), ("latest", "sha256:2", False), ("latest", "sha256:3", True), ("v1", "sha256:1", False)]


def test_batch_results_and_loaded_objects(db) -> None:
    """Per scope results (new, seen, redetected, severity changed); objects the session holds see bulk writes."""
    with db.session() as s:
        pid = projects.create_project(s, "group/results").id
        a = vulns.ImageScope(pid, "reg/g/a", "latest", "sha256:1")
        b = vulns.ImageScope(pid, "reg/g/b", "latest", "sha256:1")
        first = vulns.record_findings_many(s, [(a, [finding("x", "1", "CVE-1-1", "low")]),
                                               (b, [finding("x", "1", "CVE-1-1", "low"), finding("y", "1", "CVE-1-2")])])
        assert [len(r.new_ids) for r in first] == [1, 2] and [len(r.seen_ids) for r in first] == [1, 2]
        held = s.get(Vulnerability, first[0].new_ids[0])
        assert held.severity == "low"
        gone = vulns.mark_not_detected_many(s, [(a, [], None), (b, first[1].seen_ids, None)], auto_resolve=True)
        assert gone == [first[0].new_ids, []]
        assert held.state == "resolved" and held.no_longer_detected  # the held object was refreshed
        again = vulns.record_findings_many(s, [(a, [finding("x", "1", "CVE-1-1", "high")]), (b, [])])
        assert again[0].new_ids == [] and again[0].redetected_ids == first[0].new_ids
        assert again[0].severity_changed_ids == first[0].new_ids and again[1] == vulns.RecordResult()
        assert held.state == "detected" and held.severity == "high" and not held.no_longer_detected
        # one image's findings listed twice in a batch (two scans of one tag): created once, then refreshed
        c = vulns.ImageScope(pid, "reg/g/c", "latest", "sha256:1")
        c2 = vulns.ImageScope(pid, "reg/g/c", "latest", "sha256:2")
        twice = vulns.record_findings_many(s, [(c, [finding("z", "1", "CVE-1-3")]), (c2, [finding("z", "2", "CVE-1-3")])])
        assert len(twice[0].new_ids) == 1 and twice[1].new_ids == [] and twice[1].seen_ids == twice[0].seen_ids
        z = s.get(Vulnerability, twice[0].new_ids[0])
        assert (z.package_version, z.image_digest) == ("2", "sha256:2")
        assert sorted((x.image_digest, x.active) for x in vulns.sightings(s, z.id)) == [("sha256:1", False),
                                                                                      ("sha256:2", True)]
