"""Events API (dropped pushes, the project's CS4R settings) and the background work `serve` runs: the event
processor (policy over new ContainerRegistryEvents) and the reconciler of external registries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth.http import audit
from hullscan.auth.projects import ProjectError, update_project_settings
from hullscan.db.models import Project
from hullscan.events import service
from hullscan.events.reconcile import reconcile_all
from hullscan.pipelines.signal import QueueSignal
from hullscan.settings import Settings
from hullscan.web.deps import CountQuery, get_session, project_or_404

log = logging.getLogger("hullscan.events")
router = APIRouter()
BATCH = 500


def settings_json(project: Project) -> dict[str, Any]:
    return {"project_id": project.id, "path": project.path,
            "container_scanning_for_registry_enabled": project.container_scanning_for_registry_enabled,
            "cs4r_tag_patterns": list(project.cs4r_tag_patterns), "cs4r_daily_limit": project.cs4r_daily_limit}


@router.get("/projects/{project:path}/registry/dropped_pushes", tags=["events"])
def dropped_pushes(project: str, limit: int = Query(default=50, ge=1, le=500), offset: CountQuery = 0,
                   principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    """Pushes that did not become a scan, newest first, with the reason."""
    found = project_or_404(session, project)
    authorize(principal, Action.READ_PROJECT, found.path)
    return [{"id": d.id, "registry_event_id": d.registry_event_id, "action": d.action, "repository": d.repository,
             "tag": d.tag, "digest": d.digest, "reason": d.reason, "detail": d.detail,
             "created_at": d.created_at.isoformat()}
            for d in service.list_dropped_pushes(session, found.id, limit=limit, offset=offset)]


@router.get("/projects/{project:path}/security_settings", tags=["events"])
def get_security_settings(project: str, principal: Principal = Depends(current_principal),
                          session: Session = Depends(get_session)) -> dict[str, Any]:
    found = project_or_404(session, project)
    authorize(principal, Action.READ_PROJECT, found.path)
    return settings_json(found)


class SecuritySettingsUpdate(BaseModel):
    container_scanning_for_registry_enabled: bool | None = None
    cs4r_tag_patterns: list[str] | None = Field(default=None, max_length=100)
    cs4r_daily_limit: int | None = Field(default=None, ge=0, le=1_000_000)


@router.put("/projects/{project:path}/security_settings", tags=["events"])
def put_security_settings(project: str, body: SecuritySettingsUpdate, request: Request,
                          principal: Principal = Depends(current_principal),
                          session: Session = Depends(get_session)) -> dict[str, Any]:
    """Change the CS4R settings (Maintainers and up)."""
    found = project_or_404(session, project)
    authorize(principal, Action.ADMIN_PROJECT_SETTINGS, found.path)
    try:
        update_project_settings(session, found, cs4r_enabled=body.container_scanning_for_registry_enabled,
                                tag_patterns=body.cs4r_tag_patterns, daily_limit=body.cs4r_daily_limit)
    except ProjectError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    audit(request, session, "security_settings_changed", found.path, **body.model_dump(exclude_none=True))
    return settings_json(found)


# --- background work ---------------------------------------------------------------------------------------

async def _process_events(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    queue = QueueSignal.of(app)

    def batch() -> service.BatchResult:
        with app.state.db.session() as session:
            return service.process_pending_events(session, settings, limit=BATCH)

    while True:
        try:
            result = await run_in_threadpool(batch)
            if result.jobs:
                queue.wake()
            if result.processed == BATCH:
                continue
        except Exception:  # noqa: BLE001 - a failed batch rolls back and is retried
            log.exception("registry event processing failed")
        await asyncio.sleep(settings.event_poll_seconds)


async def _reconcile(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    while True:
        try:
            outcome = await run_in_threadpool(reconcile_all, app.state.db, settings)
            if outcome:
                log.info("reconciled external registries", extra={"fields": {"outcome": outcome}})
        except Exception:  # noqa: BLE001
            log.exception("reconciliation failed")
        await asyncio.sleep(settings.reconcile_interval_seconds)


async def start(app: FastAPI) -> None:
    """Start the event processor and, when external registries are configured, the reconciler."""
    tasks = [asyncio.create_task(_process_events(app))]
    if app.state.settings.external_registries:
        tasks.append(asyncio.create_task(_reconcile(app)))
    app.state.events_tasks = tasks


async def stop(app: FastAPI) -> None:
    for task in getattr(app.state, "events_tasks", []):
        task.cancel()
    for task in getattr(app.state, "events_tasks", []):
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
