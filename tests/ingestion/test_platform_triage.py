"""The switch of a tag from a single-platform scan to per-platform scans keeps its triage: the rules of
`carry_single_platform_triage` (same identifier and package only; the state to linux/amd64 only; other platforms
get a pointer, never a silent dismissal; the automatic "no longer detected" resolution is not a decision; a
re-run changes nothing). SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import Vulnerability, VulnerabilityStateTransition
from hullscan.matching.finding import Finding, FindingPackage
from hullscan.vulnerabilities import service as vulns
from hullscan.vulnerabilities.fingerprints import platform_image_name

NAME = "reg.test/group/project/app"


def finding(pkg: str, vid: str) -> Finding:
    return Finding(package=FindingPackage(name=pkg, version="1.0", type="python"), vulnerability_id=vid,
                   identifiers=[vid], advisory_ids=[vid], ecosystem="PyPI", severity="high")


@pytest.fixture
def db(migrated_settings):  # type: ignore[no-untyped-def]
    database = Database(migrated_settings)
    yield database
    database.dispose()


def _by_key(session, name: str) -> dict[tuple[str, str], Vulnerability]:  # type: ignore[no-untyped-def]
    return {(v.primary_identifier, v.package_name): v
            for v in session.scalars(select(Vulnerability).where(Vulnerability.image_name == name))}


def _history(session, vid: int) -> list[VulnerabilityStateTransition]:  # type: ignore[no-untyped-def]
    return vulns.history(session, vid)


def test_carry_over_rules(db: Database) -> None:
    with db.session() as s:
        pid = projects.create_project(s, "group/project").id
        other_pid = projects.create_project(s, "group/other").id
    single = vulns.ImageScope(pid, NAME, "latest", "sha256:" + "a" * 64)
    old_findings = [finding("urllib3", "CVE-1"), finding("jinja2", "CVE-2"), finding("django", "CVE-3"),
                    finding("flask", "CVE-4"), finding("idna", "CVE-5"), finding("certifi", "CVE-6")]
    with db.session() as s:
        ids = vulns.record_findings(s, single, old_findings).new_ids
        old = dict(zip(["urllib3", "jinja2", "django", "flask", "idna", "certifi"], ids, strict=True))
        (elsewhere,) = vulns.record_findings(s, vulns.ImageScope(other_pid, NAME, "latest"),
                                             [finding("urllib3", "CVE-1")]).new_ids
        vulns.change_state(s, [elsewhere], "dismissed", author="zed", dismissal_reason="false_positive")
        vulns.change_state(s, [old["urllib3"]], "dismissed", author="alice", comment="we never call it",
                           dismissal_reason="mitigating_control")
        vulns.change_state(s, [old["jinja2"]], "confirmed", author="bob", comment="real")
        vulns.add_comment(s, s.get(Vulnerability, old["django"]), "looking into it", author="carol")
        vulns.set_issue_link(s, s.get(Vulnerability, old["django"]), "https://issues.test/7", "Upgrade django",
                             author="carol")
        vulns.change_state(s, [old["flask"]], "resolved", author="dave")  # a rescan would detect it again
        vulns.change_state(s, [old["certifi"]], "dismissed", author="erin", dismissal_reason="used_in_tests")

    amd64 = vulns.ImageScope(pid, platform_image_name(NAME, "linux/amd64"), "latest", "sha256:" + "1" * 64)
    arm64 = vulns.ImageScope(pid, platform_image_name(NAME, "linux/arm64/v8"), "latest", "sha256:" + "2" * 64)
    with db.session() as s:  # what ingestion of the first platform does: the old record goes, auto-resolving
        vulns.mark_not_detected(s, single, [], auto_resolve=True)
        assert s.get(Vulnerability, old["jinja2"]).state == "resolved"  # confirmed, resolved by the switch-over
        # the same identifier in another package, and another identifier in the same package, are not the same
        new = vulns.record_findings(s, amd64, [finding("urllib3", "CVE-1"), finding("jinja2", "CVE-2"),
                                               finding("django", "CVE-3"), finding("flask", "CVE-4"),
                                               finding("idna", "CVE-5"), finding("urllib3", "CVE-9"),
                                               finding("requests", "CVE-6")]).new_ids
        carried = vulns.carry_single_platform_triage(s, new)
    with db.session() as s:
        got = _by_key(s, amd64.name)
        assert {k for k, v in got.items() if v.id in carried} == {("CVE-1", "urllib3"), ("CVE-2", "jinja2")}
        state = {k: (v.state, v.dismissal_reason) for k, v in got.items()}
        assert state == {("CVE-1", "urllib3"): ("dismissed", "mitigating_control"),
                         ("CVE-2", "jinja2"): ("confirmed", None),  # its auto-resolution was not a decision
                         ("CVE-3", "django"): ("detected", None), ("CVE-4", "flask"): ("detected", None),
                         ("CVE-5", "idna"): ("detected", None), ("CVE-9", "urllib3"): ("detected", None),
                         ("CVE-6", "requests"): ("detected", None)}
        (entry,) = [t for t in _history(s, got[("CVE-1", "urllib3")].id) if t.kind == vulns.STATE_CHANGE]
        assert (entry.from_state, entry.to_state, entry.dismissal_reason, entry.author) == \
            ("detected", "dismissed", "mitigating_control", "hullscan")
        assert f"carried over from #{old['urllib3']} ({NAME}, scanned as linux/amd64 only)" in entry.comment
        django = got[("CVE-3", "django")]
        link = vulns.issue_link(s, django.id)
        assert link is not None and (link.url, link.title, link.author) == ("https://issues.test/7",
                                                                            "Upgrade django", "carol")
        assert [t.kind for t in _history(s, django.id)] == ["detected", "comment"]
        assert "Issue link: https://issues.test/7" in _history(s, django.id)[-1].comment
        flask = _history(s, got[("CVE-4", "flask")].id)
        assert "There it is resolved; here it is detected again." in flask[-1].comment
        assert [t.kind for t in _history(s, got[("CVE-5", "idna")].id)] == ["detected"]  # nothing to carry
        assert [t.kind for t in _history(s, got[("CVE-6", "requests")].id)] == ["detected"]
        # the old findings keep their own history and end as no longer detected
        old_urllib3 = s.get(Vulnerability, old["urllib3"])
        assert old_urllib3.no_longer_detected and old_urllib3.state == "dismissed"
        assert [t.author for t in _history(s, old["urllib3"])] == ["hullscan", "alice"]
        assert vulns.issue_link(s, old["django"]) is not None

    with db.session() as s:  # another platform: a pointer to the decision, the state stays "needs triage"
        new_arm = vulns.record_findings(s, arm64, [finding("urllib3", "CVE-1"), finding("certifi", "CVE-6"),
                                                   finding("idna", "CVE-5")]).new_ids
        assert vulns.carry_single_platform_triage(s, new_arm) == []
    with db.session() as s:
        got = _by_key(s, arm64.name)
        assert {k: v.state for k, v in got.items()} == {("CVE-1", "urllib3"): "detected",
                                                        ("CVE-6", "certifi"): "detected",
                                                        ("CVE-5", "idna"): "detected"}
        note = _history(s, got[("CVE-1", "urllib3")].id)[-1]
        assert note.kind == "comment" and f"(#{old['urllib3']}) is dismissed (mitigating_control)" in note.comment
        assert "Not carried over to linux/arm64/v8" in note.comment
        assert vulns.issue_link(s, got[("CVE-1", "urllib3")].id) is None

    with db.session() as s:  # a re-run (the same SBOM ingested again, or the same ids) changes nothing
        entries = s.scalar(select(func.count()).select_from(VulnerabilityStateTransition))
        again = vulns.record_findings(s, amd64, [finding("urllib3", "CVE-1"), finding("jinja2", "CVE-2")])
        assert again.new_ids == []
        assert vulns.carry_single_platform_triage(s, new + new_arm) == []
        assert s.scalar(select(func.count()).select_from(VulnerabilityStateTransition)) == entries
        assert _by_key(s, amd64.name)[("CVE-1", "urllib3")].dismissal_reason == "mitigating_control"
