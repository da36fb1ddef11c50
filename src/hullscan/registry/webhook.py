"""Inbound CNCF Distribution notifications (`POST /api/v1/registry/events`) and the stored-event listing.

Point an external registry's `notifications` endpoint here with the shared secret as its Authorization
header. Events are stored once each (by event id), so a registry's redelivery is harmless.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, authorize, current_principal
from hullscan.auth.http import api_error
from hullscan.auth.principal import REGISTRY_WEBHOOK
from hullscan.auth.projects import find_project_for_repository, get_project
from hullscan.registry import service
from hullscan.registry.notifications import (
    ENVELOPE_MEDIA_TYPE,
    NotificationBodyError,
    parse_envelope,
)
from hullscan.http_deps import DateTimeQuery, IdQuery, get_session

router = APIRouter(tags=["registry"])
log = logging.getLogger("hullscan.registry.webhook")

MAX_BODY_BYTES = 4 << 20
ACCEPTED_TYPES = (ENVELOPE_MEDIA_TYPE, "application/json")


def _project_path(session: Session, repository: str | None, project_id: int | None) -> str | None:
    """The project a filtered listing is about (None: instance-wide, or a project that does not exist)."""
    if repository:
        found = find_project_for_repository(session, repository)
        by_id = get_project(session, project_id) if project_id else found
        return found.path if found is not None and by_id is not None and by_id.id == found.id else None
    if project_id:
        found = get_project(session, project_id)
        return found.path if found is not None else None
    return None


def _secret_matches(header: str | None, secret: str) -> bool:
    """Constant-time check of the Authorization header (the bare secret, or `Bearer <secret>`)."""
    if header is None:
        return False
    given = header.encode()
    expected = secret.encode()
    bare = hmac.compare_digest(given, expected)
    bearer = hmac.compare_digest(given, b"Bearer " + expected)
    return bare or bearer


def _problem(status: int, message: str) -> JSONResponse:
    return api_error(status, message)


@router.post("/registry/events", summary="Receive CNCF Distribution notifications")
async def receive_events(request: Request) -> JSONResponse:
    """Store the push and delete events of a Distribution notification envelope; pulls are ignored."""
    settings = request.app.state.settings
    secret = settings.registry_webhook_secret
    if not secret:
        return _problem(401, "registry webhook is disabled: set registry_webhook_secret "
                             "(HULLSCAN_REGISTRY_WEBHOOK_SECRET)")
    if not _secret_matches(request.headers.get("authorization"), secret):
        client = request.client.host if request.client else None
        log.warning("webhook refused: bad secret", extra={"fields": {"client": client}})
        return _problem(401, "invalid or missing Authorization secret")
    authorize(REGISTRY_WEBHOOK, Action.RECEIVE_REGISTRY_EVENTS)  # the secret is the registry's credential
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        return _problem(415, f"Content-Type must be {ENVELOPE_MEDIA_TYPE}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return _problem(413, f"envelope exceeds {MAX_BODY_BYTES} bytes")
    try:
        events = parse_envelope(bytes(body))
    except NotificationBodyError as exc:
        log.info("webhook body refused", extra={"fields": {"problem": str(exc)}})
        return _problem(400, str(exc))
    def store() -> service.WebhookResult:
        with request.app.state.db.session() as session:
            return service.record_webhook_events(session, events)

    try:
        result = await anyio.to_thread.run_sync(store)
    except ValueError as exc:
        return _problem(400, str(exc))
    log.info("registry notification received", extra={"fields": {
        "received": result.received, "stored": result.stored, "duplicates": result.duplicates,
        "ignored": result.ignored}})
    return JSONResponse({"received": result.received, "stored": result.stored, "duplicates": result.duplicates,
                         "ignored": result.ignored})


def _event_json(e: Any) -> dict[str, Any]:
    return {
        "id": e.id, "event_id": e.event_id, "action": e.action, "repository": e.repository, "tag": e.tag,
        "digest": e.digest, "media_type": e.media_type, "size": e.size, "actor": e.actor,
        "registry_host": e.registry_host, "origin": e.origin, "project_id": e.project_id,
        "timestamp": e.timestamp.isoformat(), "received_at": e.received_at.isoformat(),
        "processed_at": e.processed_at.isoformat() if e.processed_at else None, "envelope": e.envelope,
    }


@router.get("/registry/events", summary="List stored registry events")
def list_events(
    repository: str | None = Query(None, max_length=512),
    action: str | None = Query(None, pattern="^(push|delete)$"),
    origin: str | None = Query(None, pattern="^(embedded|webhook)$"),
    tag: str | None = Query(None, max_length=128),
    digest: str | None = Query(None, max_length=160),
    project_id: IdQuery | None = None,
    since: DateTimeQuery | None = None,
    before_id: IdQuery | None = None,  # a page: events older than this id
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(current_principal),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """Newest first; `next_before_id` pages on. Members see their project's events (filter by `repository` or
    `project_id`); the unfiltered instance-wide list is for admins."""
    authorize(principal, Action.READ_PROJECT, _project_path(session, repository, project_id))
    rows = service.list_events(session, service.EventFilter(
        repository=repository, action=action, origin=origin, tag=tag, digest=digest, project_id=project_id,
        since=since, before_id=before_id, limit=limit))
    return {"events": [_event_json(e) for e in rows],
            "next_before_id": rows[-1].id if len(rows) == limit else None}
