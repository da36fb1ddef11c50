"""The registry part's service: what other parts (and this part's routes) call instead of its tables.

Every function takes a SQLAlchemy session and leaves committing to the caller, so a manifest change and
its ContainerRegistryEvent always land in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from hullscan.batches import chunks
from hullscan.auth.projects import ProjectError, candidate_paths, find_project_for_repository, \
    get_or_create_project_for_repository
from hullscan.db.base import utcnow
from hullscan.db.models import ContainerRegistryEvent, Project
from hullscan.db.models.registry import (
    RegistryBlob,
    RegistryManifest,
    RegistryManifestReference,
    RegistryRepository,
    RegistryRepositoryBlob,
    RegistryTag,
)
from hullscan.registry.errors import RegistryError
from hullscan.registry.manifests import MANIFEST_TYPES, Descriptor, ParsedManifest
from hullscan.registry.names import is_digest, parse_digest, validate_name, validate_tag
from hullscan.registry.notifications import STORED_ACTIONS, WebhookEvent, build_event, parse_timestamp
from hullscan.registry.storage import BlobStorage

__all__ = [
    "EventFilter", "RequestInfo", "StoredManifest", "blob_size", "delete_manifest", "get_manifest",
    "link_blob", "list_events", "list_referrers", "list_repositories", "list_tags", "mount_blob", "open_blob",
    "push_repository", "put_manifest", "record_event", "record_webhook_events", "unlink_blob",
    "collect_garbage",
]


@dataclass(frozen=True)
class RequestInfo:
    """Who pushed and how, for the event the change writes."""

    actor: str | None = None
    registry_host: str | None = None  # the Host the client pushed to (becomes CS_IMAGE's registry)
    client_addr: str | None = None
    user_agent: str | None = None
    scheme: str = "http"


@dataclass(frozen=True)
class StoredManifest:
    repository: str
    digest: str
    media_type: str
    size: int
    content: bytes
    project_id: int | None = None  # the owning project and repository row, for the pull gate
    repository_id: int | None = None


# Bound parameters per statement stay far below SQLite's 32766 and PostgreSQL's 65535, whatever a
# (hostile) manifest or envelope lists: IN-lists in `chunks`, bulk inserts in rows of at most this many values.
MAX_PARAMS = 4000


# -- portable upserts ------------------------------------------------------------------------------
def _insert(session: Session, model: type) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        return postgresql_insert(model)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        return sqlite_insert(model)
    raise RuntimeError(f"unsupported database {name}")  # pragma: no cover - only the two supported databases


def _insert_ignore(session: Session, model: type, rows: list[dict[str, Any]], keys: list[str]) -> int:
    """Insert rows (all with the same keys), skipping those whose unique `keys` already exist.

    One statement compiled once per model (parameters apart, so SQLAlchemy's cache serves every call: the
    webhook's hot path), sent as multi-row VALUES by SQLAlchemy's insertmanyvalues. The count comes from
    RETURNING: drivers disagree on rowcount for INSERT .. ON CONFLICT DO NOTHING."""
    if not rows:
        return 0
    stmt = _insert(session, model).on_conflict_do_nothing(index_elements=keys).returning(getattr(model, keys[0]))
    connection = session.connection()
    inserted = 0
    rows_per_statement = max(1, MAX_PARAMS // len(rows[0]))
    for batch in chunks(rows, rows_per_statement):
        inserted += len(connection.execute(stmt, list(batch)).all())
    return inserted


# -- repositories ----------------------------------------------------------------------------------
def find_repository(session: Session, name: str) -> RegistryRepository | None:
    return session.scalars(select(RegistryRepository).where(RegistryRepository.name == name)).one_or_none()


def push_repository(session: Session, name: str, *, auto_create_projects: bool) -> RegistryRepository:
    """The repository a push goes to, created (with its project, when allowed) on first push."""
    validate_name(name)
    repo = find_repository(session, name)
    if repo is not None:
        return repo
    project = find_project_for_repository(session, name)
    if project is None:
        if not auto_create_projects:
            raise RegistryError("DENIED", f"no project owns {name!r} and projects are not created on push")
        try:
            project = get_or_create_project_for_repository(session, name, cs4r_enabled=True)
        except ProjectError as exc:
            raise RegistryError("NAME_INVALID", str(exc)) from None
    _insert_ignore(session, RegistryRepository,
                   [{"name": name, "project_id": project.id, "created_at": utcnow()}], ["name"])
    repo = find_repository(session, name)
    assert repo is not None
    return repo


def _existing_repository(session: Session, name: str) -> RegistryRepository:
    validate_name(name)
    repo = find_repository(session, name)
    if repo is None:
        raise RegistryError("NAME_UNKNOWN", f"repository {name!r} is not known")
    return repo


# -- blobs -----------------------------------------------------------------------------------------
def link_blob(session: Session, repository: RegistryRepository, digest: str, size: int) -> None:
    """Record a verified blob and let `repository` read it."""
    now = utcnow()
    _insert_ignore(session, RegistryBlob, [{"digest": digest, "size": size, "created_at": now}], ["digest"])
    _insert_ignore(session, RegistryRepositoryBlob,
                   [{"repository_id": repository.id, "digest": digest, "created_at": now}],
                   ["repository_id", "digest"])


def blob_size(session: Session, repository: str, digest: str) -> int | None:
    """Size of a blob `repository` may read, or None."""
    return session.scalar(
        select(RegistryBlob.size)
        .join(RegistryRepositoryBlob, RegistryRepositoryBlob.digest == RegistryBlob.digest)
        .join(RegistryRepository, RegistryRepository.id == RegistryRepositoryBlob.repository_id)
        .where(RegistryRepository.name == repository, RegistryBlob.digest == digest)
    )


def open_blob(session: Session, storage: BlobStorage, repository: str, digest: str):  # type: ignore[no-untyped-def]
    """Open a blob of `repository` for streaming reads (the caller closes it); BLOB_UNKNOWN if absent."""
    if blob_size(session, repository, digest) is None:
        raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in {repository}", detail={"digest": digest})
    try:
        return storage.open(digest)
    except FileNotFoundError:
        raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is missing from storage") from None


def mount_blob(session: Session, repository: RegistryRepository, source: str, digest: str) -> int | None:
    """Link a blob of `source` into `repository` without upload; its size, or None if `source` lacks it."""
    size = blob_size(session, source, digest)
    if size is not None:
        link_blob(session, repository, digest, size)
    return size


def unlink_blob(session: Session, repository: str, digest: str) -> bool:
    repo = _existing_repository(session, repository)
    result = session.execute(delete(RegistryRepositoryBlob).where(
        RegistryRepositoryBlob.repository_id == repo.id, RegistryRepositoryBlob.digest == digest))
    return bool(result.rowcount)  # type: ignore[attr-defined]  # DML runs give a CursorResult; SQLAlchemy types it Result


# -- manifests -------------------------------------------------------------------------------------
def _check_references(session: Session, repo: RegistryRepository, parsed: ParsedManifest) -> None:
    """Every blob and child manifest must already be in the repository (two queries in all)."""
    child_blobs = [d for d in parsed.manifests if d.media_type not in MANIFEST_TYPES]
    blob_sizes = (select(RegistryBlob.digest, RegistryBlob.size)
                  .join(RegistryRepositoryBlob, RegistryRepositoryBlob.digest == RegistryBlob.digest)
                  .where(RegistryRepositoryBlob.repository_id == repo.id))
    _check_sizes(session, repo, parsed.blobs + child_blobs, blob_sizes, RegistryBlob.digest, "blob")
    manifest_sizes = select(RegistryManifest.digest, RegistryManifest.size).where(
        RegistryManifest.repository_id == repo.id)
    _check_sizes(session, repo, [d for d in parsed.manifests if d.media_type in MANIFEST_TYPES], manifest_sizes,
                 RegistryManifest.digest, "manifest")


def _check_sizes(session: Session, repo: RegistryRepository, descriptors: Sequence[Descriptor], sizes: Select[str, int],
                 digest_column: Any, what: str) -> None:
    """Each descriptor names a `what` of this repository (`sizes`: its digest and size rows) with its true size."""
    if not descriptors:
        return
    known: dict[str, int] = {}
    for batch in chunks(sorted({d.digest for d in descriptors})):
        known.update(session.execute(sizes.where(digest_column.in_(batch))).all())
    for d in descriptors:
        if d.digest not in known:
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"{what} {d.digest} is not in {repo.name}",
                                detail={"digest": d.digest})
        if known[d.digest] != d.size:
            raise RegistryError("MANIFEST_INVALID",
                                f"descriptor of {d.digest} says {d.size} bytes, the {what} has {known[d.digest]}")


def _manifest_url(info: RequestInfo, repository: str, digest: str) -> str | None:
    if not info.registry_host:
        return None
    return f"{info.scheme}://{info.registry_host}/v2/{repository}/manifests/{digest}"


def put_manifest(session: Session, *, repository: str, reference: str, body: bytes, digest: str,
                 parsed: ParsedManifest, info: RequestInfo, auto_create_projects: bool) -> RegistryManifest:
    """Store a checked manifest, point the tag at it and write the push event, in the caller's transaction."""
    tag = None if is_digest(reference) else validate_tag(reference)
    repo = push_repository(session, repository, auto_create_projects=auto_create_projects)
    _check_references(session, repo, parsed)
    manifest = session.scalars(select(RegistryManifest).where(
        RegistryManifest.repository_id == repo.id, RegistryManifest.digest == digest)).one_or_none()
    if manifest is None:
        inserted = _insert_ignore(session, RegistryManifest, [{
            "repository_id": repo.id, "digest": digest, "media_type": parsed.media_type, "size": len(body),
            "content": body, "artifact_type": parsed.artifact_type,
            "subject_digest": parsed.subject.digest if parsed.subject else None,
            "annotations": parsed.annotations, "created_at": utcnow(),
        }], ["repository_id", "digest"])
        manifest = session.scalars(select(RegistryManifest).where(
            RegistryManifest.repository_id == repo.id, RegistryManifest.digest == digest)).one()
        if inserted:
            refs = [{"manifest_id": manifest.id, "kind": "blob", "digest": d.digest} for d in parsed.blobs]
            refs += [{"manifest_id": manifest.id,
                      "kind": "manifest" if d.media_type in MANIFEST_TYPES else "blob", "digest": d.digest}
                     for d in parsed.manifests]
            for batch in chunks(refs):
                session.execute(_insert(session, RegistryManifestReference).values(list(batch)))
    if tag is not None:
        now = utcnow()
        stmt = _insert(session, RegistryTag).values(
            repository_id=repo.id, name=tag, manifest_id=manifest.id, updated_at=now)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["repository_id", "name"], set_={"manifest_id": manifest.id, "updated_at": now}))
    record_event(session, action="push", repository=repository, tag=tag, digest=digest,
                 media_type=parsed.media_type, size=len(body), info=info, project_id=repo.project_id,
                 method="PUT")
    return manifest


def _resolve(session: Session, repo: RegistryRepository, reference: str) -> RegistryManifest | None:
    if is_digest(reference):
        parse_digest(reference)
        return session.scalars(select(RegistryManifest).where(
            RegistryManifest.repository_id == repo.id, RegistryManifest.digest == reference)).one_or_none()
    validate_tag(reference)
    return session.scalars(
        select(RegistryManifest).join(RegistryTag, RegistryTag.manifest_id == RegistryManifest.id)
        .where(RegistryTag.repository_id == repo.id, RegistryTag.name == reference)).one_or_none()


def get_manifest(session: Session, repository: str, reference: str) -> StoredManifest:
    """A manifest by tag or digest; NAME_UNKNOWN / MANIFEST_UNKNOWN when there is none."""
    repo = _existing_repository(session, repository)
    manifest = _resolve(session, repo, reference)
    if manifest is None:
        raise RegistryError("MANIFEST_UNKNOWN", f"manifest {reference!r} is not in {repository}",
                            detail={"reference": reference})
    return StoredManifest(repository, manifest.digest, manifest.media_type, manifest.size, manifest.content,
                          repo.project_id, repo.id)


def delete_manifest(session: Session, repository: str, reference: str, info: RequestInfo) -> str:
    """Delete a manifest (by digest, with its tags) or only a tag; writes the delete event. Returns the digest."""
    repo = _existing_repository(session, repository)
    manifest = _resolve(session, repo, reference)
    if manifest is None:
        raise RegistryError("MANIFEST_UNKNOWN", f"manifest {reference!r} is not in {repository}",
                            detail={"reference": reference})
    tag = None
    if is_digest(reference):
        parents = session.scalars(
            select(RegistryManifest.digest)
            .join(RegistryManifestReference, RegistryManifestReference.manifest_id == RegistryManifest.id)
            .where(RegistryManifest.repository_id == repo.id, RegistryManifestReference.kind == "manifest",
                   RegistryManifestReference.digest == manifest.digest)
            .order_by(RegistryManifest.digest).limit(10)).all()
        if parents:  # as Distribution: an index never points at nothing; delete the index first
            raise RegistryError("DENIED", f"manifest {manifest.digest} is referenced by an index in {repository}; "
                                "delete the index first", status=409, detail={"referenced_by": list(parents)})
        session.execute(delete(RegistryTag).where(RegistryTag.manifest_id == manifest.id))
        session.execute(delete(RegistryManifestReference).where(RegistryManifestReference.manifest_id == manifest.id))
        session.execute(delete(RegistryManifest).where(RegistryManifest.id == manifest.id))
    else:
        tag = reference
        session.execute(delete(RegistryTag).where(RegistryTag.repository_id == repo.id, RegistryTag.name == tag))
    record_event(session, action="delete", repository=repository, tag=tag, digest=manifest.digest,
                 media_type=manifest.media_type, size=manifest.size, info=info, project_id=repo.project_id,
                 method="DELETE")
    return manifest.digest


# -- content discovery -----------------------------------------------------------------------------
def tags_of(session: Session, repository: str, digest: str) -> list[str]:
    """The tags of `repository` that point at the manifest `digest`, in lexical order."""
    repo = find_repository(session, repository)
    if repo is None:
        return []
    return list(session.scalars(select(RegistryTag.name).join(RegistryManifest, RegistryManifest.id == RegistryTag.manifest_id)
                                .where(RegistryTag.repository_id == repo.id, RegistryManifest.digest == digest)
                                .order_by(RegistryTag.name)))


def list_tags(session: Session, repository: str, n: int | None = None, last: str | None = None) -> list[str]:
    """Tags of a repository in lexical order, after `last`, at most `n`; NAME_UNKNOWN if no such repository."""
    repo = _existing_repository(session, repository)
    return _names_page(session, RegistryTag.name, n, last, RegistryTag.repository_id == repo.id)


@dataclass
class ProjectTag:
    """A tag of one of a project's repositories with its manifest, as the images page lists it."""

    repository: str
    tag: str
    updated_at: datetime | None
    digest: str
    media_type: str
    content: bytes


def project_tags(session: Session, project_id: int, limit: int) -> list[ProjectTag]:
    """The tags of the project's repositories (by repository, then tag), at most `limit`, in one query."""
    rows = session.execute(
        select(RegistryRepository.name, RegistryTag.name, RegistryTag.updated_at, RegistryManifest.digest,
               RegistryManifest.media_type, RegistryManifest.content)
        .join(RegistryTag, RegistryTag.repository_id == RegistryRepository.id)
        .join(RegistryManifest, RegistryManifest.id == RegistryTag.manifest_id)
        .where(RegistryRepository.project_id == project_id)
        .order_by(RegistryRepository.name, RegistryTag.name).limit(limit)).all()
    return [ProjectTag(*row) for row in rows]


def list_repositories(session: Session, n: int | None = None, last: str | None = None) -> list[str]:
    return _names_page(session, RegistryRepository.name, n, last)


def _names_page(session: Session, column: Any, n: int | None, last: str | None, *where: Any) -> list[str]:
    """One page of names in lexical order after `last`, at most `n` (the OCI distribution spec's `n`/`last`)."""
    q = select(column).where(*where)
    if last:
        q = q.where(column > last)
    q = q.order_by(column)
    if n is not None:
        q = q.limit(n)
    return list(session.scalars(q))


def list_referrers(session: Session, repository: str, digest: str,
                   artifact_type: str | None = None) -> list[dict[str, Any]]:
    """Descriptors of the manifests in `repository` whose subject is `digest` (OCI 1.1 referrers API)."""
    parse_digest(digest)
    repo = find_repository(session, repository)
    if repo is None:
        return []
    q = select(RegistryManifest).where(RegistryManifest.repository_id == repo.id,
                                       RegistryManifest.subject_digest == digest)
    if artifact_type:
        q = q.where(RegistryManifest.artifact_type == artifact_type)
    out = []
    for m in session.scalars(q.order_by(RegistryManifest.id)):
        d: dict[str, Any] = {"mediaType": m.media_type, "digest": m.digest, "size": m.size}
        if m.artifact_type:
            d["artifactType"] = m.artifact_type
        if m.annotations:
            d["annotations"] = m.annotations
        out.append(d)
    return out


# -- events ----------------------------------------------------------------------------------------
def record_event(session: Session, *, action: str, repository: str, tag: str | None, digest: str,
                 media_type: str | None, size: int | None, info: RequestInfo, project_id: int | None,
                 method: str) -> ContainerRegistryEvent:
    """Write one embedded-registry event, shaped like a CNCF Distribution notification."""
    now = utcnow()
    envelope = build_event(action=action, repository=repository, digest=digest, media_type=media_type, size=size,
                           tag=tag, actor=info.actor, registry_host=info.registry_host,
                           client_addr=info.client_addr, method=method, user_agent=info.user_agent,
                           url=_manifest_url(info, repository, digest), timestamp=now)
    event = ContainerRegistryEvent(
        event_id=envelope["id"], action=action, repository=repository, tag=tag, digest=digest,
        media_type=media_type, size=size, actor=info.actor, source_addr=envelope["source"]["addr"],
        source_instance=envelope["source"]["instanceID"], registry_host=info.registry_host, origin="embedded",
        project_id=project_id, timestamp=now, received_at=now, envelope=envelope,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class WebhookResult:
    received: int
    stored: int
    duplicates: int
    ignored: int


def _projects_for(session: Session, repositories: Iterable[str]) -> dict[str, int]:
    """Owning project id per repository (longest path wins), in one query."""
    wanted = {repo: candidate_paths(repo) for repo in set(repositories)}
    paths = sorted({p for ps in wanted.values() for p in ps})
    by_path: dict[str, int] = {}
    for batch in chunks(paths):
        by_path.update(session.execute(select(Project.path, Project.id).where(Project.path.in_(batch))).all())
    out = {}
    for repo, ps in wanted.items():
        for p in ps:  # longest first
            if p in by_path:
                out[repo] = by_path[p]
                break
    return out


def record_webhook_events(session: Session, events: Sequence[tuple[WebhookEvent, dict[str, Any]]],
                          fallback_host: str | None = None) -> WebhookResult:
    """Store push/delete events from an external registry once each (idempotent by event id)."""
    kept = [(e, raw) for e, raw in events if e.action in STORED_ACTIONS]
    for e, _raw in kept:
        try:
            validate_name(e.target.repository)
            if e.target.tag is not None:
                validate_tag(e.target.tag)
            if e.target.digest:
                parse_digest(e.target.digest)
        except RegistryError as exc:
            raise ValueError(f"event {e.id!r}: {exc.message}") from None
    projects = _projects_for(session, (e.target.repository for e, _ in kept))
    now = utcnow()
    rows, seen = [], set()
    for e, raw in kept:
        if e.id in seen:
            continue
        seen.add(e.id)
        host = e.request.host or (urlsplit(e.target.url).netloc if e.target.url else None) or fallback_host
        rows.append({
            "event_id": e.id, "action": e.action, "repository": e.target.repository, "tag": e.target.tag,
            "digest": e.target.digest, "media_type": e.target.mediaType,
            "size": e.target.size if e.target.size is not None else e.target.length,
            "actor": e.actor.name, "source_addr": e.source.addr, "source_instance": e.source.instanceID,
            "registry_host": host, "origin": "webhook", "project_id": projects.get(e.target.repository),
            "timestamp": parse_timestamp(e.timestamp), "received_at": now, "envelope": raw,
        })
    stored = _insert_ignore(session, ContainerRegistryEvent, rows, ["event_id"])
    return WebhookResult(received=len(events), stored=stored, duplicates=len(kept) - stored,
                         ignored=len(events) - len(kept))


@dataclass(frozen=True)
class EventFilter:
    repository: str | None = None
    action: str | None = None
    origin: str | None = None
    tag: str | None = None
    digest: str | None = None
    project_id: int | None = None
    since: datetime | None = None
    before_id: int | None = None
    limit: int = 100


def list_events(session: Session, f: EventFilter) -> list[ContainerRegistryEvent]:
    """Stored registry events, newest first, filtered; page with `before_id`."""
    q = select(ContainerRegistryEvent)
    for column, value in ((ContainerRegistryEvent.repository, f.repository), (ContainerRegistryEvent.action, f.action),
                          (ContainerRegistryEvent.origin, f.origin), (ContainerRegistryEvent.tag, f.tag),
                          (ContainerRegistryEvent.digest, f.digest),
                          (ContainerRegistryEvent.project_id, f.project_id)):
        if value is not None:
            q = q.where(column == value)
    if f.since is not None:
        q = q.where(ContainerRegistryEvent.timestamp >= f.since)
    if f.before_id is not None:
        q = q.where(ContainerRegistryEvent.id < f.before_id)
    return list(session.scalars(q.order_by(ContainerRegistryEvent.id.desc()).limit(f.limit)))


# -- garbage collection ----------------------------------------------------------------------------
@dataclass
class GcReport:
    blobs_removed: list[str]
    bytes_freed: int
    uploads_removed: list[str]
    dry_run: bool


def collect_garbage(db: Any, storage: BlobStorage, *, dry_run: bool, grace_seconds: float = 3600,
                    upload_max_age: float = 24 * 3600) -> GcReport:
    """Remove blobs no manifest references (older than `grace_seconds`, so in-flight pushes keep theirs)
    and upload sessions idle longer than `upload_max_age`."""
    cutoff = time.time() - grace_seconds
    with db.session() as session:
        referenced = set(session.scalars(select(RegistryManifestReference.digest).distinct()))
    recent = _recently_linked(db, cutoff)
    doomed = [(digest, size) for digest, size, mtime in storage.iter_blobs()
              if digest not in referenced and digest not in recent and mtime < cutoff]
    stale = [u.id for u in storage.iter_uploads() if u.started_at < time.time() - upload_max_age]
    if not dry_run:
        for doomed_batch in chunks(doomed):
            batch = [d for d, _ in doomed_batch]
            with db.session() as session:
                # Re-check under the transaction: a manifest pushed since the scan keeps its blobs.
                still = set(session.scalars(select(RegistryManifestReference.digest)
                                            .where(RegistryManifestReference.digest.in_(batch))))
                still |= set(session.scalars(select(RegistryRepositoryBlob.digest).where(
                    RegistryRepositoryBlob.digest.in_(batch),
                    RegistryRepositoryBlob.created_at >= datetime.fromtimestamp(cutoff, timezone.utc))))
                gone = [d for d in batch if d not in still]
                session.execute(delete(RegistryRepositoryBlob).where(RegistryRepositoryBlob.digest.in_(gone)))
                session.execute(delete(RegistryBlob).where(RegistryBlob.digest.in_(gone)))
            for d in gone:
                storage.delete(d)
            doomed = [x for x in doomed if x[0] not in set(batch) - set(gone)]
        for upload_id in stale:
            storage.cancel_upload(upload_id)
    return GcReport([d for d, _ in doomed], sum(s for _, s in doomed), stale, dry_run)


def _recently_linked(db: Any, cutoff: float) -> set[str]:
    """Blobs uploaded or mounted within the grace period: a push in flight may still reference them."""
    with db.session() as session:
        return set(session.scalars(select(RegistryRepositoryBlob.digest).where(
            RegistryRepositoryBlob.created_at >= datetime.fromtimestamp(cutoff, timezone.utc))))


def count_events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ContainerRegistryEvent)) or 0

