"""Pipelines service: the scan queue other parts call (events creates pipelines, the runner API claims,
leases, logs and finishes jobs). State machine: created -> pending -> running -> success | failed | canceled.

Every function works inside the caller's session (one unit of work) and takes `now` so tests control time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hullscan.auth.principal import Kind, Principal, Scope
from hullscan.db.base import put_row
from hullscan.db.models.pipelines import Job, JobArtifact, JobLogChunk, Pipeline, ProjectScanSettings, Runner
from hullscan.events.types import ImagePushedEvent
from hullscan.ingestion.service import IngestionError, SbomArtifact, ingest_sbom_artifact, record_scan_failure

log = logging.getLogger("hullscan.pipelines")

SOURCE = "container_registry_push"
JOB_NAME = "container_scanning"
CREATED, PENDING, RUNNING, SUCCESS, FAILED, CANCELED = "created", "pending", "running", "success", "failed", "canceled"
ACTIVE = (CREATED, PENDING, RUNNING)
FINISHED = (SUCCESS, FAILED, CANCELED)
RUNNER_TOKEN_PREFIX = "hsrt_"
JOB_TOKEN_PREFIX = "hsjt_"
MAX_LOG_BYTES = 4 * 1024 * 1024
LEASE_EXPIRED = "runner lease expired (no heartbeat)"
TRUNCATED = "\n[hullscan] job log truncated: it exceeded the size limit\n"


class JobError(Exception):
    """A request about a job that its state does not allow (HTTP 409)."""


class LogOffsetError(JobError):
    """A log append that does not continue the stored log; carries the stored size."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class JobAuthError(Exception):
    """A job token that does not belong to a running job (HTTP 401/403)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bot_user(project_path: str) -> str:
    """The project's security bot user the pipeline runs as (not the pusher)."""
    return f"security-bot:{project_path}"


def job_variables(event: ImagePushedEvent) -> dict[str, str]:
    variables = {"REGISTRY_TRIGGERED": "true", "CS_IMAGE": event.image, "GIT_STRATEGY": "none"}
    if event.digest:
        variables["CS_IMAGE_DIGEST"] = event.digest
    return variables


# --- creation ---------------------------------------------------------------------------------------------------

def create_scan_pipelines(session: Session, events: Sequence[tuple[ImagePushedEvent, str]], *, now: datetime,
                          delay_seconds: float = 0.0, max_attempts: int = 3,
                          timeout_seconds: int = 3600) -> list[Job]:
    """One pipeline with one `container_scanning` job per qualifying push. `events` pairs each push with the
    project's path (for the bot user). With a delay the job waits in `created` so re-pushes can coalesce."""
    if not events:
        return []
    status = CREATED if delay_seconds > 0 else PENDING
    pipelines = [Pipeline(project_id=e.project_id, source=SOURCE, status=status, run_as=bot_user(path),
                          registry_event_id=e.registry_event_id, created_at=now, updated_at=now)
                 for e, path in events]
    session.add_all(pipelines)
    session.flush()
    not_before = now + timedelta(seconds=delay_seconds)
    jobs = [Job(pipeline_id=p.id, project_id=e.project_id, name=JOB_NAME, status=status,
                registry_host=e.registry_host, registry_origin=e.origin, repository=e.repository, tag=e.tag,
                digest=e.digest, variables=job_variables(e), attempts=0, max_attempts=max_attempts,
                not_before=not_before, timeout_seconds=timeout_seconds, log_size=0, created_at=now, updated_at=now)
            for p, (e, _path) in zip(pipelines, events, strict=True)]
    session.add_all(jobs)
    session.flush()
    return jobs


def active_jobs_for(session: Session, project_ids: Iterable[int]) -> list[Job]:
    """Jobs not yet finished in these projects (for dedup and coalescing), locked on PostgreSQL."""
    ids = sorted(set(project_ids))
    if not ids:
        return []
    return list(session.scalars(select(Job).where(Job.project_id.in_(ids), Job.status.in_(ACTIVE))
                                .order_by(Job.id).with_for_update(key_share=True)))


def coalesce_into(session: Session, job: Job, event: ImagePushedEvent, *, now: datetime,
                  delay_seconds: float) -> str | None:
    """Point a job still waiting in `created` at the newer digest; returns the digest it replaced."""
    replaced = job.digest
    job.digest = event.digest
    job.variables = job_variables(event)
    job.not_before = now + timedelta(seconds=delay_seconds)
    job.updated_at = now
    pipeline = session.get(Pipeline, job.pipeline_id)
    if pipeline is not None:
        pipeline.registry_event_id = event.registry_event_id
        pipeline.updated_at = now
    return replaced


def scanned_digests(session: Session, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (repository, digest) pairs have any job at all (one query)."""
    pairs = set(pairs)
    if not pairs:
        return set()
    repositories = {r for r, _ in pairs}
    rows = session.execute(select(Job.repository, Job.digest).where(Job.repository.in_(repositories)).distinct())
    return {(r, d) for r, d in rows if d is not None and (r, d) in pairs}


# --- runners ----------------------------------------------------------------------------------------------------

def register_runner(session: Session, description: str, *, is_local: bool = False,
                    now: datetime) -> tuple[Runner, str]:
    token = RUNNER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    runner = Runner(description=description[:255], token_hash=hash_token(token), is_local=is_local,
                    created_at=now, contacted_at=None)  # set when it first asks for work
    session.add(runner)
    session.flush()
    return runner, token


def list_runners(session: Session) -> Sequence[Runner]:
    return session.scalars(select(Runner).order_by(Runner.id)).all()


@dataclass
class RunnerRow:
    """A runner as the admin page shows it: online when it asked for work lately, and the jobs it runs."""

    runner: Runner
    online: bool
    running: list[Job]


def runner_rows(session: Session, now: datetime, online_within: timedelta = timedelta(minutes=2)) -> list[RunnerRow]:
    """Every runner with its running jobs (one query for all of them)."""
    all_runners = list(list_runners(session))
    running: dict[int, list[Job]] = {}
    if all_runners:
        for job in session.scalars(select(Job).where(Job.status == "running",
                                                     Job.runner_id.in_([r.id for r in all_runners]))):
            if job.runner_id is not None:  # always, by the query; said for the type checker
                running.setdefault(job.runner_id, []).append(job)
    return [RunnerRow(r, bool(r.contacted_at and now - r.contacted_at <= online_within), running.get(r.id, []))
            for r in all_runners]


def authenticate_runner(session: Session, token: str | None) -> Runner | None:
    if not token:
        return None
    return session.scalars(select(Runner).where(Runner.token_hash == hash_token(token))).one_or_none()


# --- the queue ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClaimedJob:
    job_id: int
    token: str
    project_id: int
    registry_host: str
    registry_origin: str
    repository: str
    tag: str
    digest: str | None
    variables: dict[str, str]
    timeout_seconds: int
    attempt: int
    log_size: int = 0  # where this attempt's log continues (a re-leased job keeps the earlier attempts' lines)


def _sync_pipelines(session: Session, jobs: Iterable[Job], now: datetime) -> None:
    """A pipeline's state is its (latest) job's state."""
    by_pipeline = {j.pipeline_id: j for j in jobs}
    if not by_pipeline:
        return
    for pipeline in session.scalars(select(Pipeline).where(Pipeline.id.in_(by_pipeline))):
        job = by_pipeline[pipeline.id]
        pipeline.status = job.status
        pipeline.updated_at = now
        if job.status == RUNNING and pipeline.started_at is None:
            pipeline.started_at = now
        pipeline.finished_at = now if job.status in FINISHED else None


def promote_due(session: Session, now: datetime) -> int:
    """created -> pending once the coalescing delay has passed."""
    due = select(Job.pipeline_id).where(Job.status == CREATED, Job.not_before <= now)
    session.execute(update(Pipeline).where(Pipeline.id.in_(due)).values(status=PENDING, updated_at=now)
                    .execution_options(synchronize_session=False))
    result = session.execute(update(Job).where(Job.status == CREATED, Job.not_before <= now)
                             .values(status=PENDING, updated_at=now).execution_options(synchronize_session=False))
    return result.rowcount or 0  # type: ignore[attr-defined]  # DML runs give a CursorResult; SQLAlchemy types it Result


def claim_job(session: Session, runner: Runner, *, now: datetime, lease_seconds: float) -> ClaimedJob | None:
    """Atomically hand the oldest pending job to `runner` (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite runs
    this in one BEGIN IMMEDIATE transaction). A fresh job token is issued for this attempt."""
    promote_due(session, now)
    job = session.scalars(select(Job).where(Job.status == PENDING).order_by(Job.id).limit(1)
                          .with_for_update(skip_locked=True)).one_or_none()
    runner.contacted_at = now
    if job is None:
        return None
    token = JOB_TOKEN_PREFIX + secrets.token_urlsafe(32)
    job.status = RUNNING
    job.runner_id = runner.id
    job.token_hash = hash_token(token)
    job.attempts += 1
    job.started_at = now
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    job.updated_at = now
    _sync_pipelines(session, [job], now)
    session.flush()
    return ClaimedJob(job_id=job.id, token=token, project_id=job.project_id, registry_host=job.registry_host,
                      registry_origin=job.registry_origin, repository=job.repository, tag=job.tag,
                      digest=job.digest, variables=dict(job.variables), timeout_seconds=job.timeout_seconds,
                      attempt=job.attempts, log_size=job.log_size)


def expire_leases(session: Session, *, now: datetime) -> list[int]:
    """Re-queue running jobs whose runner stopped heart-beating; fail those out of attempts."""
    jobs = list(session.scalars(select(Job).where(Job.status == RUNNING, Job.lease_expires_at < now)
                                .order_by(Job.id).with_for_update(skip_locked=True)))
    for job in jobs:
        job.runner_id = None
        job.token_hash = None
        job.lease_expires_at = None
        job.updated_at = now
        if job.attempts >= job.max_attempts:
            job.status = FAILED
            job.finished_at = now
            job.failure_reason = f"{LEASE_EXPIRED} after {job.attempts} attempts"
            _scan_failed_for_good(session, job)
        else:
            job.status = PENDING
        _append(session, job, f"\n[hullscan] {LEASE_EXPIRED} on attempt {job.attempts}; "
                              f"{'failed' if job.status == FAILED else 're-queued'}\n")
    _sync_pipelines(session, jobs, now)
    return [j.id for j in jobs]


def authenticate_job(session: Session, job_id: int, token: str | None, *, lock: bool = False) -> Job:
    """The job a job token belongs to. The token only authorises while the job runs (callers check state)."""
    stmt = select(Job).where(Job.id == job_id)
    if lock:
        stmt = stmt.with_for_update(key_share=True)
    job = session.scalars(stmt).one_or_none()
    if job is None or not token or job.token_hash is None \
            or not hmac.compare_digest(job.token_hash, hash_token(token)):
        raise JobAuthError("invalid job token")
    return job


def job_token_principal(session: Session, token: str) -> Principal | None:
    """A running job's token, as a registry credential: pull of the job's one repository, nothing else."""
    job = session.scalars(select(Job).where(Job.token_hash == hash_token(token))).one_or_none()
    if job is None or job.status != RUNNING:
        return None
    return Principal(name=f"job-{job.id}", kind=Kind.JOB, scopes=frozenset({Scope.READ_REGISTRY}),
                     repository=job.repository, credential=f"job:{job.id}")


def job_token_live(session: Session, job_id: int) -> bool:
    """Job tokens expire with their job: registry tokens issued for one stop when the job stops running."""
    row = session.execute(select(Job.status, Job.token_hash).where(Job.id == job_id)).one_or_none()
    return row is not None and row[0] == RUNNING and row[1] is not None


def _require_running(job: Job) -> None:
    if job.status != RUNNING:
        raise JobError(f"job {job.id} is {job.status}, not running")


def heartbeat(session: Session, job: Job, *, now: datetime, lease_seconds: float) -> Job:
    _require_running(job)
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    job.updated_at = now
    return job


def _append(session: Session, job: Job, text: str, *, force: bool = False) -> None:
    data = text.encode()
    if job.log_size + len(data) > MAX_LOG_BYTES and not force or job.log_size > MAX_LOG_BYTES:
        return
    session.add(JobLogChunk(job_id=job.id, offset=job.log_size, content=text))
    job.log_size += len(data)


def append_log(session: Session, job: Job, offset: int, text: str) -> int:
    """Append `text` at byte `offset`. A repeat of an append already stored is accepted (safe to retry);
    a gap or overlap raises JobError with the current size. Returns the log size."""
    _require_running(job)
    data = text.encode()
    if offset + len(data) <= job.log_size and (offset < job.log_size or not data):
        return job.log_size  # already stored: a retried append
    if offset != job.log_size:
        raise LogOffsetError(f"log offset {offset} does not match the log size {job.log_size}", job.log_size)
    if job.log_size + len(data) > MAX_LOG_BYTES:  # keep the head; the runner sees the size stop growing
        _append(session, job, TRUNCATED, force=True)
        return job.log_size
    _append(session, job, text)
    return job.log_size


def read_log_page(session: Session, job_id: int, after: int, limit: int = 200) -> list[tuple[int, str]]:
    """Up to `limit` log chunks (offset, text) past byte offset `after`: a streamed log reads page by page, each
    in a short transaction of its own, so no transaction stays open while a slow client reads."""
    return [(o, c) for o, c in session.execute(
        select(JobLogChunk.offset, JobLogChunk.content).where(JobLogChunk.job_id == job_id, JobLogChunk.offset > after)
        .order_by(JobLogChunk.offset).limit(limit))]


def read_log(session: Session, job_id: int) -> Iterable[str]:
    """The job log in order, chunk by chunk (streamed, not loaded whole)."""
    return session.scalars(select(JobLogChunk.content).where(JobLogChunk.job_id == job_id)
                           .order_by(JobLogChunk.offset).execution_options(yield_per=200))


MAX_PARTIAL_REASONS = 20
PARTIAL_SCAN = "partial_scan"


def finish_job(session: Session, job: Job, status: str, *, now: datetime, failure_reason: str | None = None,
               partial_reasons: Sequence[str] | None = None) -> Job:
    """running -> success | failed. Repeating the same final report is a no-op (safe to retry).

    A success with `partial_reasons` (the scan could not analyse every layer) marks the job partial; when the
    project's `fail_partial_scans` is set it fails instead, with failure reason `partial_scan: ...`."""
    if status not in (SUCCESS, FAILED):
        raise JobError(f"a runner may report success or failed, not {status!r}")
    if job.status == status or (status == SUCCESS and job.partial and job.status == FAILED):
        return job
    _require_running(job)
    if status == SUCCESS and not session.scalar(select(func.count()).select_from(JobArtifact)
                                                .where(JobArtifact.job_id == job.id)):
        raise JobError("a scan job succeeds only after its SBOM artifact is uploaded")
    reasons = [str(r)[:500] for r in partial_reasons or []][:MAX_PARTIAL_REASONS]
    if status == SUCCESS and reasons:
        job.partial, job.partial_reasons = True, reasons
        if scan_settings(session, job.project_id).fail_partial_scans:
            status, failure_reason = FAILED, f"{PARTIAL_SCAN}: {reasons[0]}"
    job.status = status
    job.finished_at = now
    job.updated_at = now
    job.lease_expires_at = None
    job.failure_reason = (failure_reason or "script_failure")[:512] if status == FAILED else None
    if status == FAILED:
        _scan_failed_for_good(session, job)
    _sync_pipelines(session, [job], now)
    return job


def _scan_failed_for_good(session: Session, job: Job) -> None:
    """Tell the project (its "scan failed" webhooks) that this push was not scanned."""
    record_scan_failure(session, job.project_id, pipeline_id=job.pipeline_id, job_id=job.id,
                        image=job.variables.get("CS_IMAGE", f"{job.repository}:{job.tag}"),
                        reason=job.failure_reason or "script_failure")


def release_job(session: Session, job: Job, *, now: datetime) -> Job:
    """A stopping runner gives a job back: pending again, the attempt not counted."""
    if job.status != RUNNING:
        return job
    job.status = PENDING
    job.attempts = max(0, job.attempts - 1)
    job.runner_id = None
    job.token_hash = None
    job.lease_expires_at = None
    job.updated_at = now
    _append(session, job, "\n[hullscan] released by a stopping runner; re-queued\n")
    _sync_pipelines(session, [job], now)
    return job


def scan_settings(session: Session, project_id: int) -> ProjectScanSettings:
    """The project's scan-job policy (the defaults when never set; not added to the session then)."""
    found = session.get(ProjectScanSettings, project_id)
    return found if found is not None else ProjectScanSettings(project_id=project_id, fail_partial_scans=False)


def set_fail_partial_scans(session: Session, project_id: int, value: bool) -> ProjectScanSettings:
    return put_row(session, ProjectScanSettings, project_id, project_id=project_id, fail_partial_scans=value)


def count_partial_jobs(session: Session, project_id: int) -> int:
    """How many of the project's scan jobs analysed only part of their image."""
    return session.scalar(select(func.count()).select_from(Job)
                          .where(Job.project_id == project_id, Job.partial.is_(True))) or 0


def partial_latest_scans(session: Session, project_id: int, images: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Job]:
    """Of the given (repository, tag) pairs, those whose latest successful scan was partial (one query), so a
    report can say its findings for that image may be incomplete."""
    wanted = set(images)
    if not wanted:
        return {}
    latest = (select(func.max(Job.id)).where(Job.project_id == project_id, Job.status == SUCCESS,
                                             Job.repository.in_(sorted({r for r, _ in wanted})))
              .group_by(Job.repository, Job.tag))
    jobs = session.scalars(select(Job).where(Job.id.in_(latest), Job.partial.is_(True)))
    return {(j.repository, j.tag): j for j in jobs if (j.repository, j.tag) in wanted}


def cancel_job(session: Session, job: Job, *, now: datetime, by: str | None = None) -> Job:
    """Stop a job that has not finished. A running job's token dies here, so its runner's next heartbeat or log
    append is refused (409/401) and the runner kills the scan; the log says who canceled it."""
    session.refresh(job, with_for_update={"key_share": True})  # a runner finishing it now: after, and see that
    if job.status in FINISHED:
        raise JobError(f"job {job.id} is already {job.status}")
    _append(session, job, f"\n[hullscan] canceled{f' by {by}' if by else ''}\n", force=True)
    job.status = CANCELED
    job.finished_at = now
    job.updated_at = now
    job.lease_expires_at = None
    job.token_hash = None
    _sync_pipelines(session, [job], now)
    return job


def retry_job(session: Session, job: Job, *, now: datetime) -> Job:
    """A finished job runs again as a new job of the same pipeline (the old one and its log stay)."""
    session.refresh(job, with_for_update={"key_share": True})  # two retries at once (two nodes): one new job
    if job.status not in (FAILED, CANCELED, SUCCESS):
        raise JobError(f"job {job.id} is {job.status}; only finished jobs can be retried")
    newer = session.scalar(select(Job.id).where(Job.pipeline_id == job.pipeline_id, Job.id > job.id).limit(1))
    if newer is not None:
        raise JobError(f"job {job.id} was already retried as job {newer}")
    new = Job(pipeline_id=job.pipeline_id, project_id=job.project_id, name=job.name, status=PENDING,
              registry_host=job.registry_host, registry_origin=job.registry_origin, repository=job.repository,
              tag=job.tag, digest=job.digest, variables=dict(job.variables), attempts=0,
              max_attempts=job.max_attempts, not_before=now, timeout_seconds=job.timeout_seconds, log_size=0,
              created_at=now, updated_at=now)
    session.add(new)
    session.flush()
    _sync_pipelines(session, [new], now)
    return new


def latest_job(session: Session, pipeline_id: int) -> Job | None:
    """The pipeline's current job (a retry adds a newer one): its status is the pipeline's."""
    return session.scalars(select(Job).where(Job.pipeline_id == pipeline_id).order_by(Job.id.desc())
                           .limit(1)).one_or_none()


def cancel_pipeline(session: Session, pipeline: Pipeline, *, now: datetime, by: str | None = None) -> Job:
    """Cancel the pipeline's current job (JobError when it already finished)."""
    job = latest_job(session, pipeline.id)
    if job is None:
        raise JobError(f"pipeline {pipeline.id} has no job")
    return cancel_job(session, job, now=now, by=by)


def retry_pipeline(session: Session, pipeline: Pipeline, *, now: datetime) -> Job:
    """Run the pipeline's finished job again, as a new job for the same digest (JobError while one runs)."""
    job = latest_job(session, pipeline.id)
    if job is None:
        raise JobError(f"pipeline {pipeline.id} has no job")
    return retry_job(session, job, now=now)


# --- ingestion of finished scans ------------------------------------------------------------------------------

MAX_SCAN_WARNINGS = 100  # warnings kept per ingested SBOM (each cut to 1000 characters)


def ingest_due_artifacts(session: Session, artifact_path: Callable[[str], Path], *, now: datetime,
                         limit: int = 1, publish: Callable[[Session, str, str, Path], None] | None = None) -> int:
    """Hand the SBOMs of successful jobs to ingestion, once each. An SBOM ingestion refuses is marked with the
    reason (never retried); rows are claimed with SKIP LOCKED so several servers share the work. One per
    transaction by default: on SQLite a transaction holds the database's single write lock.

    An artifact is marked ingested only when its rows are written: one whose ingestion failed otherwise keeps
    the error and stays due (retried after the others). Returns how many were ingested or refused."""
    rows = session.execute(select(JobArtifact, Job).join(Job, Job.id == JobArtifact.job_id)
                           .where(JobArtifact.ingested_at.is_(None), Job.status == SUCCESS)
                           .order_by(JobArtifact.ingest_error.is_not(None), JobArtifact.id).limit(limit)
                           .with_for_update(skip_locked=True, of=JobArtifact)).all()
    done = 0
    for artifact, job in rows:
        try:
            with session.begin_nested():
                ingested = ingest_sbom_artifact(session, SbomArtifact(
                    project_id=job.project_id, pipeline_id=job.pipeline_id, job_id=job.id, artifact_id=artifact.id,
                    path=artifact_path(artifact.sha256), image=job.variables.get("CS_IMAGE", ""), digest=job.digest))
                # kept with the scan, shown on the job and image pages: never only in the server log
                artifact.ingest_warnings = [w[:1000] for w in ingested.warnings[:MAX_SCAN_WARNINGS]] or None
                if publish is not None and job.digest:  # the SBOM as an OCI referrer of the image (docs/referrers.md)
                    publish(session, job.repository, ingested.image_digest or job.digest,
                            artifact_path(artifact.sha256))  # a platform's SBOM refers to its own manifest
        except IngestionError as exc:
            artifact.ingest_error = f"SBOM refused: {exc}"[:512]
        except Exception as exc:  # noqa: BLE001 - nothing was written: still due, after the others
            log.exception("ingestion failed", extra={"fields": {"artifact_id": artifact.id, "job_id": job.id}})
            artifact.ingest_error = f"ingestion failed (retried): {exc.__class__.__name__}: {exc}"[:512]
            continue
        else:
            artifact.ingest_error = None
        artifact.ingested_at = now
        done += 1
    return done


# --- queries ------------------------------------------------------------------------------------------------

def list_pipelines(session: Session, project_id: int, *, limit: int = 50, offset: int = 0) -> Sequence[Pipeline]:
    return session.scalars(select(Pipeline).where(Pipeline.project_id == project_id)
                           .order_by(Pipeline.id.desc()).limit(limit).offset(offset)).all()


def jobs_of(session: Session, pipeline_ids: Iterable[int]) -> dict[int, list[Job]]:
    ids = list(set(pipeline_ids))
    out: dict[int, list[Job]] = {i: [] for i in ids}
    if ids:
        for job in session.scalars(select(Job).where(Job.pipeline_id.in_(ids)).order_by(Job.id)):
            out[job.pipeline_id].append(job)
    return out


def artifacts_of(session: Session, job_ids: Iterable[int]) -> dict[int, list[JobArtifact]]:
    ids = list(set(job_ids))
    out: dict[int, list[JobArtifact]] = {i: [] for i in ids}
    if ids:
        for artifact in session.scalars(select(JobArtifact).where(JobArtifact.job_id.in_(ids))
                                        .order_by(JobArtifact.id)):
            out[artifact.job_id].append(artifact)
    return out


def get_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def sbom_artifact(session: Session, project_id: int, job_id: int) -> JobArtifact | None:
    """The first artifact of a job of the project; None for another project's job (hidden as missing)."""
    job = session.get(Job, job_id)
    if job is None or job.project_id != project_id:
        return None
    return session.scalars(select(JobArtifact).where(JobArtifact.job_id == job_id)
                           .order_by(JobArtifact.id).limit(1)).first()


def last_jobs_by_tag(session: Session, project_id: int, repositories: Iterable[str],
                     ) -> tuple[dict[tuple[str, str], Job], dict[tuple[str, str], JobArtifact]]:
    """(repository, tag) → the last scan job of the project's repositories, and → the SBOM artifact of the last
    successful one: four queries whatever the number of tags."""
    repos = sorted(set(repositories))
    last_ids = select(func.max(Job.id)).where(Job.project_id == project_id, Job.repository.in_(repos)) \
        .group_by(Job.repository, Job.tag)
    jobs = {(j.repository, j.tag): j for j in session.scalars(select(Job).where(Job.id.in_(last_ids)))}
    done_ids = select(func.max(Job.id)).where(Job.project_id == project_id, Job.repository.in_(repos),
                                              Job.status == "success").group_by(Job.repository, Job.tag)
    done = {(j.repository, j.tag): j.id for j in session.scalars(select(Job).where(Job.id.in_(done_ids)))}
    first_artifact: dict[int, JobArtifact] = {}
    if done:
        for a in session.scalars(select(JobArtifact).where(JobArtifact.job_id.in_(list(done.values())))):
            first_artifact.setdefault(a.job_id, a)
    sboms = {key: first_artifact[job_id] for key, job_id in done.items() if job_id in first_artifact}
    return jobs, sboms


def get_pipeline(session: Session, pipeline_id: int) -> Pipeline | None:
    return session.get(Pipeline, pipeline_id)
