"""Project settings (Maintainer+) and the instance admin pages: advisory sources, runners, feature switch."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from hullscan.advisories import service as advisories
from hullscan.auth import Action, Principal, authorize
from hullscan.auth.http import audit
from hullscan.auth.projects import ProjectError, update_project_settings
from hullscan.db.models import Project
from hullscan.pipelines import service as pipelines
from hullscan.vulnerabilities import notifications
from hullscan.vulnerabilities import service as vulnerabilities
from hullscan.http_deps import CountQuery, IdPath, IdQuery
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, project_url, render

log = logging.getLogger("hullscan.web.ui")
router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)
_sync_lock = threading.Lock()


@router.get("/projects/{project:path}/-/settings")
def settings_page(request: Request, project: str, saved: CountQuery | None = None,
                  principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    return settings_page_for(request, session, found, saved=bool(saved))


def settings_page_for(request: Request, session: Session, project: Project, *, status_code: int = 200,
                      **context: Any) -> Response:
    """The settings page of `project` (the caller has authorized), with what a form just made (shown once)."""
    from hullscan.auth import service as auth

    context = {"saved": False, "new_secret": None, "new_deploy_token": None, "errors": None, "form": None,
               "deploy_errors": None, "deploy_form": None, "webhook_errors": None, "webhook_form": None,
               "tracker_errors": None, "tracker_form": None,
               "issue_tracker": vulnerabilities.issue_tracker_template(session, project.id), **context}
    return render(request, "settings.html", status_code=status_code, project=project,
                  feature_on=request.app.state.settings.feature_container_scanning_for_registry,
                  webhooks=notifications.webhooks_of(session, project.id), events=notifications.EVENTS,
                  deploy_tokens=auth.list_deploy_tokens(session, project), now=datetime.now(UTC), **context)


@router.post("/projects/{project:path}/-/settings/webhooks")
def add_webhook(request: Request, project: str, url: str = Form(max_length=2048),
                events: list[str] = Form(default=[]), min_severity: str = Form(default="high", max_length=16),
                principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """Add a notification webhook; its signing secret is shown once, on the page this answers with."""
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    errors: dict[str, str] = {}
    if not events:
        errors["events"] = "Choose at least one event for the webhook."
    else:
        try:
            hook = notifications.create_webhook(session, found.id, url.strip(), events=events,
                                                min_severity=min_severity)
        except notifications.WebhookDefinitionError as exc:
            errors["url"] = f"The webhook was not added: {exc}."
    if errors:
        session.rollback()
        return settings_page_for(request, session, found, status_code=400, webhook_errors=errors,
                                 webhook_form={"url": url, "events": events, "min_severity": min_severity})
    audit(request, session, "webhook_created", found.path, webhook_id=hook.id, url=hook.url)
    return settings_page_for(request, session, found, new_secret=(hook.url, hook.secret))


@router.post("/projects/{project:path}/-/settings/webhooks/{webhook_id}/delete")
def remove_webhook(request: Request, project: str, webhook_id: IdPath, principal: Principal = Depends(ui_principal),
                   session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    if not notifications.delete_webhook(session, found.id, webhook_id):
        raise HTTPException(status_code=404, detail=f"There is no webhook {webhook_id} in this project.")
    audit(request, session, "webhook_deleted", found.path, webhook_id=webhook_id)
    return RedirectResponse(project_url(found.path, "settings") + "#webhooks", status_code=303)


@router.post("/projects/{project:path}/-/settings")
def save_settings(request: Request, project: str, cs4r_enabled: str | None = Form(default=None),
                  tag_patterns: str = Form(default="", max_length=20_000),
                  daily_limit: int = Form(default=50, ge=0, le=1_000_000),
                  auto_resolve: str | None = Form(default=None),
                  principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    """Toggle CS4R, set tag patterns (one per line), rate limit and auto-resolve; validated before writing."""
    found = project_for(session, principal, project, Action.ADMIN_PROJECT_SETTINGS)
    patterns = [p.strip() for line in tag_patterns.splitlines() for p in line.split(",") if p.strip()]
    error = None
    if not patterns:
        error = "Give at least one tag pattern, for example latest or v*."
    elif len(patterns) > 100:
        error = "Give at most 100 tag patterns."
    elif any(len(p) > 128 for p in patterns):
        error = "Each tag pattern can be at most 128 characters long."
    else:
        try:
            update_project_settings(session, found, cs4r_enabled=cs4r_enabled == "on", tag_patterns=patterns,
                                    daily_limit=daily_limit, auto_resolve=auto_resolve == "on")
        except ProjectError as exc:
            error = f"The settings were not saved: {exc}."
    if error:
        session.rollback()  # a service may have applied part of the form before it refused
        session.refresh(found)
        return settings_page_for(request, session, found, status_code=400, errors={"tag_patterns": error},
                                 form={"tag_patterns": tag_patterns})
    audit(request, session, "security_settings_changed", found.path, container_scanning_for_registry_enabled=
          cs4r_enabled == "on", cs4r_tag_patterns=patterns, cs4r_daily_limit=daily_limit,
          auto_resolve=auto_resolve == "on")
    return RedirectResponse(project_url(found.path, "settings", saved=1), status_code=303)


@router.get("/admin")
def admin_page(request: Request, principal: Principal = Depends(ui_principal)) -> Response:
    authorize(principal, Action.ADMIN_INSTANCE)
    return render(request, "admin.html", settings=request.app.state.settings)


@router.get("/admin/advisories")
def advisories_page(request: Request, started: int | None = Query(default=None),
                    principal: Principal = Depends(ui_principal),
                    session: Session = Depends(ui_session)) -> Response:
    authorize(principal, Action.ADMIN_INSTANCE)
    return render(request, "advisories.html", status=advisories.status(session), started=bool(started),
                  running=_sync_lock.locked(), configured=request.app.state.settings.advisories_sources)


@router.post("/admin/advisories/sync")
def advisories_sync(request: Request, principal: Principal = Depends(ui_principal)) -> Response:
    """Start one sync in the background (a second click while one runs does nothing)."""
    authorize(principal, Action.ADMIN_INSTANCE)
    db, settings = request.app.state.db, request.app.state.settings

    def run() -> None:
        try:
            advisories.sync(db, settings)
        except Exception:  # noqa: BLE001 - the per-source errors are recorded; log anything else
            log.exception("advisory sync from the admin page failed")
        finally:
            _sync_lock.release()

    if _sync_lock.acquire(blocking=False):
        threading.Thread(target=run, name="ui-advisory-sync", daemon=True).start()
    return RedirectResponse("/admin/advisories?started=1", status_code=303)


@router.get("/admin/users")
def users_page(request: Request, principal: Principal = Depends(ui_principal),
               session: Session = Depends(ui_session)) -> Response:
    authorize(principal, Action.ADMIN_INSTANCE)
    return _users_page(request, session)


def _users_page(request: Request, session: Session, *, status_code: int = 200, **context: Any) -> Response:
    from hullscan.auth import service as auth

    context = {"created": None, "errors": None, "form": None, **context}
    return render(request, "admin_users.html", status_code=status_code, users=auth.list_users(session), **context)


@router.post("/admin/users")
def create_user(request: Request, username: str = Form(max_length=64), password: str = Form(max_length=1024),
                is_admin: str | None = Form(default=None), principal: Principal = Depends(ui_principal),
                session: Session = Depends(ui_session)) -> Response:
    """A user with a password the administrator gives them (they change it on their User settings page)."""
    from hullscan.auth import service as auth

    authorize(principal, Action.ADMIN_INSTANCE)
    try:
        user = auth.create_user(session, username, password, is_admin=is_admin == "on")
    except (auth.AuthError, ValueError) as exc:
        session.rollback()
        text = str(exc)
        if isinstance(exc, auth.AuthError) and "already exists" in text:
            errors = {"username": "A user with this name already exists."}
        elif isinstance(exc, auth.AuthError) and "namespace" in text:
            errors = {"username": "This name is already used by a group or project."}
        elif isinstance(exc, auth.AuthError):
            errors = {"username": "Use lower-case letters, digits, '.', '_' or '-' (for example jane.doe); "
                                  "some names are reserved."}
        else:
            errors = {"password": f"Choose another password: {text}."}
        return _users_page(request, session, status_code=400, errors=errors,
                           form={"username": username, "is_admin": is_admin == "on"})
    audit(request, session, "user_created", user.username, is_admin=user.is_admin)
    return _users_page(request, session, status_code=201, created=user.username)


@router.post("/admin/users/{username}/{change}")
def block_user(request: Request, username: str, change: str, principal: Principal = Depends(ui_principal),
               session: Session = Depends(ui_session)) -> Response:
    from hullscan.auth import service as auth

    authorize(principal, Action.ADMIN_INSTANCE)
    user = auth.get_user(session, username[:64].lower())
    if change not in ("block", "unblock") or user is None:
        raise HTTPException(status_code=404, detail="There is no such user or action.")
    try:
        auth.set_user_blocked(session, user, change == "block", by=principal.name)
    except auth.AuthError as exc:
        raise HTTPException(status_code=400, detail=f"Not done: {exc}.") from None
    audit(request, session, f"user_{change}ed", user.username)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/admin/audit_events")
def audit_page(request: Request, action: str | None = Query(default=None, max_length=64),
               before_id: IdQuery | None = None, principal: Principal = Depends(ui_principal),
               session: Session = Depends(ui_session)) -> Response:
    """The audit log, newest first, 100 a page (GitLab's Admin → Monitoring → Audit events)."""
    from hullscan.auth import service as auth

    authorize(principal, Action.ADMIN_INSTANCE)
    events = auth.list_audit_events(session, limit=100, before_id=before_id, action=action or None)
    return render(request, "admin_audit.html", events=events, action=action or "",
                  older=events[-1].id if len(events) == 100 else None)


@router.get("/admin/runners")
def runners_page(request: Request, principal: Principal = Depends(ui_principal),
                 session: Session = Depends(ui_session)) -> Response:
    authorize(principal, Action.ADMIN_INSTANCE)
    return render(request, "runners.html", runners=pipelines.runner_rows(session, datetime.now(UTC)))
