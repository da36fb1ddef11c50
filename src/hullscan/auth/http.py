"""Resolving the caller of an HTTP request, and answering those who are not allowed in.

Credentials by place, as in GitLab:
- `/v2/` (the registry): only `Authorization: Bearer <registry token>` from `/jwt/auth`.
- `/api/` and `/jwt/auth`: `PRIVATE-TOKEN: <token>`, `Authorization: Bearer <token>`, or Basic with a password
  or a token as the password (personal access, deploy and job tokens).
- UI pages: the sign-in session cookie. The API honours it for GET and HEAD only (the job page reads the live
  log that way): its unsafe methods carry no CSRF check, so a cookie must never authorise them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from hullscan.auth import service
from hullscan.auth.credentials import TOKEN_PREFIXES
from hullscan.auth.principal import ANONYMOUS, Forbidden, Principal
from hullscan.auth.registry_tokens import InvalidRegistryToken, RegistryTokenIssuer, challenge

SESSION_COOKIE = "hullscan_session"
REGISTRY_PREFIXES = ("/v2/",)
API_PREFIXES = ("/api/", "/jwt/")


class Unauthenticated(Exception):
    """Credentials were sent but authenticate nobody (or nothing was sent where something is required)."""

    def __init__(self, message: str, *, registry_error: str | None = None) -> None:
        super().__init__(message)
        self.registry_error = registry_error


def is_registry_path(path: str) -> bool:
    return path == "/v2" or path.startswith(REGISTRY_PREFIXES)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def token_issuer(app: FastAPI) -> RegistryTokenIssuer:
    issuer = getattr(app.state, "registry_token_issuer", None)
    if issuer is None:
        issuer = app.state.registry_token_issuer = RegistryTokenIssuer(app.state.settings)
    return issuer


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep or len(username) > 255 or len(password) > 1024:
        raise Unauthenticated("malformed Basic credentials")
    return username, password


def _registry_principal(request: Request, header: str) -> Principal:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return ANONYMOUS  # Basic and others are answered with the token challenge
    issuer = token_issuer(request.app)
    try:
        principal = issuer.principal(issuer.verify(value.strip()))
    except InvalidRegistryToken as exc:
        raise Unauthenticated(f"invalid registry token: {exc}", registry_error="invalid_token") from None
    with request.app.state.db.read_session() as session:
        if not service.credential_is_live(session, principal.credential):
            raise Unauthenticated("the credential this token was issued for was revoked or has expired",
                                  registry_error="invalid_token")
    return principal


def _token_principal(request: Request, token: str, username: str | None = None) -> Principal:
    with request.app.state.db.read_session() as session:
        principal = service.authenticate_token(session, token, username=username)
    if principal is None:
        raise Unauthenticated("invalid, expired or revoked token")
    return principal


def _authenticate(request: Request) -> Principal:
    path = request.url.path
    header = request.headers.get("authorization") or ""
    if is_registry_path(path):
        return _registry_principal(request, header)
    private_token = request.headers.get("private-token")
    if private_token:
        return _token_principal(request, private_token.strip())
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return _token_principal(request, value.strip())
    if scheme.lower() == "basic":
        username, password = _basic(value)
        if password.startswith(TOKEN_PREFIXES) or username == "gitlab-ci-token":
            return _token_principal(request, password, None if username == "gitlab-ci-token" else username)
        settings = request.app.state.settings
        try:
            return service.sign_in_with_password(request.app.state.db, settings, username, password,
                                                 client_ip(request), channel="basic")
        except service.InvalidCredentials as exc:
            raise Unauthenticated(str(exc)) from None
    if header:
        raise Unauthenticated("unsupported Authorization scheme")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and (not is_api_path(path) or request.method in ("GET", "HEAD") and path.startswith("/api/")):
        with request.app.state.db.read_session() as session:
            return service.authenticate_session(session, cookie) or ANONYMOUS
    return ANONYMOUS


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller of any API, UI or registry route (anonymous when nothing was sent).

    Synchronous on purpose: FastAPI runs it on a worker thread, where database and argon2 work belong."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = _authenticate(request)
    request.state.principal = principal
    return principal


def registry_realm(request: Request) -> str:
    settings = request.app.state.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/jwt/auth"


def registry_challenge(request: Request, scope: str | None = None, error: str | None = None) -> dict[str, str]:
    return {"WWW-Authenticate": challenge(registry_realm(request), request.app.state.settings.registry_token_service,
                                          scope, error)}


def _registry_401(request: Request, message: str, error: str | None) -> Response:
    body = {"errors": [{"code": "UNAUTHORIZED", "message": message, "detail": None}]}
    headers = {**registry_challenge(request, error=error), "Docker-Distribution-API-Version": "registry/2.0"}
    if request.method == "HEAD":
        return Response(status_code=401, headers=headers)
    return JSONResponse(body, status_code=401, headers=headers)


def sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/users/sign_in?return_to={quote(target, safe='')}", status_code=303)


def unauthenticated_response(request: Request, message: str, registry_error: str | None = None) -> Response:
    path = request.url.path
    if is_registry_path(path):
        return _registry_401(request, message, registry_error)
    if is_api_path(path):
        return JSONResponse({"error": "unauthorized", "message": message}, status_code=401,
                            headers={"WWW-Authenticate": 'Basic realm="hullscan"'})
    return sign_in_redirect(request)


def install_error_handlers(app: FastAPI) -> None:
    """401 for missing or bad credentials, 403 for a caller without the right, 429 for throttled sign-ins."""

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        return unauthenticated_response(request, str(exc), exc.registry_error)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if exc.principal.is_anonymous:
            return unauthenticated_response(request, "authentication required")
        return JSONResponse({"error": "forbidden", "message": str(exc)}, status_code=403)

    @app.exception_handler(service.SignInThrottled)
    async def _throttled(request: Request, exc: service.SignInThrottled) -> Response:
        body: dict[str, Any] = {"error": "too_many_requests", "message": str(exc)}
        if is_registry_path(request.url.path):
            body = {"errors": [{"code": "TOOMANYREQUESTS", "message": str(exc), "detail": None}]}
        return JSONResponse(body, status_code=429, headers={"Retry-After": "60"})


def audit(request: Request, session: Any, action: str, target: str | None = None, **details: Any) -> None:
    """Record a security-relevant action of the request's caller in the audit log (never pass secrets)."""
    principal = getattr(request.state, "principal", None) or ANONYMOUS
    service.audit(session, principal, action, target, client_ip=client_ip(request), details=details)
