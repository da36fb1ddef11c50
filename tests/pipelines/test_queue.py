"""The scan queue: claiming, leases, retries, logs, results, cancel and retry — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.pipelines import Job, JobArtifact, Pipeline
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from hullscan.scanner import write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from tests.pipelines.helpers import add_event

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _queue(db: Database, settings, n: int) -> None:
    with db.session() as s:
        project = projects.create_project(s, "group/app", cs4r_enabled=True)
        projects.update_project_settings(s, project, tag_patterns=["*"])
        for i in range(n):
            add_event(s, "group/app", f"t{i}")
        assert len(events.process_pending_events(s, settings, now=T0).jobs) == n


def test_concurrent_claims_hand_each_job_out_once(migrated_settings) -> None:
    db = Database(migrated_settings)
    _queue(db, migrated_settings, 12)
    with db.session() as s:
        runners = [pipelines.register_runner(s, f"r{i}", now=T0)[0].id for i in range(4)]
    claimed: list[int] = []
    lock = threading.Lock()

    def work(runner_id: int) -> None:
        while True:
            with db.session() as s:
                runner = s.get(pipelines.Runner, runner_id)
                job = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
            if job is None:
                return
            with lock:
                claimed.append(job.job_id)

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 12
    with db.session() as s:
        assert {j.status for j in s.scalars(select(Job))} == {"running"}
        assert {p.status for p in s.scalars(select(Pipeline))} == {"running"}
    db.dispose()


def test_lease_expiry_requeues_then_fails_after_three_attempts(migrated_settings) -> None:
    db = Database(migrated_settings)
    _queue(db, migrated_settings, 1)
    with db.session() as s:
        runner, _ = pipelines.register_runner(s, "r", now=T0)
        now = T0
        for attempt in (1, 2, 3):
            claimed = pipelines.claim_job(s, runner, now=now, lease_seconds=30)
            assert claimed is not None and claimed.attempt == attempt
            job = pipelines.authenticate_job(s, claimed.job_id, claimed.token)
            pipelines.heartbeat(s, job, now=now + timedelta(seconds=20), lease_seconds=30)
            assert pipelines.expire_leases(s, now=now + timedelta(seconds=45)) == []  # the heartbeat extended it
            assert pipelines.expire_leases(s, now=now + timedelta(seconds=51)) == [claimed.job_id]
            with pytest.raises(pipelines.JobAuthError):  # the old token died with the lease
                pipelines.authenticate_job(s, claimed.job_id, claimed.token)
            now += timedelta(minutes=1)
        job = s.get(Job, claimed.job_id)
        assert job.status == "failed" and job.attempts == 3
        assert job.failure_reason == "runner lease expired (no heartbeat) after 3 attempts"
        assert s.get(Pipeline, job.pipeline_id).status == "failed"
        assert "re-queued" in "".join(pipelines.read_log(s, job.id))
        assert pipelines.claim_job(s, runner, now=now, lease_seconds=30) is None
    db.dispose()


def test_log_append_is_idempotent_and_result_needs_the_sbom(migrated_settings) -> None:
    db = Database(migrated_settings)
    _queue(db, migrated_settings, 1)
    with db.session() as s:
        runner, _ = pipelines.register_runner(s, "r", now=T0)
        claimed = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
        job = pipelines.authenticate_job(s, claimed.job_id, claimed.token)
        assert pipelines.append_log(s, job, 0, "héllo\n") == 7
        assert pipelines.append_log(s, job, 0, "héllo\n") == 7  # a retried append
        with pytest.raises(pipelines.LogOffsetError) as gap:
            pipelines.append_log(s, job, 20, "gap\n")
        assert gap.value.size == 7
        assert pipelines.append_log(s, job, 7, "world\n") == 13
        assert "".join(pipelines.read_log(s, job.id)) == "héllo\nworld\n"
        with pytest.raises(pipelines.JobError, match="SBOM"):
            pipelines.finish_job(s, job, "success", now=T0)
        s.add(JobArtifact(job_id=job.id, name="gl-sbom-report.cdx.json", file_type="cyclonedx", sha256="0" * 64,
                          size=1))
        s.flush()
        pipelines.finish_job(s, job, "success", now=T0)
        pipelines.finish_job(s, job, "success", now=T0)  # a retried report is a no-op
        with pytest.raises(pipelines.JobError):
            pipelines.finish_job(s, job, "failed", now=T0)
        with pytest.raises(pipelines.JobError):
            pipelines.heartbeat(s, job, now=T0, lease_seconds=30)
        assert s.get(Pipeline, job.pipeline_id).status == "success"
    db.dispose()


def test_cancel_release_and_retry(migrated_settings) -> None:
    db = Database(migrated_settings)
    _queue(db, migrated_settings, 2)
    with db.session() as s:
        runner, _ = pipelines.register_runner(s, "r", now=T0)
        first = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
        job = s.get(Job, first.job_id)
        pipelines.release_job(s, job, now=T0)
        assert job.status == "pending" and job.attempts == 0 and job.token_hash is None
        again = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
        assert again.job_id == first.job_id and again.attempt == 1
        pipelines.cancel_job(s, job, now=T0)
        assert job.status == "canceled" and s.get(Pipeline, job.pipeline_id).status == "canceled"
        with pytest.raises(pipelines.JobError):
            pipelines.heartbeat(s, job, now=T0, lease_seconds=30)  # the runner learns to stop
        with pytest.raises(pipelines.JobError):
            pipelines.cancel_job(s, job, now=T0)
        retried = pipelines.retry_job(s, job, now=T0)
        assert retried.id != job.id and retried.pipeline_id == job.pipeline_id and retried.status == "pending"
        assert s.get(Pipeline, job.pipeline_id).status == "pending"
        assert retried.variables == job.variables
        other = s.scalars(select(Job).where(Job.id.notin_([job.id, retried.id]))).one()
        with pytest.raises(pipelines.JobError):
            pipelines.retry_job(s, other, now=T0)  # still pending
    db.dispose()


def test_sboms_of_successful_jobs_are_ingested_once_and_bad_ones_marked(migrated_settings, tmp_path) -> None:
    db = Database(migrated_settings)
    _queue(db, migrated_settings, 2)
    files = {"good": tmp_path / "good.json", "bad": tmp_path / "bad.json"}
    files["good"].write_text(write_cyclonedx(Inventory(ImageInfo(name="registry.test:5000/group/app", tag="t0"),
                                                       OperatingSystem("debian", "12.15"),
                                                       [Package("zlib1g", "1:1.2.13.dfsg-1", "deb")]),
                                             registry_triggered=True))
    files["bad"].write_text('{"bomFormat": "CycloneDX", "components": "not a list"}')
    with db.session() as s:
        runner, _ = pipelines.register_runner(s, "r", now=T0)
        for name in ("good", "bad"):
            claimed = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
            s.add(JobArtifact(job_id=claimed.job_id, name="gl-sbom-report.cdx.json", file_type="cyclonedx",
                              sha256=name, size=1))
            s.flush()
            if name == "good":  # the bad one's job has not succeeded yet: not due
                pipelines.finish_job(s, s.get(Job, claimed.job_id), "success", now=T0)
    with db.session() as s:
        assert pipelines.ingest_due_artifacts(s, lambda sha: files[sha], now=T0, limit=10) == 1
        assert pipelines.ingest_due_artifacts(s, lambda sha: files[sha], now=T0, limit=10) == 0
        good = s.scalars(select(JobArtifact).where(JobArtifact.sha256 == "good")).one()
        assert good.ingested_at is not None and good.ingest_error is None
        bad = s.scalars(select(JobArtifact).where(JobArtifact.sha256 == "bad")).one()
        pipelines.finish_job(s, s.get(Job, bad.job_id), "success", now=T0)
        assert pipelines.ingest_due_artifacts(s, lambda sha: files[sha], now=T0) == 1
        assert bad.ingested_at is not None and bad.ingest_error.startswith("SBOM refused")
    db.dispose()


def test_a_scan_that_fails_for_good_notifies_the_project(migrated_settings) -> None:
    from hullscan.vulnerabilities import notifications

    db = Database(migrated_settings)
    _queue(db, migrated_settings, 2)
    with db.session() as s:
        pid = projects.get_project(s, "group/app").id
        hook = notifications.create_webhook(s, pid, "http://127.0.0.1:9/hook", events=["scan_failed"],
                                            min_severity="low")
        runner = pipelines.register_runner(s, "r", now=T0)[0]
        first = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
        pipelines.finish_job(s, s.get(Job, first.job_id), "failed", now=T0, failure_reason="image pull failed")
        second = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
        s.get(Job, second.job_id).attempts = s.get(Job, second.job_id).max_attempts  # its last attempt
    with db.session() as s:
        pipelines.expire_leases(s, now=T0 + timedelta(minutes=5))  # the runner vanished: failed for good
    with db.session() as s:
        payloads = [d.payload for d in notifications.deliveries(s, hook.id)]
    assert sorted(p["event"] for p in payloads) == ["scan_failed", "scan_failed"]
    reasons = sorted(p["data"]["reason"] if "data" in p else p["reason"] for p in payloads)
    assert reasons[0] == "image pull failed" and reasons[1].startswith("runner lease expired")
    db.dispose()
