"""Events API: dropped pushes and the project's CS4R settings. The event processor and the reconciler of
external registries are background loops in `hullscan.workers`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, current_principal
from hullscan.auth.http import audit
from hullscan.auth.projects import ProjectError, update_project_settings
from hullscan.db.models import Project
from hullscan.events import service
from hullscan.http_deps import CountQuery, authorized_project, get_session

log = logging.getLogger("hullscan.events")
router = APIRouter()


def settings_json(project: Project) -> dict[str, Any]:
    return {"project_id": project.id, "path": project.path,
            "container_scanning_for_registry_enabled": project.container_scanning_for_registry_enabled,
            "cs4r_tag_patterns": list(project.cs4r_tag_patterns), "cs4r_daily_limit": project.cs4r_daily_limit}


@router.get("/projects/{project:path}/registry/dropped_pushes", tags=["events"])
def dropped_pushes(project: str, limit: int = Query(default=50, ge=1, le=500), offset: CountQuery = 0,
                   principal: Principal = Depends(current_principal),
                   session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    """Pushes that did not become a scan, newest first, with the reason."""
    found = authorized_project(session, principal, project, Action.READ_PROJECT)
    return [{"id": d.id, "registry_event_id": d.registry_event_id, "action": d.action, "repository": d.repository,
             "tag": d.tag, "digest": d.digest, "reason": d.reason, "detail": d.detail,
             "created_at": d.created_at.isoformat()}
            for d in service.list_dropped_pushes(session, found.id, limit=limit, offset=offset)]


@router.get("/projects/{project:path}/security_settings", tags=["events"])
def get_security_settings(project: str, principal: Principal = Depends(current_principal),
                          session: Session = Depends(get_session)) -> dict[str, Any]:
    found = authorized_project(session, principal, project, Action.READ_PROJECT)
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
    found = authorized_project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        update_project_settings(session, found, cs4r_enabled=body.container_scanning_for_registry_enabled,
                                tag_patterns=body.cs4r_tag_patterns, daily_limit=body.cs4r_daily_limit)
    except ProjectError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    audit(request, session, "security_settings_changed", found.path, **body.model_dump(exclude_none=True))
    return settings_json(found)
