"""CNCF Distribution notification events: built for the embedded registry, parsed from a webhook body.

The embedded registry writes the same event shape Distribution would POST, so stored events look alike
whichever registry reported them.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENVELOPE_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
INSTANCE_ID = str(uuid.uuid4())
STORED_ACTIONS = ("push", "delete")
MAX_EVENTS = 1000


class NotificationBodyError(ValueError):
    """A webhook body that cannot be accepted; the message names the problem."""


def format_timestamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


_TS = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})")
EARLIEST = datetime(1970, 1, 2, tzinfo=timezone.utc)  # events before the epoch are garbage, not history


def parse_timestamp(value: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Go's format), which datetime alone does not read."""
    m = _TS.fullmatch(value.strip())
    if not m:
        raise ValueError(f"timestamp {value[:64]!r} is not RFC 3339")
    base, frac, zone = m.groups()
    text = base + "." + (frac or "0")[:6].ljust(6, "0") + ("+00:00" if zone == "Z" else zone)
    try:
        parsed = datetime.fromisoformat(text).astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        parsed = None
    if parsed is None or parsed < EARLIEST:
        raise ValueError(f"timestamp {value[:64]!r} is out of range (1970 to 9999)")
    return parsed


def build_event(*, action: str, repository: str, digest: str, media_type: str | None, size: int | None,
                tag: str | None, actor: str | None, registry_host: str | None, client_addr: str | None,
                method: str, user_agent: str | None, url: str | None, timestamp: datetime) -> dict[str, Any]:
    """One notification event as CNCF Distribution shapes it."""
    target: dict[str, Any] = {"repository": repository, "digest": digest}
    if media_type:
        target["mediaType"] = media_type
    if size is not None:
        target["size"] = size
        target["length"] = size
    if url:
        target["url"] = url
    if tag:
        target["tag"] = tag
    return {
        "id": str(uuid.uuid4()),
        "timestamp": format_timestamp(timestamp),
        "action": action,
        "target": target,
        "request": {"id": str(uuid.uuid4()), "addr": client_addr or "", "host": registry_host or "",
                    "method": method, "useragent": user_agent or ""},
        "actor": {"name": actor} if actor else {},
        "source": {"addr": f"{socket.gethostname()}", "instanceID": INSTANCE_ID},
    }


class _Target(BaseModel):
    model_config = ConfigDict(extra="allow")
    mediaType: str | None = Field(default=None, max_length=255)
    size: int | None = Field(default=None, ge=0, le=2**63 - 1)  # stored as a 64-bit integer
    length: int | None = Field(default=None, ge=0, le=2**63 - 1)
    digest: str | None = Field(default=None, max_length=160)
    repository: str = Field(min_length=1, max_length=512)
    url: str | None = Field(default=None, max_length=2048)
    tag: str | None = Field(default=None, max_length=128)


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    addr: str | None = Field(default=None, max_length=255)
    host: str | None = Field(default=None, max_length=255)
    method: str | None = None
    useragent: str | None = None


class _Actor(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = Field(default=None, max_length=255)


class _Source(BaseModel):
    model_config = ConfigDict(extra="allow")
    addr: str | None = Field(default=None, max_length=255)
    instanceID: str | None = Field(default=None, max_length=255)


class WebhookEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=128)
    timestamp: str = Field(max_length=64)
    action: str = Field(min_length=1, max_length=16)
    target: _Target
    request: _Request = Field(default_factory=_Request)
    actor: _Actor = Field(default_factory=_Actor)
    source: _Source = Field(default_factory=_Source)


class _Envelope(BaseModel):
    events: list[dict[str, Any]] = Field(max_length=MAX_EVENTS)


def parse_envelope(body: bytes) -> list[tuple[WebhookEvent, dict[str, Any]]]:
    """Validate a notification envelope; returns each event parsed and as received."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise NotificationBodyError(f"body is not valid JSON: {str(exc)[:200]}") from None
    try:
        envelope = _Envelope.model_validate(doc)
    except ValidationError as exc:
        raise NotificationBodyError(f"not a notification envelope: {_first_error(exc, '')}") from None
    out = []
    for i, raw in enumerate(envelope.events):
        try:
            event = WebhookEvent.model_validate(raw)
            parse_timestamp(event.timestamp)
        except ValidationError as exc:
            raise NotificationBodyError(f"events[{i}]: {_first_error(exc, '')}") from None
        except ValueError as exc:
            raise NotificationBodyError(f"events[{i}].timestamp: {exc}") from None
        out.append((event, raw))
    return out


def _first_error(exc: ValidationError, prefix: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{prefix}{loc}: {err['msg']}" if loc else err["msg"]
