"""Catch-up for external registries. Distribution keeps its notification queue in memory, so a registry
restart (or hullscan being down) loses pushes. On start and on a schedule hullscan lists each configured
registry's catalog and tags and records every qualifying tag whose current digest was never scanned as a push
(origin `reconcile`); the ordinary policy then handles it. Listing goes through the one OCI client
(`registry.client`: Basic or token auth, whatever the registry's challenge asks)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hullscan.auth.projects import candidate_paths
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.db.models import ContainerRegistryEvent, Project
from hullscan.events.service import tag_matches
from hullscan.pipelines import service as pipelines
from hullscan.pipelines.registries import ExternalRegistry
from hullscan.registry.client import RegistryClient, RegistryClientError
from hullscan.settings import Settings

log = logging.getLogger("hullscan.events.reconcile")
PAGE = 1000
# Distribution's repository name grammar; names from a registry are untrusted and end up in URLs.
REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class ReconcileError(RuntimeError):
    """The registry could not be listed."""


@dataclass(frozen=True)
class TagState:
    repository: str
    tag: str
    digest: str
    media_type: str | None


def registry_client(registry: ExternalRegistry, *, timeout: float = 30.0) -> RegistryClient:
    """The one OCI client (Basic or Bearer-token auth as the registry's challenge asks) for `registry`;
    only the configured credentials are used, never the server's own docker config."""
    parts = urlsplit(registry.url)
    return RegistryClient(parts.netloc, insecure=parts.scheme == "http", username=registry.username,
                          password=registry.password, timeout=timeout, docker_config=Path(os.devnull))


def list_tags(client: RegistryClient, repositories: list[str], patterns: dict[str, list[str]]) -> list[TagState]:
    found = []
    for repo in repositories:
        for tag in client.tags(repo):
            if not TAG.match(tag) or not tag_matches(tag, patterns[repo]):
                continue
            head = client.head_manifest(repo, tag)
            if head is None:
                log.warning("cannot resolve tag", extra={"fields": {"repository": repo, "tag": tag}})
                continue
            found.append(TagState(repo, tag, head[0], head[1]))
    return found


def reconcile_registry(db: Database, registry: ExternalRegistry, *, timeout: float = 30.0) -> int:
    """Record a push event for each qualifying, never-scanned tag of `registry`; returns how many."""
    with registry_client(registry, timeout=timeout) as client:
        repositories = [r for r in client.catalog(PAGE) if len(r) <= 255 and REPOSITORY.match(r)]
        with db.session() as session:
            paths = {p for r in repositories for p in candidate_paths(r)}
            rows = session.scalars(select(Project).where(Project.path.in_(paths))).all() if paths else []
            by_path = {p.path: p for p in rows}
        patterns: dict[str, list[str]] = {}
        for repo in repositories:
            project = next((by_path[p] for p in candidate_paths(repo) if p in by_path), None)
            if project is not None and project.container_scanning_for_registry_enabled:
                patterns[repo] = list(project.cs4r_tag_patterns)
        tags = list_tags(client, list(patterns), patterns)
    if not tags:
        return 0
    with db.session() as session:
        scanned = pipelines.scanned_digests(session, ((t.repository, t.digest) for t in tags))
        candidates = {_event_id(registry, t): t for t in tags if (t.repository, t.digest) not in scanned}
        if not candidates:
            return 0
        known = set(session.scalars(select(ContainerRegistryEvent.event_id)
                                    .where(ContainerRegistryEvent.event_id.in_(candidates))))
        now = utcnow()
        new = [ContainerRegistryEvent(
            event_id=event_id, action="push", repository=t.repository, tag=t.tag, digest=t.digest,
            media_type=t.media_type, registry_host=registry.host, origin="reconcile", actor=None,
            timestamp=now, received_at=now,
            envelope={"id": event_id, "action": "push", "target": {"repository": t.repository, "tag": t.tag,
                                                                   "digest": t.digest, "mediaType": t.media_type},
                      "request": {"host": registry.host}, "source": {"reconciled": True}})
            for event_id, t in candidates.items() if event_id not in known]
        try:
            with session.begin_nested():
                session.add_all(new)
        except IntegrityError:  # another server reconciled the same tags at the same moment
            return 0
    if new:
        log.info("reconciliation found unscanned tags", extra={"fields": {"registry": registry.host, "count": len(new)}})
    return len(new)


def _event_id(registry: ExternalRegistry, t: TagState) -> str:
    key = f"{registry.host}/{t.repository}:{t.tag}@{t.digest}"
    return "reconcile:" + hashlib.sha256(key.encode()).hexdigest()


def reconcile_all(db: Database, settings: Settings) -> dict[str, int | str]:
    """Reconcile every configured external registry; a failing one is logged and reported, not fatal."""
    from hullscan.pipelines.registries import external_registries

    out: dict[str, int | str] = {}
    for registry in external_registries(settings):
        try:
            out[registry.host] = reconcile_registry(db, registry)
        except (OSError, RegistryClientError, ReconcileError) as exc:
            log.warning("reconciliation failed", extra={"fields": {"registry": registry.host, "error": str(exc)}})
            out[registry.host] = f"error: {exc}"
    return out
