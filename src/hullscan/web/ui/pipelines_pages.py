"""Pipelines page (source "Container registry push", status, duration), a job page with its live log, and
dropped pushes with their reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal
from hullscan.auth.http import audit
from hullscan.db.base import utcnow
from hullscan.db.models import Project
from hullscan.db.models.pipelines import Pipeline
from hullscan.events import service as events
from hullscan.events import types as reasons
from hullscan.pipelines import service as pipelines
from hullscan.http_deps import IdPath
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, project_url, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)

SOURCE_LABELS = {"container_registry_push": "Container registry push"}
DROP_REASON_LABELS = {
    reasons.NOT_A_PUSH: "Not an image push", reasons.UNTAGGED: "Untagged (digest-only) push",
    reasons.PROJECT_UNKNOWN: "No project owns the repository", reasons.FEATURE_OFF: "Feature switched off",
    reasons.SETTING_OFF: "Container scanning for registry is off",
    reasons.TAG_NOT_MATCHED: "Tag does not match the scan patterns",
    reasons.RATE_LIMITED: "Daily scan limit reached", reasons.DUPLICATE: "Already scanned or superseded",
    reasons.NOT_AN_IMAGE: "Not an image (an artifact)",
}


DROP_EXPLANATIONS = {
    reasons.NOT_A_PUSH: "Only pushed images are scanned; this event was something else.",
    reasons.UNTAGGED: "The image was pushed by digest without a tag (a multi-platform push sends one per "
                      "platform); the tagged push is what gets scanned.",
    reasons.PROJECT_UNKNOWN: "No project owns this repository.",
    reasons.FEATURE_OFF: "An administrator has switched container scanning for registry off for this instance.",
    reasons.SETTING_OFF: "Container scanning for registry is off in this project's settings.",
    reasons.TAG_NOT_MATCHED: "The tag does not match any of the project's tag patterns.",
    reasons.RATE_LIMITED: "The project's daily scan limit was reached.",
    reasons.DUPLICATE: "The same image was already being scanned, or a newer push replaced this one.",
    reasons.NOT_AN_IMAGE: "The registry stored this artifact (an SBOM, Helm chart, signature or other non-image "
                          "content), but there is no container image in it to scan.",
}
SETTINGS_REASONS = frozenset({reasons.TAG_NOT_MATCHED, reasons.SETTING_OFF, reasons.RATE_LIMITED})  # fixed there
_PIPELINE_IN_DETAIL = re.compile(r"pipeline (\d{1,18})\b")
_LIMIT_IN_DETAIL = re.compile(r"^(\d{1,9}) scans per 24 h")


@dataclass(frozen=True)
class DropExplanation:
    text: str
    pipeline_id: int | None = None


def explain_drop(reason: str, detail: str | None) -> DropExplanation:
    """A dropped push's reason in plain words: the stored detail names settings and carries raw timestamps
    (it is for logs); only the pipeline it points to and a rate limit's number are taken from it."""
    text = DROP_EXPLANATIONS.get(reason, "The push was not scanned.")
    found = _PIPELINE_IN_DETAIL.search(detail or "")
    limit = _LIMIT_IN_DETAIL.match(detail or "") if reason == reasons.RATE_LIMITED else None
    if limit:
        text = f"The project's limit of {int(limit.group(1))} scans a day was reached."
    return DropExplanation(text, int(found.group(1)) if found and reason == reasons.DUPLICATE else None)


@router.get("/projects/{project:path}/-/pipelines")
def pipelines_page(request: Request, project: str, principal: Principal = Depends(ui_principal),
                   session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_PROJECT)
    rows = pipelines.list_pipelines(session, found.id, limit=50)
    jobs = pipelines.jobs_of(session, [p.id for p in rows])
    drops = events.list_dropped_pushes(session, found.id, limit=50)
    return render(request, "pipelines.html", project=found, pipelines=rows, jobs=jobs, drops=drops,
                  source_labels=SOURCE_LABELS, reason_labels=DROP_REASON_LABELS, explain_drop=explain_drop,
                  settings_reasons=SETTINGS_REASONS)


@router.get("/projects/{project:path}/-/jobs/{job_id}")
def job_page(request: Request, project: str, job_id: IdPath, principal: Principal = Depends(ui_principal),
             session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_PROJECT)
    job = pipelines.get_job(session, job_id)
    if job is None or job.project_id != found.id:
        raise HTTPException(status_code=404, detail=f"There is no job {job_id} in this project.")
    artifacts = pipelines.artifacts_of(session, [job.id])[job.id]
    return render(request, "job.html", project=found, job=job, artifacts=artifacts,
                  finished=job.status in pipelines.FINISHED)


def _pipeline(session: Session, project_id: int, pipeline_id: int) -> Pipeline:
    pipeline = pipelines.get_pipeline(session, pipeline_id)
    if pipeline is None or pipeline.project_id != project_id:
        raise HTTPException(status_code=404, detail=f"There is no pipeline {pipeline_id} in this project.")
    return pipeline


@router.get("/projects/{project:path}/-/pipelines/{pipeline_id}")
def pipeline_page(request: Request, project: str, pipeline_id: IdPath, principal: Principal = Depends(ui_principal),
                  session: Session = Depends(ui_session)) -> Response:
    """One pipeline: its jobs (a retry adds one), the current job's live log, artifacts, Retry and Cancel."""
    found = project_for(session, principal, project, Action.READ_PROJECT)
    return _pipeline_page(request, session, found, _pipeline(session, found.id, pipeline_id))


def _pipeline_page(request: Request, session: Session, found: Project, pipeline: Pipeline, *, status_code: int = 200,
                   error: str | None = None) -> Response:
    jobs = pipelines.jobs_of(session, [pipeline.id])[pipeline.id]
    current = jobs[-1] if jobs else None
    return render(request, "pipeline.html", status_code=status_code, project=found, pipeline=pipeline, jobs=jobs,
                  current=current, artifacts=pipelines.artifacts_of(session, [j.id for j in jobs]),
                  source_labels=SOURCE_LABELS, finished=pipelines.FINISHED, error=error)


@router.post("/projects/{project:path}/-/pipelines/{pipeline_id}/{action}")
def pipeline_action(request: Request, project: str, pipeline_id: IdPath, action: str,
                    principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """Retry (a new job scans the same digest) or Cancel (the runner stops at its next heartbeat)."""
    if action not in ("retry", "cancel"):
        raise HTTPException(status_code=404, detail="There is no such pipeline action.")
    found = project_for(session, principal, project, Action.UPDATE_PIPELINES)
    pipeline = _pipeline(session, found.id, pipeline_id)
    try:
        if action == "retry":
            pipelines.retry_pipeline(session, pipeline, now=utcnow())
        else:
            pipelines.cancel_pipeline(session, pipeline, now=utcnow(), by=principal.name)
    except pipelines.JobError:
        session.rollback()
        message = ("This pipeline is still running or was already retried; it can be retried once it has finished."
                   if action == "retry" else "This pipeline has already finished; there is nothing to cancel.")
        return _pipeline_page(request, session, found, _pipeline(session, found.id, pipeline_id), status_code=409,
                              error=message)
    audit(request, session, f"pipeline_{'retried' if action == 'retry' else 'canceled'}", found.path,
          pipeline_id=pipeline.id)
    return RedirectResponse(project_url(found.path, "pipelines", str(pipeline.id)), status_code=303)
