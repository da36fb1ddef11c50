"""Ingestion: SBOM artifact -> SBOM source and occurrences -> findings -> vulnerabilities.

Called by pipelines right after a registry scan's SBOM artifact is stored, inside the caller's transaction;
everything it writes happens in a savepoint, so an invalid SBOM raises `IngestionError` and writes nothing.
Continuous scanning (`rematch_advisory_changes`) re-matches stored occurrences when advisories change, with no
image pull and no pipeline.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hullscan.advisories.parsers.redhat_repositories import CONTENT_SET_KEY
from hullscan.advisories.reader import SqlAdvisoryStore, changesets_since
from hullscan.advisories.types import Advisory, AffectedPackage
from hullscan.batches import chunks
from hullscan.db.base import utcnow
from hullscan.db.models import Project
from hullscan.db.models.vulnerabilities import IngestionCursor, SbomOccurrence, SbomSource
from hullscan.ingestion.validation import InvalidSbom, SbomSourceInfo, validate_sbom
from hullscan.matching.engine import lookup_keys, match
from hullscan.matching.redhat_products import PROPERTY as CONTENT_SET_PROPERTY
from hullscan.matching.redhat_products import main_release
from hullscan.matching.sbom import SbomError, read_sbom
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem
from hullscan.scanner.package_record import package_from_row, row_of
from hullscan.vex import service as vex
from hullscan.vulnerabilities import notifications
from hullscan.vulnerabilities import service as vulnerabilities
from hullscan.vulnerabilities.fingerprints import SOURCE_TYPES, split_platform

log = logging.getLogger(__name__)
REMATCH_CURSOR = "advisory_changesets"
REMATCH_BATCH = 500  # images recorded together by continuous scanning
INSERT_ATTEMPTS = 3  # an ingestion that raced another server's insert of the same rows is run again


class IngestionError(ValueError):
    """The artifact cannot be ingested (invalid SBOM); nothing was written."""


@dataclass(frozen=True)
class SbomArtifact:
    """A stored CycloneDX SBOM of a registry-triggered scan."""

    project_id: int
    pipeline_id: int
    job_id: int
    artifact_id: int
    path: Path  # content-addressed file under the data dir
    image: str  # <host>/<repository>:<tag>
    digest: str | None


@dataclass
class IngestionResult:
    source_id: int
    occurrences: int
    findings: int
    new_vulnerability_ids: list[int] = field(default_factory=list)
    no_longer_detected_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    image_digest: str | None = None  # the manifest the SBOM describes (a platform's, for an index's platform)


def ingest_sbom_artifact(session: Session, artifact: SbomArtifact) -> IngestionResult:
    """Ingest one SBOM artifact; raises IngestionError (and writes nothing) when it is invalid.
    Notifications for new vulnerabilities are queued in the same transaction."""
    result = ingest_sbom(session, artifact.project_id, artifact.path, digest=artifact.digest,
                         pipeline_id=artifact.pipeline_id)
    notifications.notify_new_vulnerabilities(session, result.new_vulnerability_ids, reason="scan")
    if result.warnings:  # what the scan could not check (no advisories loaded for an ecosystem, ...): never silent
        log.warning("ingestion warnings", extra={"fields": {
            "job_id": artifact.job_id, "image": artifact.image, "warnings": result.warnings[:50]}})
    return result


def record_scan_failure(session: Session, project_id: int, *, pipeline_id: int, job_id: int, image: str,
                        reason: str) -> None:
    """Called by pipelines when a registry scan fails for good: queues the project's "scan failed" webhooks."""
    notifications.notify_scan_failed(session, project_id, {"pipeline_id": pipeline_id, "job_id": job_id,
                                                           "image": image, "reason": reason})


def ingest_sbom(
    session: Session, project_id: int, path: Path, *, digest: str | None = None, pipeline_id: int | None = None,
    image: tuple[str, str] | None = None,
) -> IngestionResult:
    """`image` (name, tag): the image the registry says the SBOM describes (a referrer), see `validate_sbom`."""
    try:
        info = validate_sbom(path, image=image)
        inventory = read_sbom(path)
    except (InvalidSbom, SbomError) as exc:
        raise IngestionError(str(exc)) from None
    if image is not None and inventory.os is not None:  # the OS as the SBOM's packages say, not its properties
        info = replace(info, os_name=inventory.os.family[:64], os_version=inventory.os.version[:64] or None)
    project = session.get(Project, project_id)
    if project is None:
        raise IngestionError(f"project {project_id} does not exist")
    for attempt in range(1, INSERT_ATTEMPTS + 1):
        try:
            with session.begin_nested():
                if info.platform:  # one platform of an index: its own manifest digest, not the index's
                    digest = inventory.image.digest
                return _ingest(session, project, info, inventory, digest or inventory.image.digest, pipeline_id)
        except IntegrityError:
            # Another server ingested an SBOM of the same image at the same moment and inserted the same
            # vulnerability UUIDs (or the same source) first; its rows are committed now (PostgreSQL's unique
            # index made this insert wait for it), so matching again updates them instead of inserting.
            if attempt == INSERT_ATTEMPTS:
                raise
            log.info("ingestion raced another writer; again (attempt %d)", attempt + 1)
    raise AssertionError("unreachable")


def _ingest(session: Session, project: Project, info: SbomSourceInfo, inventory: Inventory, digest: str | None,
            pipeline_id: int | None) -> IngestionResult:
    now = utcnow()
    source_type = SOURCE_TYPES[info.source_type]
    source = session.scalars(select(SbomSource).where(
        SbomSource.project_id == project.id, SbomSource.source_type == source_type,
        SbomSource.image_name == info.image_name, SbomSource.image_tag == info.image_tag)).one_or_none()
    if source is None:
        source = SbomSource(project_id=project.id, source_type=source_type, image_name=info.image_name,
                            image_tag=info.image_tag)
        session.add(source)
    source.image_digest, source.os_name, source.os_version = digest, info.os_name, info.os_version
    source.pipeline_id, source.scanned_at = pipeline_id, now
    session.flush()

    # Stale occurrences go for this source only; the project's other images keep theirs.
    session.execute(delete(SbomOccurrence).where(SbomOccurrence.source_id == source.id))
    rows = []
    for pkg, pkg_keys in zip(inventory.packages, lookup_keys(inventory), strict=True):
        row = row_of(pkg)
        row.update(source_id=source.id, project_id=project.id, name=pkg.name[:512], version=pkg.version[:255],
                   ecosystem=pkg_keys[0][0] if pkg_keys else None, package_key=pkg_keys[0][1] if pkg_keys else None,
                   alt_package_key=pkg_keys[1][1] if len(pkg_keys) > 1 else None)
        rows.append(row)
    for batch in chunks(rows):
        session.execute(insert(SbomOccurrence), batch)

    if info.platform:  # scanned per platform now: the tag's earlier single-platform record goes
        _drop_single_platform(session, project, info, source_type, now)
    result = match(inventory, SqlAdvisoryStore(session))
    scope = vulnerabilities.ImageScope(project.id, info.image_name, info.image_tag, digest, info.operating_system,
                                       report_type=info.source_type)
    recorded = vulnerabilities.record_findings(session, scope, result.findings, now=now,
                                               keep_resolved=vex.kept_resolved)  # a VEX `fixed` holds
    if info.platform:  # a finding first recorded for a platform keeps the tag's single-platform triage
        vulnerabilities.carry_single_platform_triage(session, recorded.new_ids, now=now)
    vex.apply_stored(session, [project.id], recorded.new_ids + recorded.redetected_ids)  # imported VEX holds
    gone = vulnerabilities.mark_not_detected(session, scope, recorded.seen_ids,
                                             auto_resolve=project.auto_resolve_no_longer_detected, now=now)
    return IngestionResult(source_id=source.id, occurrences=len(rows), findings=len(result.findings),
                           new_vulnerability_ids=recorded.new_ids, no_longer_detected_ids=gone,
                           warnings=inventory.warnings + result.stats.warnings, image_digest=digest)


def _drop_single_platform(session: Session, project: Project, info: SbomSourceInfo, source_type: int,
                          now: datetime) -> None:
    """An image scanned for linux/amd64 only before it was scanned per platform: its source (and occurrences)
    go and its findings not seen on any current tag become no longer detected, as a rescan would do. Their
    triage is not lost: each platform's new findings take it over (`carry_single_platform_triage`)."""
    name, _ = split_platform(info.image_name)
    old = session.scalars(select(SbomSource).where(
        SbomSource.project_id == project.id, SbomSource.source_type == source_type,
        SbomSource.image_name == name, SbomSource.image_tag == info.image_tag)).one_or_none()
    if old is None:
        return
    session.delete(old)
    session.flush()
    vulnerabilities.mark_not_detected(session, vulnerabilities.ImageScope(
        project.id, name, info.image_tag, report_type=info.source_type), [],
        auto_resolve=project.auto_resolve_no_longer_detected, now=now)


def platform_digests(session: Session, project_id: int) -> dict[tuple[str, str], dict[str, str | None]]:
    """(repository, tag) → {platform: its manifest digest} of the project's multi-arch tags scanned per platform
    (the images page lists each platform beside its digest)."""
    out: dict[tuple[str, str], dict[str, str | None]] = {}
    for name, tag, digest in session.execute(
            select(SbomSource.image_name, SbomSource.image_tag, SbomSource.image_digest).where(
                SbomSource.project_id == project_id,
                SbomSource.source_type == SOURCE_TYPES["container_scanning_for_registry"])):
        plain, platform = split_platform(name)
        if platform is not None:
            out.setdefault((plain.split("/", 1)[-1], tag), {})[platform] = digest
    return out


def inventory_of_source(source: SbomSource, occurrences: Sequence[Any]) -> Inventory:
    """Rebuild the inventory of a stored image from its occurrences (no image pull). An occurrence is an
    `SbomOccurrence` or any row with its column names (`OCCURRENCE_COLUMNS`)."""
    os_info = OperatingSystem(family=source.os_name.lower(), version=source.os_version or "") \
        if source.os_name else None
    packages = [package_from_row(o) for o in occurrences]
    return Inventory(image=ImageInfo(name=source.image_name, tag=source.image_tag, digest=source.image_digest),
                     os=os_info, packages=packages)


OCCURRENCE_COLUMNS = (
    SbomOccurrence.source_id, SbomOccurrence.name, SbomOccurrence.version, SbomOccurrence.type, SbomOccurrence.purl,
    SbomOccurrence.source_name, SbomOccurrence.source_version, SbomOccurrence.path, SbomOccurrence.layer_digest,
    SbomOccurrence.layer_diff_id, SbomOccurrence.arch, SbomOccurrence.licenses, SbomOccurrence.properties,
    SbomOccurrence.ecosystem, SbomOccurrence.package_key, SbomOccurrence.alt_package_key,
)


class _BatchStore:
    """An advisory store shared by the re-matching of many images: each (ecosystem, package) key and each
    advisory is read once for the whole batch instead of once per image. Advisories are cached only when the
    store answers each id on its own (`alias_lists_per_id`): then an answer does not depend on the batch."""

    def __init__(self, inner: SqlAdvisoryStore) -> None:
        self.inner = inner
        self.alias_lists_per_id = bool(getattr(inner, "alias_lists_per_id", False))
        self._affected: dict[tuple[str, str], list[AffectedPackage]] = {}
        self._advisories: dict[str, Advisory | None] = {}

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Read the affected entries of `keys`, and the advisories they name, in a few batched queries."""
        missing = sorted(set(keys) - self._affected.keys())
        if not missing:
            return
        found = self.inner.affected_for(missing)
        for key in missing:
            self._affected[key] = found.get(key, [])
        if self.alias_lists_per_id:
            self.advisories({e.advisory_id for entries in found.values() for e in entries})

    def affected_for(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[AffectedPackage]]:
        keys = list(keys)
        self.prefetch(keys)
        return {k: self._affected[k] for k in keys if self._affected[k]}

    def repository_cpes(self, repositories: Iterable[str]) -> dict[str, tuple[str, ...]] | None:
        return self.inner.repository_cpes(repositories)

    def advisories(self, ids: Iterable[str]) -> dict[str, Advisory]:
        ids = list(dict.fromkeys(ids))
        if not self.alias_lists_per_id:
            return self.inner.advisories(ids)
        missing = [i for i in ids if i not in self._advisories]
        if missing:
            found = self.inner.advisories(missing)
            for i in missing:
                self._advisories[i] = found.get(i)
        return {i: adv for i in ids if (adv := self._advisories[i]) is not None}


@dataclass
class RematchResult:
    changesets: int = 0
    sources: int = 0
    new_vulnerability_ids: list[int] = field(default_factory=list)
    no_longer_detected_ids: list[int] = field(default_factory=list)


def rematch_advisory_changes(session: Session, *, limit: int = 100) -> RematchResult:
    """Continuous scanning: for advisory changesets not yet consumed, re-match only the stored occurrences
    whose (ecosystem, package) keys they touch, across all projects; new findings get activity
    "detected by advisory update", findings that went away (withdrawn, narrowed) become no longer detected.
    All images of the batch are matched against one shared store read and recorded in bulk statements."""
    cursor = session.get(IngestionCursor, REMATCH_CURSOR)
    if cursor is None:
        cursor = IngestionCursor(name=REMATCH_CURSOR, value=0)
        session.add(cursor)
        session.flush()
    result = RematchResult()
    changesets = changesets_since(session, cursor.value, limit=limit)
    if not changesets:
        return result
    keys: set[tuple[str, str]] = set()
    for cs in changesets:
        for change in cs.changes:
            keys.update(change.keys)
    # A change of Red Hat's repository-to-CPE map names repositories: their images' products changed.
    repositories = {package for eco, package in keys if eco == CONTENT_SET_KEY}
    keys = {key for key in keys if key[0] != CONTENT_SET_KEY}
    # a Red Hat EUS/E4S/... stream's statements concern the images stored under the main release (`Red Hat:9`)
    keys.update((main, package) for eco, package in list(keys) if (main := main_release(eco)) is not None)
    result.changesets = len(changesets)
    cursor.value = max(cs.id for cs in changesets)

    by_source: dict[int, list[Any]] = defaultdict(list)
    seen_rows: set[tuple] = set()
    for chunk in chunks(sorted(keys)):
        for column in (SbomOccurrence.package_key, SbomOccurrence.alt_package_key):
            q = select(SbomOccurrence.id, *OCCURRENCE_COLUMNS).where(
                tuple_(SbomOccurrence.ecosystem, column).in_(chunk)).order_by(SbomOccurrence.id)
            for row in session.execute(q):
                if row.id not in seen_rows:
                    seen_rows.add(row.id)
                    by_source[row.source_id].append(row)
    for row in _red_hat_occurrences_on(session, repositories):
        if row.id not in seen_rows:
            seen_rows.add(row.id)
            by_source[row.source_id].append(row)
    if not by_source:
        session.flush()
        return result
    for occurrences in by_source.values():
        occurrences.sort(key=lambda o: o.id)  # stored order, whichever key found them
    # In chunks: a package in 100,000 images would otherwise be one IN list past PostgreSQL's 65,535 parameters.
    sources = {s.id: s for chunk in chunks(sorted(by_source)) for s in session.scalars(
        select(SbomSource).where(SbomSource.id.in_(chunk)))}
    store = _BatchStore(SqlAdvisoryStore(session))
    # The keys the occurrences were stored under are the keys matching looks up: read them all at once.
    store.prefetch({(o.ecosystem, k) for occs in by_source.values() for o in occs if o.ecosystem
                    for k in (o.package_key, o.alt_package_key) if k})
    source_type_names = {v: k for k, v in SOURCE_TYPES.items()}
    # Recorded in batches of about REMATCH_BATCH images (memory stays bounded), never splitting the tags of one
    # image name: its vulnerabilities are shared by its tags, and are resolved once all of them were re-matched.
    order = sorted(by_source, key=lambda sid: (_image_key(sources[sid]), sid))
    batch: list[tuple[vulnerabilities.ImageScope, list]] = []
    package_names: list[set[str]] = []
    for position, source_id in enumerate(order):
        source, occurrences = sources[source_id], by_source[source_id]
        findings = match(inventory_of_source(source, occurrences), store).findings
        os_label = f"{source.os_name} {source.os_version}" if source.os_name else None
        scope = vulnerabilities.ImageScope(source.project_id, source.image_name, source.image_tag,
                                           source.image_digest, os_label,
                                           report_type=source_type_names.get(source.source_type,
                                                                             "container_scanning_for_registry"))
        batch.append((scope, findings))
        package_names.append({o.name for o in occurrences})
        following = sources[order[position + 1]] if position + 1 < len(order) else None
        if following is None or (len(batch) >= REMATCH_BATCH and _image_key(following) != _image_key(source)):
            _record_rematch(session, batch, package_names, result)
            batch, package_names = [], []
    session.flush()
    return result


def _red_hat_occurrences_on(session: Session, repositories: set[str]) -> list[Any]:
    """The Red Hat packages of the stored images whose content sets include one of `repositories` (every rpm of
    an image carries the image's content sets, so one occurrence per image is read to decide): the packages
    whose products a change of Red Hat's repository-to-CPE map changed."""
    if not repositories:
        return []
    red_hat = SbomOccurrence.ecosystem.like("Red Hat:%")
    first = select(func.min(SbomOccurrence.id)).where(red_hat).group_by(SbomOccurrence.source_id).subquery()
    source_ids = sorted({source_id for source_id, properties in session.execute(
        select(SbomOccurrence.source_id, SbomOccurrence.properties).where(SbomOccurrence.id.in_(select(first))))
        if not repositories.isdisjoint(str((properties or {}).get(CONTENT_SET_PROPERTY, "")).split())})
    return [row for chunk in chunks(source_ids) for row in session.execute(
        select(SbomOccurrence.id, *OCCURRENCE_COLUMNS).where(
            SbomOccurrence.source_id.in_(chunk), red_hat).order_by(SbomOccurrence.id))]


def _image_key(source: SbomSource) -> tuple[int, int, str]:
    return (source.project_id, source.source_type, source.image_name)


def _record_rematch(session: Session, batch: list[tuple[vulnerabilities.ImageScope, list]],
                    package_names: list[set[str]], result: RematchResult) -> None:
    recorded = vulnerabilities.record_findings_many(session, batch, activity=vulnerabilities.ACTIVITY_ADVISORY_UPDATE,
                                                    keep_resolved=vex.kept_resolved)
    vulnerabilities.carry_single_platform_triage(session, [i for r in recorded for i in r.new_ids])
    vex.apply_stored(session, {scope.project_id for scope, _ in batch},
                     [i for r in recorded for i in (*r.new_ids, *r.redetected_ids)])
    # What a withdrawn advisory or a narrowed range took away is resolved only where the project asks for it,
    # as at ingestion: the scopes are split by their project's `auto_resolve_no_longer_detected`.
    project_ids = sorted({scope.project_id for scope, _ in batch})
    resolving = set(session.scalars(select(Project.id).where(
        Project.id.in_(project_ids), Project.auto_resolve_no_longer_detected.is_(True))))
    gone: list[list[int]] = [[] for _ in batch]
    for auto_resolve in (True, False):
        positions = [i for i, (scope, _) in enumerate(batch) if (scope.project_id in resolving) == auto_resolve]
        if not positions:
            continue
        marked = vulnerabilities.mark_not_detected_many(
            session, [(batch[i][0], recorded[i].seen_ids, package_names[i]) for i in positions],
            auto_resolve=auto_resolve)
        for i, ids in zip(positions, marked, strict=True):
            gone[i] = ids
    result.sources += len(batch)
    for r, g in zip(recorded, gone):
        result.new_vulnerability_ids.extend(r.new_ids)
        result.no_longer_detected_ids.extend(g)
