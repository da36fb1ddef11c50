"""REST API of project policies: the pull gate (`/projects/{p}/policy`), its exceptions and the blocked-pull log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, current_principal
from hullscan.auth.http import audit
from hullscan.policy import service
from hullscan.policy.service import registry_gate
from hullscan.severities import Rated
from hullscan.http_deps import IdPath, authorized_project, get_session

__all__ = ["registry_gate", "router"]

router = APIRouter(tags=["policy"])



class PolicyIn(BaseModel):
    gate_enabled: bool = Field(description="Block pulls (manifest GET and HEAD) of images that break the policy")
    min_severity: Rated = Field(default="critical", description="Block at this severity or above")
    fixable_only: bool = Field(default=False, description="Only vulnerabilities with a fixed version block")
    kev_only: bool = Field(default=False, description="Only known exploited vulnerabilities (CISA KEV) block")
    grace_days: int = Field(default=0, ge=0, le=service.MAX_GRACE_DAYS,
                            description="Advisories published fewer days ago do not block yet")
    fail_closed: bool = Field(default=False, description="Block images that have not been scanned")
    ingest_referrer_sboms: bool = Field(default=False, description="Ingest CycloneDX SBOMs pushed as referrers "
                                        "of an image instead of scanning it")


class ExceptionIn(BaseModel):
    identifier: str = Field(min_length=1, max_length=128, description="A vulnerability identifier, e.g. CVE-2024-0727")
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: datetime = Field(description="When the exception stops applying (at most a year ahead)")
    repository: str | None = Field(default=None, max_length=255, description="Only this repository of the project")
    image_digest: str | None = Field(default=None, max_length=160, description="Only this image (manifest digest)")


def _project(session: Session, principal: Principal, project: str, action: Action) -> Any:
    found = authorized_project(session, principal, project, action)
    return found


@router.get("/projects/{project:path}/policy")
def get_policy(project: str, principal: Principal = Depends(current_principal),
               session: Session = Depends(get_session)) -> dict[str, Any]:
    """The project's pull gate and referrer-SBOM settings (defaults when never set: gate off)."""
    found = _project(session, principal, project, Action.READ_PROJECT)
    return service.get_policy(session, found.id).as_dict()


@router.put("/projects/{project:path}/policy")
def put_policy(project: str, body: PolicyIn, request: Request, principal: Principal = Depends(current_principal),
               session: Session = Depends(get_session)) -> dict[str, Any]:
    """Maintainers set the whole policy at once."""
    found = _project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        saved = service.set_policy(session, found.id, service.PolicySettings(**body.model_dump()),
                                   author=principal.name)
    except service.PolicyError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    audit(request, session, "policy_changed", found.path, **saved.as_dict())
    return saved.as_dict()


@router.get("/projects/{project:path}/policy/exceptions")
def list_exceptions(project: str, principal: Principal = Depends(current_principal),
                    session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    found = _project(session, principal, project, Action.READ_PROJECT)
    return [service.exception_json(e) for e in service.list_exceptions(session, found.id)]


@router.post("/projects/{project:path}/policy/exceptions", status_code=201)
def add_exception(project: str, body: ExceptionIn, request: Request,
                  principal: Principal = Depends(current_principal),
                  session: Session = Depends(get_session)) -> dict[str, Any]:
    """Let one identifier through the gate until it expires; author and reason are kept."""
    found = _project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        row = service.add_exception(session, found.id, found.path, service.ExceptionSpec(**body.model_dump()),
                                    author=principal.name)
    except service.PolicyError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    audit(request, session, "pull_exception_created", found.path, exception_id=row.id, identifier=row.identifier,
          repository=row.repository, image_digest=row.image_digest, expires_at=row.expires_at.isoformat())
    return service.exception_json(row)


@router.delete("/projects/{project:path}/policy/exceptions/{exception_id}", status_code=204)
def delete_exception(project: str, exception_id: IdPath, request: Request,
                     principal: Principal = Depends(current_principal),
                     session: Session = Depends(get_session)) -> None:
    found = _project(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    row = service.delete_exception(session, found.id, exception_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"exception {exception_id} not found")
    audit(request, session, "pull_exception_deleted", found.path, exception_id=exception_id,
          identifier=row.identifier)


@router.get("/projects/{project:path}/policy/blocked_pulls")
def blocked_pulls(project: str, repository: str | None = Query(default=None, max_length=255),
                  limit: int = Query(default=50, ge=1, le=500), principal: Principal = Depends(current_principal),
                  session: Session = Depends(get_session)) -> list[dict[str, Any]]:
    """Pulls the gate refused, newest first (from the audit log), for the project or one repository."""
    found = _project(session, principal, project, Action.READ_PROJECT)
    if repository is not None and not repository.startswith(found.path + "/"):
        raise HTTPException(status_code=404, detail=f"repository {repository!r} not found in {found.path}")
    return [service.blocked_pull_json(b) for b in service.blocked_pulls(session, found.path, limit=limit,
                                                                         repository=repository)]
