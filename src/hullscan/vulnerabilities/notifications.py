"""Outbound notifications: per-project webhooks for new vulnerabilities at or above a severity and for failed
scans. Deliveries are written in the transaction that caused them (so none is lost or sent for a rolled-back
change) and sent by `deliver_due` with an HMAC-SHA256 signature, retries and exponential backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from hullscan.batches import chunks
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.db.models.vulnerabilities import ProjectWebhook, Vulnerability, WebhookDelivery
from hullscan.severities import RANK
from hullscan.settings import Settings
from hullscan.vulnerabilities.service import mirrors_of_single_platform_findings

log = logging.getLogger(__name__)
EVENTS = ("new_vulnerability", "scan_failed")
SIGNATURE_HEADER = "X-Hullscan-Signature-256"
EVENT_HEADER = "X-Hullscan-Event"
BACKOFF_BASE_SECONDS = 5


class WebhookDefinitionError(ValueError):
    """A webhook definition is invalid."""


def create_webhook(session: Session, project_id: int, url: str, *, events: list[str] | None = None,
                   min_severity: str = "high", secret: str | None = None) -> ProjectWebhook:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise WebhookDefinitionError("webhook URL must be an absolute http(s) URL")
    events = events or list(EVENTS)
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise WebhookDefinitionError(f"unknown event(s) {', '.join(unknown)}; expected {', '.join(EVENTS)}")
    if min_severity not in RANK:
        raise WebhookDefinitionError(f"unknown severity {min_severity!r}")
    hook = ProjectWebhook(project_id=project_id, url=url, events=events, min_severity=min_severity,
                          secret=secret or secrets.token_urlsafe(32))
    session.add(hook)
    session.flush()
    return hook


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _hooks(session: Session, project_ids: Iterable[int], event: str) -> dict[int, list[ProjectWebhook]]:
    out: dict[int, list[ProjectWebhook]] = defaultdict(list)
    ids = sorted(set(project_ids))
    if not ids:
        return out
    for hook in session.scalars(select(ProjectWebhook).where(ProjectWebhook.project_id.in_(ids),
                                                             ProjectWebhook.enabled.is_(True))):
        if event in hook.events:
            out[hook.project_id].append(hook)
    return out


def notify_new_vulnerabilities(session: Session, vulnerability_ids: Iterable[int], *, reason: str) -> int:
    """Queue one delivery per webhook with the new vulnerabilities at or above its severity; returns how many.
    A new finding that arrived already dismissed or resolved (a stored VEX statement, or the triage a tag's
    single-platform finding had) is no news and is left out, and so is one that only mirrors, for a platform of
    a tag now scanned per platform, a finding the tag already had (docs/architecture.md, multi-arch indexes)."""

    ids = sorted(set(vulnerability_ids))
    if not ids:
        return 0
    vulns: list[Vulnerability] = []
    for chunk in chunks(ids):
        vulns.extend(session.scalars(select(Vulnerability).where(Vulnerability.id.in_(chunk),
                                                                 Vulnerability.state.in_(("detected", "confirmed")))))
    mirrors = mirrors_of_single_platform_findings(session, [v.id for v in vulns])
    vulns = [v for v in vulns if v.id not in mirrors]
    hooks = _hooks(session, {v.project_id for v in vulns}, "new_vulnerability")
    queued = 0
    for project_id, project_hooks in hooks.items():
        mine = [v for v in vulns if v.project_id == project_id]
        for hook in project_hooks:
            floor = RANK[hook.min_severity]
            hits = [v for v in mine if RANK.get(v.severity, 0) >= floor]
            if not hits:
                continue
            payload = {"event": "new_vulnerability", "reason": reason, "project_id": project_id,
                       "vulnerabilities": [{"id": v.id, "uuid": v.uuid, "identifier": v.primary_identifier,
                                            "severity": v.severity, "title": v.title, "image": v.image,
                                            "package": v.package_name, "version": v.package_version,
                                            "fixed_versions": v.fixed_versions} for v in hits[:500]],
                       "count": len(hits)}
            session.add(WebhookDelivery(webhook_id=hook.id, event="new_vulnerability", payload=payload))
            queued += 1
    session.flush()
    return queued


def notify_scan_failed(session: Session, project_id: int, payload: dict[str, Any]) -> int:
    hooks = _hooks(session, [project_id], "scan_failed").get(project_id, [])
    for hook in hooks:
        session.add(WebhookDelivery(webhook_id=hook.id, event="scan_failed",
                                    payload={"event": "scan_failed", "project_id": project_id, **payload}))
    session.flush()
    return len(hooks)


DELIVERY_BATCH = 50


def claim_due(db: Database, node: str, *, lease_seconds: float, limit: int = DELIVERY_BATCH) -> list[WebhookDelivery]:
    """Claim up to `limit` due deliveries for `node` (FOR UPDATE SKIP LOCKED on PostgreSQL, SQLite's single
    writer otherwise): each gets claimed_by and a lease in next_attempt_at, so no other node sends it meanwhile."""
    now = utcnow()
    with db.session() as session:
        due = list(session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id).limit(limit).with_for_update(skip_locked=True)))
        for d in due:
            d.claimed_by = node
            d.next_attempt_at = now + timedelta(seconds=lease_seconds)
        session.flush()
        session.expunge_all()
    return due


def deliver_due(db: Database, settings: Settings, *, node: str = "local", limit: int = DELIVERY_BATCH,
                client: httpx.Client | None = None) -> int:
    """Claim and send due deliveries; each outcome (and the next attempt time) is recorded by the claiming node
    only. Returns how many were tried."""
    due = claim_due(db, node, lease_seconds=settings.webhook_delivery_lease_seconds, limit=limit)
    if not due:
        return 0
    with db.read_session() as session:
        hooks = {h.id: (h.url, h.secret) for h in session.scalars(
            select(ProjectWebhook).where(ProjectWebhook.id.in_({d.webhook_id for d in due})))}
    own = client is None
    client = client or httpx.Client(timeout=settings.notification_timeout, follow_redirects=False)
    try:
        for delivery in due:
            hook = hooks.get(delivery.webhook_id)
            if hook is None:  # the webhook was deleted meanwhile (its deliveries go with it)
                continue
            url, secret = hook
            body = json.dumps(delivery.payload, sort_keys=True).encode()
            code, error = None, None
            try:
                r = client.post(url, content=body, headers={
                    "Content-Type": "application/json", EVENT_HEADER: delivery.event,
                    SIGNATURE_HEADER: sign(secret, body), "X-Hullscan-Delivery": str(delivery.id)})
                code = r.status_code
                if not 200 <= code < 300:
                    error = f"HTTP {code}"
            except httpx.HTTPError as exc:
                error = f"{exc.__class__.__name__}: {exc}"[:500]
            _record(db, delivery.id, node, code, error, settings.notification_max_attempts)
    finally:
        if own:
            client.close()
    return len(due)


def _record(db: Database, delivery_id: int, node: str, code: int | None, error: str | None, max_attempts: int) -> None:
    """Record one attempt, unless the claim was lost (lease expired and another node took the delivery)."""
    with db.session() as session:
        d = session.get(WebhookDelivery, delivery_id, with_for_update={"key_share": True})
        if d is None or d.claimed_by != node or d.status != "pending":
            return
        d.attempts += 1
        d.claimed_by = None
        d.last_status_code, d.last_error = code, error
        if error is None:
            d.status, d.delivered_at = "delivered", utcnow()
        elif d.attempts >= max_attempts:
            d.status = "failed"
        else:
            d.next_attempt_at = utcnow() + timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** (d.attempts - 1))


def deliveries(session: Session, webhook_id: int, limit: int = 100) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
                                .order_by(WebhookDelivery.id.desc()).limit(limit)))


def webhooks_of(session: Session, project_id: int) -> list[ProjectWebhook]:
    return list(session.scalars(select(ProjectWebhook).where(ProjectWebhook.project_id == project_id)
                                .order_by(ProjectWebhook.id)))


def delete_webhook(session: Session, project_id: int, webhook_id: int) -> bool:
    hook = session.get(ProjectWebhook, webhook_id)
    if hook is None or hook.project_id != project_id:
        return False
    session.delete(hook)
    session.flush()
    return True
