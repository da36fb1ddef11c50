"""Pipelines page (source "Container registry push", status, duration), a job page with its live log, and
dropped pushes with their reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal
from hullscan.events import service as events
from hullscan.events import types as reasons
from hullscan.pipelines import service as pipelines
from hullscan.web.deps import IdPath
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)

SOURCE_LABELS = {"container_registry_push": "Container registry push"}
DROP_REASON_LABELS = {
    reasons.NOT_A_PUSH: "Not an image push", reasons.UNTAGGED: "Untagged (digest-only) push",
    reasons.PROJECT_UNKNOWN: "No project owns the repository", reasons.FEATURE_OFF: "Feature switched off",
    reasons.SETTING_OFF: "Container scanning for registry is off",
    reasons.TAG_NOT_MATCHED: "Tag does not match the scan patterns",
    reasons.RATE_LIMITED: "Daily scan limit reached", reasons.DUPLICATE: "Already scanned or superseded",
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
