"""Pipelines page (source "Container registry push", status, duration), a job page with its live log, and
dropped pushes with their reasons."""

from __future__ import annotations

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


@router.get("/projects/{project:path}/-/pipelines")
def pipelines_page(request: Request, project: str, principal: Principal = Depends(ui_principal),
                   session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_PROJECT)
    rows = pipelines.list_pipelines(session, found.id, limit=50)
    jobs = pipelines.jobs_of(session, [p.id for p in rows])
    drops = events.list_dropped_pushes(session, found.id, limit=50)
    return render(request, "pipelines.html", project=found, pipelines=rows, jobs=jobs, drops=drops,
                  source_labels=SOURCE_LABELS, reason_labels=DROP_REASON_LABELS)


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
