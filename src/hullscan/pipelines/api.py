"""Runner HTTP API (`/api/v1/runners`, `/api/v1/jobs/...`), the pipelines API per project, and the local
runner pool plus queue maintenance that `serve` starts.

Runner and job endpoints authenticate machines the way GitLab's runner API does: a runner token
(`RUNNER-TOKEN` header) to register and claim, a job token (`JOB-TOKEN` header) valid while its job runs.
Every runner call is safe to retry.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth import service as auth_service
from hullscan.auth.http import audit
from hullscan.db.base import utcnow
from hullscan.db.models import Project
from hullscan.db.models.pipelines import Job, JobArtifact, Pipeline
from hullscan.ingestion.validation import InvalidSbom, validate_sbom
from hullscan.pipelines import service
from hullscan.pipelines.artifacts import ArtifactError, ArtifactStore, check_sbom_name
from hullscan.pipelines.pool import LocalRunnerPool, registration_token
from hullscan.pipelines.registries import registry_access
from hullscan.pipelines.signal import QueueSignal
from hullscan.settings import Settings
from hullscan.http_deps import CountQuery, IdPath, authorized_project, get_session

log = logging.getLogger("hullscan.pipelines")
router = APIRouter()
MAX_WAIT_SECONDS = 30.0


# --- helpers ---------------------------------------------------------------------------------------------------

def register_job_tokens() -> None:
    """Teach auth the job token (`JOB-TOKEN`, GitLab's CI_JOB_TOKEN): `create_app` calls this explicitly."""
    auth_service.register_token_kind(service.JOB_TOKEN_PREFIX, service.job_token_principal)
    auth_service.register_credential_check("job", service.job_token_live)


def artifact_store(settings: Settings) -> ArtifactStore:
    from hullscan.registry.storage import driver_for

    return ArtifactStore(driver_for(settings, "artifacts"), settings.resolved_data_dir / "artifact-cache")


def _job_or_error(session: Session, job_id: int, token: str | None, *, lock: bool = True) -> Job:
    try:
        return service.authenticate_job(session, job_id, token, lock=lock)
    except service.JobAuthError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from None


def _conflict(exc: service.JobError) -> HTTPException:
    return HTTPException(status_code=409, detail=str(exc))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_json(job: Job, artifacts: list[JobArtifact] | None = None) -> dict[str, Any]:
    return {
        "id": job.id, "pipeline_id": job.pipeline_id, "project_id": job.project_id, "name": job.name,
        "status": job.status, "image": job.variables.get("CS_IMAGE"), "repository": job.repository, "tag": job.tag,
        "digest": job.digest, "variables": [{"key": k, "value": v} for k, v in job.variables.items()],
        "attempts": job.attempts, "max_attempts": job.max_attempts, "failure_reason": job.failure_reason,
        "partial": job.partial, "partial_reasons": job.partial_reasons or [],
        "runner_id": job.runner_id, "created_at": _iso(job.created_at), "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at), "updated_at": _iso(job.updated_at), "log_size": job.log_size,
        "artifacts": [{"name": a.name, "file_type": a.file_type, "sha256": a.sha256, "size": a.size,
                       "ingested_at": _iso(a.ingested_at), "ingest_error": a.ingest_error}
                      for a in artifacts or []],
    }


def pipeline_json(pipeline: Pipeline, jobs: list[Job], artifacts: dict[int, list[JobArtifact]]) -> dict[str, Any]:
    return {
        "id": pipeline.id, "project_id": pipeline.project_id, "source": pipeline.source, "status": pipeline.status,
        "user": pipeline.run_as, "registry_event_id": pipeline.registry_event_id,
        "created_at": _iso(pipeline.created_at), "updated_at": _iso(pipeline.updated_at),
        "started_at": _iso(pipeline.started_at), "finished_at": _iso(pipeline.finished_at),
        "partial": bool(jobs) and jobs[-1].partial,  # as its status: the latest job's
        "jobs": [job_json(j, artifacts.get(j.id)) for j in jobs],
    }


def _project_job(session: Session, project: Project, job_id: int) -> Job:
    job = service.get_job(session, job_id)
    if job is None or job.project_id != project.id:
        raise HTTPException(status_code=404, detail=f"job {job_id} not found")
    return job


# --- runners -----------------------------------------------------------------------------------------------------

class RegisterRunner(BaseModel):
    token: str = Field(max_length=256, description="The instance's runner registration token.")
    description: str = Field(default="", max_length=255)


@router.post("/runners", status_code=201, tags=["runners"])
def register_runner(body: RegisterRunner, request: Request,
                    session: Session = Depends(get_session)) -> dict[str, Any]:
    """Exchange the registration token for a runner token (shown once, stored hashed)."""
    expected = registration_token(request.app.state.settings)
    if not hmac.compare_digest(body.token.encode(), expected.encode()):
        raise HTTPException(status_code=403, detail="invalid registration token")
    runner, token = service.register_runner(session, body.description or "runner", now=utcnow())
    return {"id": runner.id, "token": token}


@router.get("/runners", tags=["runners"])
def list_runners(principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    """Registered runners and when each last asked for work (administrators)."""
    authorize(principal, Action.ADMIN_INSTANCE)
    return [{"id": r.id, "description": r.description, "is_local": r.is_local, "created_at": _iso(r.created_at),
             "contacted_at": _iso(r.contacted_at)} for r in service.list_runners(session)]


def _claim(request: Request, runner_token: str | None) -> dict[str, Any] | None:
    settings: Settings = request.app.state.settings
    with request.app.state.db.session() as session:
        runner = service.authenticate_runner(session, runner_token)
        if runner is None:
            raise HTTPException(status_code=401, detail="invalid runner token")
        claimed = service.claim_job(session, runner, now=utcnow(), lease_seconds=settings.job_lease_seconds)
        if claimed is None:
            return None
    access = registry_access(settings, claimed.registry_origin, claimed.registry_host, str(request.base_url),
                             claimed.token)
    log.info("job claimed", extra={"fields": {"job_id": claimed.job_id, "runner_id": runner.id, "attempt": claimed.attempt}})
    return {
        "id": claimed.job_id, "token": claimed.token, "project_id": claimed.project_id,
        "image": claimed.variables.get("CS_IMAGE"), "repository": claimed.repository, "tag": claimed.tag,
        "digest": claimed.digest, "registry": access,
        "variables": [{"key": k, "value": v} for k, v in claimed.variables.items()],
        "timeout": claimed.timeout_seconds, "lease_seconds": settings.job_lease_seconds,
        "attempt": claimed.attempt, "log_offset": claimed.log_size,
    }


@router.post("/jobs/request", tags=["runners"], responses={204: {"description": "no job within the wait"}})
async def request_job(request: Request, runner_token: Annotated[str | None, Header(alias="RUNNER-TOKEN")] = None,
                      wait: float = Query(default=MAX_WAIT_SECONDS, ge=0, le=MAX_WAIT_SECONDS)) -> Response:
    """Long-poll for a job: returns it with a job token, or 204 after `wait` seconds (at most 30)."""
    queue = QueueSignal.of(request.app)
    deadline = asyncio.get_running_loop().time() + wait
    while not getattr(request.app.state, "shutting_down", False):
        payload = await run_in_threadpool(_claim, request, runner_token)
        if payload is not None:
            return JSONResponse(payload, status_code=201)
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0 or await request.is_disconnected():
            return Response(status_code=204)
        await queue.wait(min(remaining, 1.0))
    return Response(status_code=204)  # the server is stopping: hand out nothing more


class JobUpdate(BaseModel):
    state: str = Field(description="running (heartbeat), success or failed")
    failure_reason: str | None = Field(default=None, max_length=512)
    partial_reasons: list[Annotated[str, Field(max_length=2000)]] | None = Field(
        default=None, max_length=100,
        description="With success: why the scan could not analyse the whole image (it is then partial).")


@router.put("/jobs/{job_id}", tags=["runners"])
def update_job(job_id: IdPath, body: JobUpdate, request: Request,
               job_token: Annotated[str | None, Header(alias="JOB-TOKEN")] = None,
               session: Session = Depends(get_session)) -> dict[str, Any]:
    """Heart-beat (`running`) or report the result. 409 tells the runner to stop (canceled or re-queued)."""
    job = _job_or_error(session, job_id, job_token)
    now = utcnow()
    try:
        if body.state == service.RUNNING:
            service.heartbeat(session, job, now=now, lease_seconds=request.app.state.settings.job_lease_seconds)
        else:
            service.finish_job(session, job, body.state, now=now, failure_reason=body.failure_reason,
                               partial_reasons=body.partial_reasons)
            session.commit()
            metrics = getattr(request.app.state, "metrics", None)
            if metrics is not None:
                metrics.observe_scan(job.status, job.started_at, job.finished_at)
            queue = getattr(request.app.state, "queue_signal", None)
            if queue is not None:
                queue.finished_from_thread()
    except service.JobError as exc:
        raise _conflict(exc) from None
    return {"id": job.id, "status": job.status, "lease_expires_at": _iso(job.lease_expires_at)}


@router.post("/jobs/{job_id}/release", tags=["runners"])
def release_job(job_id: IdPath, job_token: Annotated[str | None, Header(alias="JOB-TOKEN")] = None,
                session: Session = Depends(get_session)) -> dict[str, Any]:
    """A stopping runner gives its job back to the queue."""
    job = _job_or_error(session, job_id, job_token)
    service.release_job(session, job, now=utcnow())
    return {"id": job.id, "status": job.status}


@router.patch("/jobs/{job_id}/trace", status_code=202, tags=["runners"], response_model=dict[str, Any])
async def append_trace(job_id: IdPath, request: Request, offset: CountQuery,
                       job_token: Annotated[str | None, Header(alias="JOB-TOKEN")] = None,
                       ) -> dict[str, Any] | JSONResponse:
    """Append to the job log at byte `offset` (a repeated append is accepted; a gap is 416)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > 1024 * 1024:
            raise HTTPException(status_code=413, detail="append at most 1 MiB at a time")
    text = body.decode("utf-8", errors="replace")

    def append() -> int:
        with request.app.state.db.session() as session:
            job = _job_or_error(session, job_id, job_token)
            return service.append_log(session, job, offset, text)

    try:
        size = await run_in_threadpool(append)
    except service.LogOffsetError as exc:
        return JSONResponse({"detail": str(exc), "size": exc.size}, status_code=416)
    except service.JobError as exc:
        raise _conflict(exc) from None
    return {"size": size}


@router.post("/jobs/{job_id}/artifacts", status_code=201, tags=["runners"])
async def upload_artifact(job_id: IdPath, request: Request, name: str = Query(max_length=255),
                          job_token: Annotated[str | None, Header(alias="JOB-TOKEN")] = None) -> dict[str, Any]:
    """Upload the job's CycloneDX SBOM (streamed, content-addressed). Ingestion takes it once the job succeeds."""
    settings: Settings = request.app.state.settings
    db = request.app.state.db
    try:
        check_sbom_name(name)
    except ArtifactError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None

    def check_running() -> None:
        with db.session() as session:
            job = _job_or_error(session, job_id, job_token, lock=False)
            if job.status != service.RUNNING:
                raise _conflict(service.JobError(f"job {job_id} is {job.status}, not running"))

    await run_in_threadpool(check_running)
    try:
        sha, size = await artifact_store(settings).write(request.stream(), max_bytes=settings.artifact_max_bytes)
    except ArtifactError as exc:
        raise HTTPException(status_code=413 if "larger" in str(exc) else 400, detail=str(exc)) from None
    try:  # an SBOM ingestion would refuse fails the job now, with the reason, and is never recorded
        await run_in_threadpool(validate_sbom, artifact_store(settings).path(sha))
    except InvalidSbom as exc:
        raise HTTPException(status_code=422, detail=f"SBOM refused: {exc}") from None

    def record() -> dict[str, Any]:
        with db.session() as session:
            job = _job_or_error(session, job_id, job_token)
            if job.status != service.RUNNING:
                raise _conflict(service.JobError(f"job {job_id} is {job.status}, not running"))
            artifact = session.scalars(select(JobArtifact).where(JobArtifact.job_id == job.id,
                                                                 JobArtifact.name == name)).one_or_none()
            if artifact is not None and artifact.sha256 == sha:
                return {"name": name, "sha256": sha, "size": size}  # a retried upload, already stored
            if artifact is None:
                artifact = JobArtifact(job_id=job.id, name=name, file_type="cyclonedx", sha256=sha, size=size,
                                       created_at=utcnow())
                session.add(artifact)
            else:  # a retried upload replaces the previous file of this name
                artifact.sha256, artifact.size = sha, size
            session.flush()
            return {"name": name, "sha256": sha, "size": size}

    try:
        return await run_in_threadpool(record)
    except IntegrityError:  # two concurrent retries of the same upload: the other one stored it
        return {"name": name, "sha256": sha, "size": size}


# --- pipelines per project -------------------------------------------------------------------------------------

@router.get("/projects/{project:path}/pipelines/{pipeline_id}", tags=["pipelines"])
def get_pipeline(project: str, pipeline_id: IdPath, principal: Principal = Depends(current_principal),
                 session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.READ_PROJECT)
    pipeline = service.get_pipeline(session, pipeline_id)
    if pipeline is None or pipeline.project_id != found.id:
        raise HTTPException(status_code=404, detail=f"pipeline {pipeline_id} not found")
    jobs = service.jobs_of(session, [pipeline.id])
    artifacts = service.artifacts_of(session, [j.id for j in jobs[pipeline.id]])
    return pipeline_json(pipeline, jobs[pipeline.id], artifacts)


@router.get("/projects/{project:path}/pipelines", tags=["pipelines"])
def list_pipelines(project: str, limit: int = Query(default=50, ge=1, le=500), offset: CountQuery = 0,
                   principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    """Registry-triggered pipelines of a project (by numeric id or URL-encoded full path), newest first."""
    found = authorized_project(session, principal, project, Action.READ_PROJECT)
    pipelines = service.list_pipelines(session, found.id, limit=limit, offset=offset)
    jobs = service.jobs_of(session, [p.id for p in pipelines])
    artifacts = service.artifacts_of(session, [j.id for js in jobs.values() for j in js])
    return [pipeline_json(p, jobs[p.id], artifacts) for p in pipelines]


def _readable_job(request: Request, principal: Principal, project: str, job_id: int) -> Job:
    """Check access in a short session of its own: streamed responses must not hold a transaction open."""
    with request.app.state.db.session() as session:
        found = authorized_project(session, principal, project, Action.READ_PROJECT)
        job = _project_job(session, found, job_id)
        return job


@router.get("/projects/{project:path}/jobs/{job_id}/trace", tags=["pipelines"],
            responses={200: {"content": {"text/plain": {}}}})
def job_trace(project: str, job_id: IdPath, request: Request,
              principal: Principal = Depends(current_principal)) -> StreamingResponse:
    """The job log as plain text, streamed chunk by chunk."""
    _readable_job(request, principal, project, job_id)
    db = request.app.state.db

    def chunks() -> Iterator[bytes]:
        # Never hold a transaction across a yield: the client may read slowly (on SQLite a write transaction
        # here blocked every other writer, and async handlers with it, for as long as the client stalled).
        after = -1
        while True:
            with db.read_session() as s:
                page = service.read_log_page(s, job_id, after)
            if not page:
                return
            for offset, text in page:
                after = offset
                yield text.encode()

    return StreamingResponse(chunks(), media_type="text/plain; charset=utf-8")


@router.get("/projects/{project:path}/jobs/{job_id}/artifacts/{name}", tags=["pipelines"],
            responses={200: {"content": {"application/vnd.cyclonedx+json": {}}}})
def job_artifact(project: str, job_id: IdPath, name: str, request: Request,
                 principal: Principal = Depends(current_principal)) -> FileResponse:
    """Download a job artifact (the CycloneDX SBOM)."""
    job = _readable_job(request, principal, project, job_id)
    with request.app.state.db.session() as session:
        artifact = next((a for a in service.artifacts_of(session, [job.id])[job.id] if a.name == name), None)
    if artifact is None:
        raise HTTPException(status_code=404, detail=f"job {job_id} has no artifact {name!r}")
    settings: Settings = request.app.state.settings
    return FileResponse(artifact_store(settings).path(artifact.sha256), media_type="application/vnd.cyclonedx+json",
                        filename=artifact.name)


@router.get("/projects/{project:path}/jobs/{job_id}", tags=["pipelines"])
def get_job(project: str, job_id: IdPath, principal: Principal = Depends(current_principal),
            session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.READ_PROJECT)
    job = _project_job(session, found, job_id)
    return job_json(job, service.artifacts_of(session, [job.id])[job.id])


class ScanSettingsUpdate(BaseModel):
    fail_partial_scans: bool = Field(description="A partial scan fails its job (default: it succeeds, marked "
                                                 "partial)")


def _scan_settings_json(session: Session, project: Project) -> dict[str, Any]:
    return {"fail_partial_scans": service.scan_settings(session, project.id).fail_partial_scans,
            "partial_scans": service.count_partial_jobs(session, project.id)}


@router.get("/projects/{project:path}/scan_settings", tags=["pipelines"])
def get_scan_settings(project: str, principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    """The project's scan-job policy and how many of its scans were partial."""
    found = authorized_project(session, principal, project, Action.READ_PROJECT)
    return _scan_settings_json(session, found)


@router.put("/projects/{project:path}/scan_settings", tags=["pipelines"])
def put_scan_settings(project: str, body: ScanSettingsUpdate, request: Request,
                      principal: Principal = Depends(current_principal),
                      session: Session = Depends(get_session)) -> dict[str, Any]:
    """Maintainers decide whether a partial scan (part of the image unreadable or over a cap) fails the job."""
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    service.set_fail_partial_scans(session, found.id, body.fail_partial_scans)
    audit(request, session, "scan_settings_changed", found.path, fail_partial_scans=body.fail_partial_scans)
    return _scan_settings_json(session, found)


@router.post("/projects/{project:path}/jobs/{job_id}/cancel", tags=["pipelines"])
def cancel_job(project: str, job_id: IdPath, principal: Principal = Depends(current_principal),
               session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.UPDATE_PIPELINES)
    job = _project_job(session, found, job_id)
    try:
        service.cancel_job(session, job, now=utcnow(), by=principal.name)
    except service.JobError as exc:
        raise _conflict(exc) from None
    return job_json(job)


@router.post("/projects/{project:path}/jobs/{job_id}/retry", status_code=201, tags=["pipelines"])
def retry_job(project: str, job_id: IdPath, principal: Principal = Depends(current_principal),
              session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.UPDATE_PIPELINES)
    job = _project_job(session, found, job_id)
    try:
        new = service.retry_job(session, job, now=utcnow())
    except service.JobError as exc:
        raise _conflict(exc) from None
    return job_json(new)


def _project_pipeline(session: Session, principal: Principal, project: str, pipeline_id: int,
                      action: Action) -> Pipeline:
    found = authorized_project(session, principal, project, action)
    pipeline = service.get_pipeline(session, pipeline_id)
    if pipeline is None or pipeline.project_id != found.id:
        raise HTTPException(status_code=404, detail=f"pipeline {pipeline_id} not found")
    return pipeline


def _pipeline_json(session: Session, pipeline: Pipeline) -> dict[str, Any]:
    jobs = service.jobs_of(session, [pipeline.id])[pipeline.id]
    return pipeline_json(pipeline, jobs, service.artifacts_of(session, [j.id for j in jobs]))


@router.post("/projects/{project:path}/pipelines/{pipeline_id}/cancel", tags=["pipelines"])
def cancel_pipeline(project: str, pipeline_id: IdPath, principal: Principal = Depends(current_principal),
                    session: Session = Depends(get_session)) -> dict[str, Any]:
    """Cancel the pipeline's running or waiting job (GitLab's pipeline cancel); its runner stops at its next
    heartbeat. 409 when it already finished."""
    pipeline = _project_pipeline(session, principal, project, pipeline_id, Action.UPDATE_PIPELINES)
    try:
        service.cancel_pipeline(session, pipeline, now=utcnow(), by=principal.name)
    except service.JobError as exc:
        raise _conflict(exc) from None
    return _pipeline_json(session, pipeline)


@router.post("/projects/{project:path}/pipelines/{pipeline_id}/retry", status_code=201, tags=["pipelines"])
def retry_pipeline(project: str, pipeline_id: IdPath, principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)) -> dict[str, Any]:
    """Scan the same digest again as a new job of this pipeline (GitLab's pipeline retry). 409 while it runs."""
    pipeline = _project_pipeline(session, principal, project, pipeline_id, Action.UPDATE_PIPELINES)
    try:
        service.retry_pipeline(session, pipeline, now=utcnow())
    except service.JobError as exc:
        raise _conflict(exc) from None
    return _pipeline_json(session, pipeline)


# --- the local runner pool `serve` starts --------------------------------------------------------------------------

def _stop_long_polls_on_shutdown(app: FastAPI) -> None:
    """uvicorn waits for open requests before shutting down: end runners' long polls at the signal."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()

    def chained(previous: Any) -> Any:
        def handler(signum: int, frame: Any) -> None:
            app.state.shutting_down = True
            loop.call_soon_threadsafe(QueueSignal.of(app).wake)
            previous(signum, frame)
        return handler

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if callable(previous):
            signal.signal(sig, chained(previous))


async def start(app: FastAPI) -> None:
    """Start the local runner pool (`runner_pool_size`, default one per core); queue maintenance and SBOM
    ingestion are loops in `hullscan.workers`."""
    QueueSignal.of(app)
    _stop_long_polls_on_shutdown(app)
    pool = LocalRunnerPool(app.state.settings, app.state.db)
    app.state.runner_pool = pool
    await run_in_threadpool(pool.start)


async def stop(app: FastAPI) -> None:
    """Stop local runners (they finish or release their jobs) and give back what they still held."""
    pool: LocalRunnerPool | None = getattr(app.state, "runner_pool", None)
    if pool is not None:
        await run_in_threadpool(pool.stop)
