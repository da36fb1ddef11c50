"""A finished scan retried twice at the same moment (two people pressing Retry, or one retry through two nodes) is
one new job: each retry checks "was this job retried already?" and then adds the job, so without a lock both pass
the check and the digest is scanned twice. Two `Database` objects play the two nodes on PostgreSQL; node 0 is held
after its check until node 1 has checked too or waits for node 0."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hullscan.auth import projects
from hullscan.db.models.pipelines import Job
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from tests.pipelines.helpers import add_event
from tests.support.postgres import PostgresCluster
from tests.support.races import second_checks_while_first_holds, two_nodes

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_one_finished_job_retried_on_two_nodes_at_once_runs_once_more(
        postgres: PostgresCluster, tmp_path: Path) -> None:
    with two_nodes(postgres, tmp_path) as (settings, nodes):
        with nodes[0].session() as s:
            project = projects.create_project(s, "group/app", cs4r_enabled=True)
            add_event(s, "group/app", "latest")
            events.process_pending_events(s, settings, now=T0)
            runner, _ = pipelines.register_runner(s, "r", now=T0)
            claimed = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
            assert claimed is not None
            pipelines.finish_job(s, s.get_one(Job, claimed.job_id), pipelines.FAILED, now=T0, failure_reason="boom")

        def retry(session: Session, _node: int) -> None:
            pipelines.retry_job(session, session.get_one(Job, claimed.job_id), now=T0)

        def adding_a_job(session: Session) -> bool:
            return any(isinstance(row, Job) for row in session.new)

        outcomes = second_checks_while_first_holds(nodes, adding_a_job, retry)
        assert outcomes[0] is None
        assert isinstance(outcomes[1], pipelines.JobError) and "already retried" in str(outcomes[1]), outcomes[1]
        with nodes[0].session() as s:
            jobs = s.scalars(select(Job).where(Job.project_id == project.id).order_by(Job.id)).all()
            assert [j.status for j in jobs] == ["failed", "pending"], "one new job, not two"
