"""Project pull policy page (Maintainer+): the pull gate's options, referrer-SBOM ingestion and the exceptions,
each with expiry, author and reason; the policy part's service does the validation."""

from __future__ import annotations

from datetime import UTC, datetime, time

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal
from hullscan.auth.http import audit
from hullscan.db.models import Project
from hullscan.policy import service
from hullscan.http_deps import CountQuery, IdPath
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, project_url, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)


def _page(request: Request, session: Session, project: Project, *, status_code: int = 200,
          errors: dict[str, str] | None = None, form: dict[str, str] | None = None, saved: bool = False) -> Response:
    now = datetime.now(UTC)
    return render(request, "policy.html", status_code=status_code, project=project,
                  policy=service.get_policy(session, project.id),
                  exceptions=[service.exception_json(e, now) for e in service.list_exceptions(session, project.id)],
                  blocked=service.blocked_pulls(session, project.path, limit=20), errors=errors, form=form or {},
                  saved=saved)


@router.get("/projects/{project:path}/-/settings/policy")
def policy_page(request: Request, project: str, saved: CountQuery | None = None,
                principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    return _page(request, session, found, saved=bool(saved))


@router.post("/projects/{project:path}/-/settings/policy")
def save_policy(request: Request, project: str, gate_enabled: str | None = Form(default=None),
                min_severity: str = Form(default="critical", max_length=16),
                fixable_only: str | None = Form(default=None), kev_only: str | None = Form(default=None),
                grace_days: int = Form(default=0, ge=0, le=service.MAX_GRACE_DAYS),
                fail_closed: str | None = Form(default=None), ingest_referrer_sboms: str | None = Form(default=None),
                principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    policy = service.PolicySettings(gate_enabled=gate_enabled == "on", min_severity=min_severity,
                                    fixable_only=fixable_only == "on", kev_only=kev_only == "on",
                                    grace_days=grace_days, fail_closed=fail_closed == "on",
                                    ingest_referrer_sboms=ingest_referrer_sboms == "on")
    try:
        service.set_policy(session, found.id, policy, author=principal.name)
    except service.PolicyError as exc:
        session.rollback()
        return _page(request, session, found, status_code=400, errors={"policy": f"Not saved: {exc}."})
    audit(request, session, "policy_changed", found.path, **policy.as_dict())
    return RedirectResponse(project_url(found.path, "settings", "policy", saved=1), status_code=303)


def _expiry(value: str) -> datetime | None:
    """A date input (the exception lasts through that day, UTC) or a full ISO time."""
    try:
        if len(value) == 10:
            return datetime.combine(datetime.fromisoformat(value).date(), time(23, 59, 59), UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.post("/projects/{project:path}/-/settings/policy/exceptions")
def add_exception(request: Request, project: str, identifier: str = Form(max_length=128),
                  reason: str = Form(max_length=2000), expires_at: str = Form(max_length=32),
                  repository: str = Form(default="", max_length=255),
                  image_digest: str = Form(default="", max_length=160),
                  principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    form = {"identifier": identifier, "reason": reason, "expires_at": expires_at, "repository": repository,
            "image_digest": image_digest}
    expires = _expiry(expires_at.strip())
    if expires is None:
        return _page(request, session, found, status_code=400, form=form,
                     errors={"exception": "Give the expiry as a date (YYYY-MM-DD)."})
    try:
        row = service.add_exception(session, found.id, found.path, service.ExceptionSpec(
            identifier=identifier, reason=reason, expires_at=expires, repository=repository.strip() or None,
            image_digest=image_digest.strip() or None), author=principal.name)
    except service.PolicyError as exc:
        session.rollback()
        return _page(request, session, found, status_code=400, form=form,
                     errors={"exception": f"The exception was not added: {exc}."})
    audit(request, session, "pull_exception_created", found.path, exception_id=row.id, identifier=row.identifier,
          repository=row.repository, image_digest=row.image_digest, expires_at=row.expires_at.isoformat())
    return RedirectResponse(project_url(found.path, "settings", "policy") + "#exceptions", status_code=303)


@router.post("/projects/{project:path}/-/settings/policy/exceptions/{exception_id}/delete")
def delete_exception(request: Request, project: str, exception_id: IdPath,
                     principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    row = service.delete_exception(session, found.id, exception_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"There is no exception {exception_id} in this project.")
    audit(request, session, "pull_exception_deleted", found.path, exception_id=exception_id, identifier=row.identifier)
    return RedirectResponse(project_url(found.path, "settings", "policy") + "#exceptions", status_code=303)
