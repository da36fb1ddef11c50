"""The signed-in user's own settings: personal access tokens (created, shown once, revoked) and password, as
GitLab's User settings pages. Everything goes through `auth.service`, audited as the API does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize
from hullscan.auth import service as auth
from hullscan.auth.credentials import PasswordPolicyError
from hullscan.auth.http import SESSION_COOKIE, audit, client_ip
from hullscan.auth.principal import Kind, Scope
from hullscan.db.models.auth import User
from hullscan.http_deps import IdPath
from hullscan.web.ui.deps import ui_principal, ui_session
from hullscan.web.ui.members_pages import create_from_token_form
from hullscan.web.ui.render import HTMLErrorRoute, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)
PAGE = "/user_settings"


def _user(session: Session, principal: Principal) -> User:
    authorize(principal, Action.MANAGE_OWN_TOKENS)
    user = auth.user_by_id(session, principal.user_id) if principal.kind is Kind.USER and principal.user_id else None
    if user is None:
        raise HTTPException(status_code=403, detail="Only users have user settings.")
    return user


def _page(request: Request, session: Session, user: User, *, status_code: int = 200, **context: Any) -> Response:
    now = datetime.now(UTC)
    tokens = [{"id": t.id, "name": t.name, "scopes": t.scopes, "created_at": t.created_at, "expires_at": t.expires_at,
               "last_used_at": t.last_used_at, "revoked_at": t.revoked_at,
               "expired": t.expires_at is not None and t.expires_at <= now}
              for t in auth.list_personal_access_tokens(session, user)]
    context = {"flash": None, "error": None, "new_token": None, "errors": None, "form": None, **context}
    return render(request, "user_settings.html", status_code=status_code, tokens=tokens,
                  scopes=[s.value for s in Scope], **context)


@router.get(PAGE)
def user_settings(request: Request, changed: int | None = None, principal: Principal = Depends(ui_principal),
                  session: Session = Depends(ui_session)) -> Response:
    return _page(request, session, _user(session, principal),
                 flash="Password changed; your other sign-ins have ended." if changed else None)


@router.post(f"{PAGE}/personal_access_tokens")
def create_token(request: Request, name: str = Form(max_length=255), scopes: list[str] = Form(default=[]),
                 expires_at: str = Form(default="", max_length=32), principal: Principal = Depends(ui_principal),
                 session: Session = Depends(ui_session)) -> Response:
    """The token is on the page this answers with, and nowhere else: hullscan keeps its digest."""
    user = _user(session, principal)
    created, errors = create_from_token_form(
        scopes, expires_at, lambda chosen, when: auth.create_personal_access_token(session, user, name, chosen, when),
        "The token was not created")
    if created is None:
        session.rollback()
        return _page(request, session, user, status_code=400, errors=errors,
                     form={"name": name, "expires_at": expires_at, "scopes": scopes[:8]})
    row, token = created
    audit(request, session, "personal_access_token_created", f"pat:{row.id}", name=row.name, scopes=row.scopes)
    return _page(request, session, user, status_code=201, new_token=(row.name, token))


@router.post(f"{PAGE}/personal_access_tokens/{{token_id}}/revoke")
def revoke_token(request: Request, token_id: IdPath, principal: Principal = Depends(ui_principal),
                 session: Session = Depends(ui_session)) -> Response:
    user = _user(session, principal)
    try:
        auth.revoke_personal_access_token(session, user, token_id)
    except auth.AuthError:
        raise HTTPException(status_code=404, detail=f"You have no personal access token {token_id}.") from None
    audit(request, session, "personal_access_token_revoked", f"pat:{token_id}")
    return RedirectResponse(f"{PAGE}#personal-access-tokens", status_code=303)


@router.post(f"{PAGE}/password")
async def change_password(request: Request, current_password: str = Form(max_length=1024),
                          new_password: str = Form(max_length=1024),
                          principal: Principal = Depends(ui_principal)) -> Response:
    """Checked as a sign-in is (failures counted and throttled); this sign-in stays, every other one ends."""
    authorize(principal, Action.MANAGE_OWN_TOKENS)
    if principal.kind is not Kind.USER:
        raise HTTPException(status_code=403, detail="Only users have a password.")
    db, settings = request.app.state.db, request.app.state.settings
    try:
        await run_in_threadpool(auth.change_password, db, settings, principal.name, current_password, new_password,
                                client_ip(request), keep_session=request.cookies.get(SESSION_COOKIE))
    except (PasswordPolicyError, auth.InvalidCredentials) as exc:
        message = "The current password is wrong." if isinstance(exc, auth.InvalidCredentials) else \
            f"The new password was refused: {exc}."

        def page() -> Response:
            with db.session() as session:
                return _page(request, session, _user(session, principal), status_code=400, error=message)

        return await run_in_threadpool(page)
    return RedirectResponse(f"{PAGE}?changed=1#password", status_code=303)
