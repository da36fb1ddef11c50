"""What people and runners do to one job through two nodes at the same moment. Each action checks the job's state,
then writes; without taking turns on the job row both pass the check. Two `Database` objects play the two nodes on
PostgreSQL; node 0 is held after its check until node 1 checked too or waits for node 0.

- Retry pressed twice (two nodes, or two presses): one new job, not two (the digest scanned twice).
- Cancel while the runner reports the job finished: the report stands; the cancel must not overwrite it (a
  finished scan shown as canceled, its result and the "scan failed" notification contradicting the job)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.pipelines import Job
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from tests.pipelines.helpers import add_event
from tests.support.postgres import PostgresCluster
from tests.support.races import second_checks_while_first_holds, two_nodes

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def running(postgres: PostgresCluster, tmp_path: Path) -> Iterator[tuple[list[Database], pipelines.ClaimedJob]]:
    """Two nodes and a job a runner is running."""
    with two_nodes(postgres, tmp_path) as (settings, nodes):
        with nodes[0].session() as s:
            projects.create_project(s, "group/app", cs4r_enabled=True)
            add_event(s, "group/app", "latest")
            events.process_pending_events(s, settings, now=T0)
            runner, _ = pipelines.register_runner(s, "r", now=T0)
            claimed = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
            assert claimed is not None
        yield nodes, claimed


def _job_error(outcome: BaseException | None, message: str) -> bool:
    return isinstance(outcome, pipelines.JobError) and message in str(outcome)


def test_one_finished_job_retried_on_two_nodes_at_once_runs_once_more(
        running: tuple[list[Database], pipelines.ClaimedJob]) -> None:
    nodes, claimed = running
    with nodes[0].session() as s:
        pipelines.finish_job(s, s.get_one(Job, claimed.job_id), pipelines.FAILED, now=T0, failure_reason="boom")

    def retry(session: Session, _node: int) -> None:
        pipelines.retry_job(session, session.get_one(Job, claimed.job_id), now=T0)

    def adding_a_job(session: Session) -> bool:
        return any(isinstance(row, Job) for row in session.new)

    outcomes = second_checks_while_first_holds(nodes, adding_a_job, retry)
    assert outcomes[0] is None and _job_error(outcomes[1], "already retried"), outcomes
    with nodes[0].session() as s:
        assert [j.status for j in s.scalars(select(Job).order_by(Job.id))] == ["failed", "pending"], "one new job"


def test_a_job_canceled_while_its_runner_reports_it_failed_stays_failed(
        running: tuple[list[Database], pipelines.ClaimedJob]) -> None:
    nodes, claimed = running

    def finish_or_cancel(session: Session, n: int) -> None:
        if n == 0:  # the runner, through the API: its job locked, then reported
            job = pipelines.authenticate_job(session, claimed.job_id, claimed.token, lock=True)
            pipelines.finish_job(session, job, pipelines.FAILED, now=T0, failure_reason="boom")
        else:
            pipelines.cancel_job(session, session.get_one(Job, claimed.job_id), now=T0, by="alice")

    def writing_the_job(session: Session) -> bool:
        return any(isinstance(row, Job) for row in session.dirty)

    outcomes = second_checks_while_first_holds(nodes, writing_the_job, finish_or_cancel)
    assert outcomes[0] is None and _job_error(outcomes[1], "already failed"), outcomes
    with nodes[0].session() as s:
        assert s.get_one(Job, claimed.job_id).status == "failed"
