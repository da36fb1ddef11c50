"""Events policy: ContainerRegistryEvent -> ImagePushedEvent (-> scan pipeline) or a recorded drop.

A push is scanned only when ALL hold (GITLAB-FACTS "Trigger", "Rate limit"): a push of a tagged manifest or
index; the project exists; the instance feature switch is on; the project setting is on; the tag matches one
of the project's glob patterns; no identical scan is pending or running; the project is under its daily limit
(a fixed 24 h window from the first counted scan); the same repository, tag and digest was not already
scanned within `push_dedup_window_seconds`; the manifest is an image, not another artifact
(`mediatypes.not_an_image`: an SBOM pushed with oras, a Helm chart, a signature). Every other push is recorded with its reason.

Events are processed in batches with a handful of queries per batch, whatever its size; `now` is injected so
tests control the rate-limit clock.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from hullscan.auth.projects import candidate_paths
from hullscan.db.base import utcnow
from hullscan.db.models import ContainerRegistryEvent, Project
from hullscan.db.models.pipelines import DroppedPush, Job, ScanRateWindow
from hullscan.events import types as reasons
from hullscan.events.types import ImagePushedEvent
from hullscan.ingestion import referrers
from hullscan.vex import referrers as vex_referrers
from hullscan.mediatypes import DOCKER_SCHEMA1, MANIFEST_TYPES, OCI_MANIFEST, not_an_image
from hullscan.pipelines import service as pipelines
from hullscan.pipelines.registries import RegistryConfigError, external_registries
from hullscan.registry import service as registry
from hullscan.registry.client import RegistryClient, RegistryClientError
from hullscan.registry.errors import RegistryError
from hullscan.settings import Settings

log = logging.getLogger("hullscan.events")

RATE_WINDOW = timedelta(hours=24)
MANIFEST_MEDIA_TYPES = frozenset(MANIFEST_TYPES + DOCKER_SCHEMA1)

Clock = Callable[[], datetime]


@dataclass
class BatchResult:
    processed: int = 0
    jobs: list[int] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def default_registry_host(settings: Settings) -> str:
    """The host clients push to the embedded registry at (used when an event does not name one)."""
    if settings.public_url:
        return urlsplit(settings.public_url).netloc
    return f"{settings.host}:{settings.port}"


def tag_matches(tag: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(tag, p) for p in patterns)


def _is_manifest(media_type: str | None) -> bool:
    return media_type is None or media_type.split(";")[0].strip() in MANIFEST_MEDIA_TYPES


def _pushed_artifact(session: Session, settings: Settings, e: ContainerRegistryEvent) -> str | None:
    """Why the pushed manifest is not an image (`mediatypes.not_an_image`), None when it is one or cannot be
    read. The embedded registry's manifests come from its tables; an external registry's from its API with the
    configured credentials (`external_registries`; an unconfigured host is not contacted), a short timeout."""
    if not e.digest:
        return None
    if e.origin == "embedded":
        def read(digest: str) -> Any:
            try:
                return json.loads(registry.get_manifest(session, e.repository, digest).content)
            except (RegistryError, ValueError, RecursionError):
                return None
        return not_an_image(read(e.digest), read)
    try:
        configured = next((r for r in external_registries(settings) if r.host == e.registry_host), None)
    except RegistryConfigError:
        configured = None
    if configured is None:
        return None
    url = urlsplit(configured.url)
    with RegistryClient(url.netloc, insecure=url.scheme == "http", username=configured.username,
                        password=configured.password, timeout=10.0, docker_config=Path(os.devnull)) as client:
        def fetch(digest: str) -> Any:
            try:
                return client.get_manifest(e.repository, digest).json()
            except (RegistryClientError, OSError, ValueError, RecursionError) as exc:
                log.info("manifest not read to tell an image from an artifact: %s", exc)
                return None
        return not_an_image(fetch(e.digest), fetch)


def _projects_for(session: Session, events: Sequence[ContainerRegistryEvent]) -> dict[int, Project | None]:
    """Owning project per event (by the id the registry stored, else longest path), rows locked."""
    ids = {e.project_id for e in events if e.project_id is not None}
    paths = {p for e in events if e.project_id is None for p in candidate_paths(e.repository)}
    if not ids and not paths:
        return {e.id: None for e in events}
    rows = session.scalars(select(Project).where(or_(Project.id.in_(ids), Project.path.in_(paths)))
                           .order_by(Project.id).with_for_update(key_share=True)).all()
    by_id = {p.id: p for p in rows}
    by_path = {p.path: p for p in rows}
    out: dict[int, Project | None] = {}
    for e in events:
        if e.project_id is not None:
            out[e.id] = by_id.get(e.project_id)
        else:
            out[e.id] = next((by_path[p] for p in candidate_paths(e.repository) if p in by_path), None)
    return out


def _recently_scanned(session: Session, project_ids: set[int], digests: set[str],
                      since: datetime) -> dict[tuple[int, str, str, str | None], int]:
    """Pipelines (not canceled) created since `since` per (project, repository, tag, digest): a push is one scan
    whatever mix of registry webhook, redelivery and reconciliation reports it, whatever ids they carry."""
    if not project_ids or not digests:
        return {}
    rows = session.execute(select(Job.project_id, Job.repository, Job.tag, Job.digest, Job.pipeline_id).where(
        Job.project_id.in_(sorted(project_ids)), Job.digest.in_(sorted(digests)), Job.created_at >= since,
        Job.status != pipelines.CANCELED))
    return {(p, r, t, d): pipeline_id for p, r, t, d, pipeline_id in rows}


def process_pending_events(session: Session, settings: Settings, *, now: datetime | None = None,
                           limit: int = 500) -> BatchResult:
    """Apply the policy to up to `limit` unprocessed events (oldest first) and mark them processed.

    Events are claimed with SKIP LOCKED and the projects they touch locked FOR UPDATE, so two nodes deciding
    on pushes of one project take turns and each sees the other's pipelines."""
    now = now or utcnow()
    events = session.scalars(select(ContainerRegistryEvent).where(ContainerRegistryEvent.processed_at.is_(None))
                             .order_by(ContainerRegistryEvent.id).limit(limit)
                             .with_for_update(skip_locked=True)).all()
    result = BatchResult(processed=len(events))
    if not events:
        return result
    projects = _projects_for(session, events)
    project_ids = {p.id for p in projects.values() if p is not None}
    active: dict[tuple[int, str, str], list[Job]] = defaultdict(list)
    for job in pipelines.active_jobs_for(session, project_ids):
        active[(job.project_id, job.repository, job.tag)].append(job)
    scanned = _recently_scanned(session, project_ids, {e.digest for e in events if e.digest},
                                now - timedelta(seconds=settings.push_dedup_window_seconds))
    windows = {w.project_id: w for w in session.scalars(
        select(ScanRateWindow).where(ScanRateWindow.project_id.in_(project_ids)))} if project_ids else {}
    accepted: dict[tuple[int, str, str], list[tuple[ImagePushedEvent, str]]] = defaultdict(list)
    drops: list[DroppedPush] = []
    delay = settings.cs4r_coalesce_seconds
    fallback_host = default_registry_host(settings)

    def drop(e: ContainerRegistryEvent, project: Project | None, reason: str, detail: str | None = None,
             digest: str | None = None) -> None:
        drops.append(DroppedPush(registry_event_id=e.id, project_id=project.id if project else None,
                                 action=e.action[:16], repository=e.repository, tag=e.tag,
                                 digest=digest if digest is not None else e.digest, reason=reason,
                                 detail=(detail or "")[:512] or None, created_at=now))
        result.dropped[reason] += 1

    for e in events:
        project = projects[e.id]
        if e.action != "push":
            drop(e, project, reasons.NOT_A_PUSH, f"action {e.action}")
            continue
        if not _is_manifest(e.media_type):
            drop(e, project, reasons.NOT_A_PUSH, f"blob push ({e.media_type})")
            continue
        if not e.tag and e.actor == referrers.PUBLISHER_ACTOR:
            continue  # hullscan's own SBOM referrer of a scanned image: neither a scan nor a dropped push
        if not e.tag:
            sbom = referrers.ingest_pushed_sbom(session, settings, project_id=project.id, repository=e.repository,
                                                digest=e.digest, registry_host=e.registry_host or fallback_host) \
                if project is not None and e.digest and e.media_type == OCI_MANIFEST else None
            if sbom is not None and sbom.subject is not None:  # the user's SBOM stands in for the scan (referrers.md)
                for key in accepted:
                    accepted[key] = [(p, path) for p, path in accepted[key] if p.digest != sbom.subject]
                for job in [j for jobs in active.values() for j in jobs if j.digest == sbom.subject
                            and j.status in (pipelines.CREATED, pipelines.PENDING)]:
                    pipelines.cancel_job(session, job, now=now, by="an SBOM pushed as a referrer")
            pushed_vex = vex_referrers.import_pushed_vex(session, settings, project_id=project.id,
                                                         repository=e.repository, digest=e.digest) \
                if sbom is None and project is not None and e.digest and e.media_type == OCI_MANIFEST else None
            detail = sbom.detail if sbom is not None else pushed_vex.detail if pushed_vex is not None else None
            drop(e, project, reasons.UNTAGGED, detail or "manifest pushed by digest")
            continue
        if project is None:
            drop(e, None, reasons.PROJECT_UNKNOWN, f"no project owns {e.repository}")
            continue
        if not settings.feature_container_scanning_for_registry:
            drop(e, project, reasons.FEATURE_OFF, "instance feature container_scanning_for_registry is off")
            continue
        if not project.container_scanning_for_registry_enabled:
            drop(e, project, reasons.SETTING_OFF, "container_scanning_for_registry_enabled is off")
            continue
        if not tag_matches(e.tag, project.cs4r_tag_patterns):
            drop(e, project, reasons.TAG_NOT_MATCHED, f"patterns {','.join(project.cs4r_tag_patterns)}"[:512])
            continue
        artifact = _pushed_artifact(session, settings, e)
        if artifact is not None:  # stored by the registry as usual; nothing in it to scan
            drop(e, project, reasons.NOT_AN_IMAGE, artifact)
            continue
        pushed = ImagePushedEvent(project_id=project.id, registry_host=e.registry_host or fallback_host,
                                  repository=e.repository, tag=e.tag, digest=e.digest, origin=e.origin,
                                  registry_event_id=e.id)
        key = (project.id, e.repository, e.tag)
        same_job = next((j for j in active[key] if j.digest == e.digest), None)
        if same_job is not None:
            drop(e, project, reasons.DUPLICATE, f"pipeline {same_job.pipeline_id} is {same_job.status}")
            continue
        earlier = scanned.get((project.id, e.repository, e.tag, e.digest))
        if earlier is not None:
            drop(e, project, reasons.DUPLICATE, f"already scanned by pipeline {earlier} (webhook, redelivery or "
                                                "reconciliation reported the same push)")
            continue
        if any(p.digest == e.digest for p, _ in accepted[key]):
            drop(e, project, reasons.DUPLICATE, "same digest pushed again in this batch")
            continue
        if delay > 0:
            waiting = next((j for j in active[key] if j.status == pipelines.CREATED), None)
            if waiting is not None:
                replaced = pipelines.coalesce_into(session, waiting, pushed, now=now, delay_seconds=delay)
                drop(e, project, reasons.DUPLICATE, f"superseded by {e.digest}: coalesced into pipeline "
                                                    f"{waiting.pipeline_id}", digest=replaced)
                continue
            if accepted[key]:
                older, path = accepted[key].pop()
                drop(e, project, reasons.DUPLICATE, f"superseded by {e.digest}: coalesced", digest=older.digest)
                accepted[key].append((pushed, path))
                continue
        window = windows.get(project.id)
        if window is None:
            window = windows[project.id] = ScanRateWindow(project_id=project.id, window_start=now, count=0)
            session.add(window)
        elif now >= window.window_start + RATE_WINDOW:
            window.window_start, window.count = now, 0
        if window.count >= project.cs4r_daily_limit:
            log.info("Daily rate limit container_scanning_for_registry_scans reached",
                     extra={"fields": {"project_id": project.id}})
            drop(e, project, reasons.RATE_LIMITED,
                 f"{project.cs4r_daily_limit} scans per 24 h since {window.window_start.isoformat()}")
            continue
        window.count += 1
        accepted[key].append((pushed, project.path))

    to_create = [item for items in accepted.values() for item in items]
    to_create.sort(key=lambda item: item[0].registry_event_id or 0)
    jobs = pipelines.create_scan_pipelines(session, to_create, now=now, delay_seconds=delay,
                                           max_attempts=settings.job_max_attempts,
                                           timeout_seconds=settings.job_timeout_seconds)
    result.jobs = [j.id for j in jobs]
    session.add_all(drops)
    session.execute(update(ContainerRegistryEvent).where(ContainerRegistryEvent.id.in_([e.id for e in events]))
                    .values(processed_at=now).execution_options(synchronize_session=False))
    session.flush()
    return result


def list_dropped_pushes(session: Session, project_id: int, *, limit: int = 50,
                        offset: int = 0) -> Sequence[DroppedPush]:
    return session.scalars(select(DroppedPush).where(DroppedPush.project_id == project_id)
                           .order_by(DroppedPush.id.desc()).limit(limit).offset(offset)).all()
