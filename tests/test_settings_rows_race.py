"""Per-project settings rows (pull policy, scan-job policy, issue tracker) and a finding's issue link are written
"insert the row when there is none, else update it". Two maintainers saving the same form through two nodes at
the same moment both find no row; the one whose insert loses must still save (the later write wins, as on an
existing row), not answer 500 on the primary key. Two `Database` objects play the two nodes on PostgreSQL; the
race is held open after both looked for the row and before either inserted it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hullscan.auth.projects import create_project
from hullscan.db import Database
from hullscan.db.models.pipelines import ProjectScanSettings
from hullscan.db.models.policy import ProjectPolicy
from hullscan.db.models.vulnerabilities import Vulnerability, VulnerabilityIssueLink, VulnerabilityIssueTracker
from hullscan.pipelines import service as pipelines
from hullscan.policy import service as policy
from hullscan.vulnerabilities import service as vulnerabilities
from tests.support.postgres import PostgresCluster
from tests.support.races import second_inserts_after_first_committed, two_nodes


@dataclass(frozen=True)
class Row:
    model: type
    write: Callable[[Session, int, int, int], object]  # (session, project id, vulnerability id, which node)
    read: Callable[[Session, int, int], object]  # what was saved
    expected: Callable[[int], object]  # what node n saves


def _vulnerability(session: Session, vulnerability_id: int) -> Vulnerability:
    return session.get_one(Vulnerability, vulnerability_id)


ROWS = {
    "pull-policy": Row(
        ProjectPolicy,
        lambda s, p, _v, n: policy.set_policy(s, p, policy.PolicySettings(gate_enabled=True, grace_days=n),
                                              author=f"node-{n}"),
        lambda s, p, _v: (s.get_one(ProjectPolicy, p).grace_days, s.get_one(ProjectPolicy, p).updated_by),
        lambda n: (n, f"node-{n}")),
    "scan-settings": Row(
        ProjectScanSettings,
        lambda s, p, _v, n: pipelines.set_fail_partial_scans(s, p, bool(n)),
        lambda s, p, _v: s.get_one(ProjectScanSettings, p).fail_partial_scans,
        bool),
    "issue-tracker": Row(
        VulnerabilityIssueTracker,
        lambda s, p, _v, n: vulnerabilities.set_issue_tracker_template(s, p, f"https://issues.example/{n}/new"),
        lambda s, p, _v: s.get_one(VulnerabilityIssueTracker, p).url_template,
        lambda n: f"https://issues.example/{n}/new"),
    "issue-link": Row(
        VulnerabilityIssueLink,
        lambda s, _p, v, n: vulnerabilities.set_issue_link(s, _vulnerability(s, v), f"https://issues.example/{n}",
                                                           None, author=f"node-{n}"),
        lambda s, _p, v: s.get_one(VulnerabilityIssueLink, v).url,
        lambda n: f"https://issues.example/{n}"),
}


def _seed(db: Database) -> tuple[int, int]:
    with db.session() as session:
        project = create_project(session, "team/app")
        vulnerability = Vulnerability(
            uuid="00000000-0000-4000-8000-000000000001", project_id=project.id, report_type=2, severity="high",
            title="CVE-2023-43804 in urllib3", primary_identifier="CVE-2023-43804", location_fingerprint="0" * 40,
            identifier_fingerprint="1" * 40, image="team/app:1", image_name="team/app", package_name="urllib3",
            package_version="1.24.1")
        session.add(vulnerability)
        session.flush()
        return project.id, vulnerability.id


@pytest.mark.parametrize("name", sorted(ROWS))
def test_first_write_of_a_settings_row_on_two_nodes_at_once_saves(
        postgres: PostgresCluster, tmp_path: Path, name: str) -> None:
    row = ROWS[name]
    with two_nodes(postgres, tmp_path) as (settings, nodes):
        project_id, vulnerability_id = _seed(nodes[0])
        outcomes = second_inserts_after_first_committed(
            nodes, row.model, lambda session, n: row.write(session, project_id, vulnerability_id, n))
        assert outcomes == [None, None]
        with nodes[0].session() as session:
            assert row.read(session, project_id, vulnerability_id) == row.expected(1), "the later write wins"
            assert len(session.scalars(select(row.model)).all()) == 1
