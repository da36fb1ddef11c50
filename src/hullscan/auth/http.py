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
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hullscan.auth import service
from hullscan.auth.credentials import TOKEN_PREFIXES
from hullscan.auth.principal import ANONYMOUS, Forbidden, Principal, can_see
from hullscan.auth.registry_tokens import InvalidRegistryToken, RegistryTokenIssuer, challenge

SESSION_COOKIE = "hullscan_session"
REGISTRY_PREFIXES = ("/v2/",)
API_PREFIXES = ("/api/", "/jwt/")
log = logging.getLogger("hullscan.auth")


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
        return request_error(request, 401, message, {"WWW-Authenticate": 'Basic realm="hullscan"'})
    return sign_in_redirect(request)


API_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
              416: "range_not_satisfiable", 422: "invalid_request", 429: "too_many_requests"}
REGISTRY_ERRORS = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NAME_UNKNOWN", 429: "TOOMANYREQUESTS"}


def api_error(status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    """The one error body of /api/ and /jwt/: `{"error": <code>, "message": <text>}` (plus `details`)."""
    body = {"error": API_ERRORS.get(status, "error"), "message": message, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


GITLAB_API_PREFIX = "/api/v4/"


def gitlab_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """GitLab's error bodies on /api/v4, the ones its clients read (python-gitlab takes `message`, else `error`,
    as the exception's `error_message`): a refused parameter is `{"error": <text>}`, as GitLab's parameter
    validation answers; anything else `{"message": "<status> <text>"}`, as in GitLab's `404 Project Not Found`."""
    body = {"error": message} if status in (400, 422) else {"message": f"{status} {message}"}
    return JSONResponse(body, status_code=status, headers=headers)


def request_error(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None,
                  **extra: Any) -> JSONResponse:
    """The error body of the API the request addressed: GitLab's on /api/v4, else hullscan's (`api_error`)."""
    if request.url.path.startswith(GITLAB_API_PREFIX):
        return gitlab_error(status, message, headers)
    return api_error(status, message, headers, **extra)


def registry_error(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """An OCI error body (`{"errors": [{code, message, detail}]}`) for any status on /v2/."""
    code = REGISTRY_ERRORS.get(status, "UNSUPPORTED")
    headers = {**(headers or {}), "Docker-Distribution-API-Version": "registry/2.0"}
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return JSONResponse({"errors": [{"code": code, "message": message, "detail": None}]}, status_code=status,
                        headers=headers)


def hidden_project_message(request: Request) -> str:
    """What a missing resource of this route answers, so that a hidden one answers the very same."""
    params = request.path_params
    if "project" in params:
        project = str(params["project"])
        return f"There is no project {project!r}." if not is_api_path(request.url.path) else \
            f"project {project!r} not found"
    if "vulnerability_id" in params:
        raw = str(params["vulnerability_id"])
        return f"vulnerability {int(raw) if raw.isascii() and raw.isdigit() else raw} not found"
    return "not found"


def is_hidden(request: Request, exc: Forbidden) -> bool:
    """GitLab answers 404, not 403 (nor 401 to anonymous callers), for a project the caller may not even
    see, so that nobody learns which private projects exist."""
    from hullscan.auth.projects import get_project

    addressed = request.path_params.keys() & {"project", "vulnerability_id"}
    if not addressed or exc.resource is None or can_see(exc.principal, exc.resource):
        return False  # e.g. creating a project where one may not: nothing is probed, 401/403 as before
    with request.app.state.db.read_session() as session:
        project = get_project(session, exc.resource)
        return project is None or project.visibility != "public"


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"location": [str(x) for x in err.get("loc", ())], "message": str(err.get("msg", "invalid"))}
            for err in exc.errors()[:20]]


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app answers at this request's path."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            match, _ = route.matches({**request.scope, "method": method})
            if match is Match.FULL:
                methods.add(method)
    return sorted(methods)


def _literal_route_methods(request: Request) -> list[str]:
    """Methods of the documented operation whose path (without parameters) is exactly this request's."""
    operations = request.app.openapi().get("paths", {}).get(request.url.path, {})
    return sorted(m.upper() for m in operations)


def install_error_handlers(app: FastAPI) -> None:
    """401 for missing or bad credentials, 403 for a caller without the right, 404 for what the caller may
    not see, 429 for throttled sign-ins; one error body on the API, OCI error bodies on the registry."""

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        return unauthenticated_response(request, str(exc), exc.registry_error)

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> Response:
        if is_api_path(request.url.path) and is_hidden(request, exc):
            return request_error(request, 404, hidden_project_message(request))
        if exc.principal.is_anonymous:
            return unauthenticated_response(request, "authentication required")
        return request_error(request, 403, str(exc))

    @app.exception_handler(service.SignInThrottled)
    async def _throttled(request: Request, exc: service.SignInThrottled) -> Response:
        if is_registry_path(request.url.path):
            return registry_error(request, 429, str(exc), {"Retry-After": "60"})
        return request_error(request, 429, str(exc), {"Retry-After": "60"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if is_registry_path(path):
            return registry_error(request, exc.status_code, message, exc.headers)
        if is_api_path(path):
            headers = exc.headers
            if exc.status_code == 405:  # every method of the path, not just those of the first route matched
                allowed = _literal_route_methods(request) or allowed_methods(request)
                headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            return request_error(request, exc.status_code, message, headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        literal = _literal_route_methods(request)
        if literal and any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
            # `PUT /jobs/request` matched `PUT /jobs/{job_id}`: the path names another operation, so the method
            # is what is wrong
            return request_error(request, 405, "Method Not Allowed", {"Allow": ", ".join(literal)})
        if is_api_path(request.url.path):
            details = _validation_details(exc)
            summary = "; ".join(f"{'.'.join(d['location'][1:]) or 'request'}: {d['message']}" for d in details[:5])
            # A bad query string (an unknown filter value, a page out of range) is a 400, as GitLab answers it;
            # a body that does not match its schema stays 422. Both in the one error body.
            in_query = all(d["location"][:1] == ["query"] for d in details)
            return request_error(request, 400 if in_query else 422, f"invalid request: {summary}", details=details)
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    def _out_of_range(request: Request, exc: Exception) -> Response:
        """The last line behind validation at the edge: a value the database cannot hold is the caller's
        error (400), never a 500."""
        log.warning("value out of the database's range on %s %s: %s", request.method, request.url.path,
                    exc.__class__.__name__)
        if is_registry_path(request.url.path):
            return registry_error(request, 400, "a value is out of range")
        if is_api_path(request.url.path):
            return request_error(request, 400, "a number or value is out of range")
        return PlainTextResponse("Bad request: a number or value is out of range", status_code=400)


def audit(request: Request, session: Any, action: str, target: str | None = None, **details: Any) -> None:
    """Record a security-relevant action of the request's caller in the audit log (never pass secrets)."""
    principal = getattr(request.state, "principal", None) or ANONYMOUS
    service.audit(session, principal, action, target, client_ip=client_ip(request), details=details)
