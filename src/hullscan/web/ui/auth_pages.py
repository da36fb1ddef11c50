"""Sign-in and sign-out. A session cookie (HttpOnly, SameSite=Lax, Secure under https) holds a random id whose
digest is stored server-side, so signing out or blocking a user ends the session at once."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from hullscan.auth import Principal
from hullscan.auth import service as auth
from hullscan.auth.http import SESSION_COOKIE, client_ip
from hullscan.web.ui.deps import ui_principal
from hullscan.web.ui.render import HTMLErrorRoute, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)


def _safe_return_to(value: str | None) -> str:
    """Only a path on this site (no scheme, no host, no `//`): an open redirect would help phishing."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/projects"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/projects"


def _secure(request: Request) -> bool:
    public_url = request.app.state.settings.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https://")


@router.get("/users/sign_in")
def sign_in_page(request: Request, return_to: str | None = None,
                 principal: Principal = Depends(ui_principal)) -> Response:
    if not principal.is_anonymous:
        return RedirectResponse(_safe_return_to(return_to), status_code=303)
    return render(request, "sign_in.html", return_to=_safe_return_to(return_to), username="", error=None)


@router.post("/users/sign_in")
async def sign_in(request: Request, username: str = Form(max_length=255), password: str = Form(max_length=1024),
                  return_to: str | None = Form(default=None, max_length=2048)) -> Response:
    db, settings, ip = request.app.state.db, request.app.state.settings, client_ip(request)
    target = _safe_return_to(return_to)
    try:
        principal = await run_in_threadpool(auth.sign_in_with_password, db, settings, username, password, ip,
                                            channel="ui")
    except (auth.InvalidCredentials, auth.SignInThrottled) as exc:
        status = 429 if isinstance(exc, auth.SignInThrottled) else 401
        message = str(exc) if status == 429 else "Invalid username or password."
        return render(request, "sign_in.html", status_code=status, return_to=target, username=username[:64],
                      error=message)

    def start() -> str:
        with db.session() as session:
            user = auth.require_user(session, principal.name)
            secret = auth.start_session(session, settings, user, ip)
            auth.audit(session, principal, "sign_in", user.username, client_ip=ip, details={"channel": "ui"})
            return secret

    secret = await run_in_threadpool(start)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=settings.session_ttl_seconds, path="/", httponly=True,
                        samesite="lax", secure=_secure(request))
    return response


@router.post("/users/sign_out")
def sign_out(request: Request, principal: Principal = Depends(ui_principal)) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        with request.app.state.db.session() as session:
            auth.end_session(session, secret)
            if not principal.is_anonymous:
                auth.audit(session, principal, "sign_out", principal.name, client_ip=client_ip(request))
    response = RedirectResponse("/users/sign_in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return response
