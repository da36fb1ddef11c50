"""The database being unavailable is an outage, not a bug: answer 503 with `Retry-After` (clients and
runners retry) instead of 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from hullscan.auth.http import GITLAB_API_PREFIX, gitlab_error

log = logging.getLogger("hullscan.web")
RETRY_AFTER_SECONDS = 5
MESSAGE = "the database is unavailable; retry shortly"


def is_outage(exc: BaseException) -> bool:
    """Connection refused or lost, pool exhausted, or SQLite's write lock not obtained in time."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def retry_after() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def outage_response(request: Request, exc: BaseException) -> Response:
    log.warning("database unavailable", extra={"fields": {
        "path": request.url.path, "error": f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"}})
    if request.url.path.startswith(GITLAB_API_PREFIX):
        return gitlab_error(503, MESSAGE, retry_after())
    if request.url.path.startswith("/v2"):
        body: dict = {"errors": [{"code": "UNAVAILABLE", "message": MESSAGE, "detail": None}]}
    else:
        body = {"error": "service_unavailable", "message": MESSAGE}
    return JSONResponse(body, status_code=503, headers=retry_after())


def install(app: FastAPI) -> None:
    async def handler(request: Request, exc: Exception) -> Response:
        if not is_outage(exc):
            raise exc
        return outage_response(request, exc)

    for cls in (sa_exc.DBAPIError, sa_exc.TimeoutError):
        app.add_exception_handler(cls, handler)
