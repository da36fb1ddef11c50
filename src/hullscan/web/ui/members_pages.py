"""Project members (GitLab's Manage → Members) and deploy tokens (on the settings page): the UI over
`auth.service`, audited as the API does. Owners manage members; Maintainers manage deploy tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import TypeVar

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, Role, is_allowed
from hullscan.auth import service as auth
from hullscan.auth.http import audit
from hullscan.db.models import Project
from hullscan.http_deps import IdPath
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, project_url, render
from hullscan.web.ui.settings_pages import settings_page_for

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)
ROLES = [role.name.lower() for role in sorted(Role)]


def expiry(value: str) -> datetime | None:
    """A form's `YYYY-MM-DD` expiry date as the start of that day, UTC (empty: never)."""
    return datetime.combine(date.fromisoformat(value), time(), UTC) if value else None


def token_form_errors(scopes: list[str], expires_at: str) -> dict[str, str]:
    """The token form's mistakes in plain words, checked before the service is asked (which words them for the
    API)."""
    errors: dict[str, str] = {}
    if not scopes:
        errors["scopes"] = "Choose at least one scope."
    try:
        when = expiry(expires_at)
    except ValueError:
        errors["expires_at"] = "Give the expiry date as a date, for example 2030-12-31."
    else:
        if when is not None and when <= datetime.now(UTC):
            errors["expires_at"] = "Choose an expiry date in the future, or leave it empty for no expiry."
    return errors


T = TypeVar("T")


def create_from_token_form(scopes: list[str], expires_at: str, create: Callable[[list[str], datetime | None], T],
                           refusal: str) -> tuple[T | None, dict[str, str]]:
    """A token form's answer: what `create(scopes, expiry)` made, or the form's mistakes in plain words (the
    service's refusal under `scopes`, after `refusal`). The personal and the deploy token forms share it."""
    errors = token_form_errors(scopes, expires_at)
    if errors:
        return None, errors
    try:
        return create(scopes[:8], expiry(expires_at)), {}
    except (ValueError, auth.AuthError) as exc:
        return None, {"scopes": f"{refusal}: {exc}."}


@router.get("/projects/{project:path}/-/project_members")
def members_page(request: Request, project: str, principal: Principal = Depends(ui_principal),
                 session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_MEMBERS)
    return _members(request, session, principal, found)


def _members(request: Request, session: Session, principal: Principal, project: Project, *, status_code: int = 200,
             **context: object) -> Response:
    return render(request, "members.html", status_code=status_code, project=project,
                  members=auth.list_members(session, project), roles=ROLES,
                  can_manage=is_allowed(principal, Action.MANAGE_MEMBERS, project.path), **context)


@router.post("/projects/{project:path}/-/project_members")
def add_member(request: Request, project: str, username: str = Form(max_length=64), role: str = Form(max_length=16),
               principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.MANAGE_MEMBERS)
    errors: dict[str, str] = {}
    try:
        parsed = Role.parse(role)
    except ValueError:
        errors["role"] = "Choose one of the roles in the list."
    name = username.strip().lower()
    if not name or auth.get_user(session, name) is None:
        errors["username"] = (f"There is no user named {username.strip()!r}. Check the spelling, or ask an "
                              "administrator to create the account first.")
    if not errors:
        try:
            auth.add_member(session, name, found.path, parsed)
        except (ValueError, auth.AuthError) as exc:
            errors["username"] = f"{username.strip()!r} could not be added: {exc}."
    if errors:
        session.rollback()
        return _members(request, session, principal, found, status_code=400, errors=errors,
                        form={"username": username, "role": role})
    audit(request, session, "member_added", found.path, username=username.strip().lower(), role=parsed.name.lower())
    return RedirectResponse(project_url(found.path, "project_members"), status_code=303)


@router.post("/projects/{project:path}/-/project_members/{username}/delete")
def remove_member(request: Request, project: str, username: str, principal: Principal = Depends(ui_principal),
                  session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.MANAGE_MEMBERS)
    try:
        removed = auth.remove_member(session, username, found.path)
    except auth.AuthError:
        removed = False
    if not removed:
        raise HTTPException(status_code=404, detail=f"{username!r} is not a direct member of {found.path}.")
    audit(request, session, "member_removed", found.path, username=username)
    return RedirectResponse(project_url(found.path, "project_members"), status_code=303)


@router.post("/projects/{project:path}/-/settings/deploy_tokens")
def create_deploy_token(request: Request, project: str, name: str = Form(max_length=255),
                        scopes: list[str] = Form(default=[]), expires_at: str = Form(default="", max_length=32),
                        principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """The token is on the page this answers with, and nowhere else: hullscan keeps its digest."""
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    created, errors = create_from_token_form(
        scopes, expires_at, lambda chosen, when: auth.create_deploy_token(session, found, name, chosen, when),
        "The deploy token was not created")
    if created is None:
        session.rollback()
        return settings_page_for(request, session, found, status_code=400, deploy_errors=errors,
                                 deploy_form={"name": name, "expires_at": expires_at, "scopes": scopes[:8]})
    row, token = created
    audit(request, session, "deploy_token_created", f"{found.path} deploy:{row.id}", name=row.name, scopes=row.scopes)
    return settings_page_for(request, session, found, status_code=201, new_deploy_token=(row.username, token))


@router.post("/projects/{project:path}/-/settings/deploy_tokens/{token_id}/revoke")
def revoke_deploy_token(request: Request, project: str, token_id: IdPath, principal: Principal = Depends(ui_principal),
                        session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    try:
        auth.revoke_deploy_token(session, found, token_id)
    except auth.AuthError:
        raise HTTPException(status_code=404, detail=f"There is no deploy token {token_id} in this project.") from None
    audit(request, session, "deploy_token_revoked", f"{found.path} deploy:{token_id}")
    return RedirectResponse(project_url(found.path, "settings") + "#deploy-tokens", status_code=303)
