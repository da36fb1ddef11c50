"""Read-only queries the pages need that no part's service offers yet (each one batched, never per row).

Move any of these into the owning part's service when it grows one; the pages only call these functions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hullscan.db.models.pipelines import Job, JobArtifact, Runner
from hullscan.pipelines.service import list_runners
from hullscan.db.models.registry import RegistryManifest, RegistryRepository, RegistryTag
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.mediatypes import INDEX_TYPES
from hullscan.vulnerabilities.fingerprints import REPORT_TYPES

SEVERITIES = ("critical", "high", "medium", "low", "unknown")
OPEN_STATES = ("detected", "confirmed")
MAX_TAGS = 500


def _zero() -> dict[str, int]:
    return {s: 0 for s in SEVERITIES}


def open_counts_by_project(session: Session, project_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Severity counts of open (detected or confirmed) registry vulnerabilities for many projects in one query:
    exactly the rows of each project's Container registry tab under its default filter."""
    ids = list(project_ids)
    out: dict[int, dict[str, int]] = {pid: _zero() for pid in ids}
    if not ids:
        return out
    q = (select(Vulnerability.project_id, Vulnerability.severity, func.count())
         .where(Vulnerability.project_id.in_(ids), Vulnerability.state.in_(OPEN_STATES),
                Vulnerability.report_type == REPORT_TYPES["container_scanning_for_registry"])
         .group_by(Vulnerability.project_id, Vulnerability.severity))
    for pid, sev, n in session.execute(q):
        out[pid][sev if sev in SEVERITIES else "unknown"] += n
    return out


@dataclass
class ImageTag:
    repository: str
    tag: str
    digest: str
    media_type: str
    platforms: list[str] = field(default_factory=list)
    updated_at: datetime | None = None
    job: Job | None = None
    sbom: JobArtifact | None = None
    counts: dict[str, int] = field(default_factory=_zero)
    image: str | None = None  # `<host>/<repository>:<tag>` as the report's Image filter names it


def _platforms(media_type: str, content: bytes) -> list[str]:
    """Platforms listed by an index (untrusted JSON; anything odd is ignored)."""
    if media_type not in INDEX_TYPES:
        return []
    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    out = []
    for m in doc.get("manifests", []) if isinstance(doc, dict) else []:
        p = m.get("platform") if isinstance(m, dict) else None
        if isinstance(p, dict) and isinstance(p.get("os"), str) and isinstance(p.get("architecture"), str):
            variant = p.get("variant") if isinstance(p.get("variant"), str) else ""
            out.append("/".join(x for x in (p["os"], p["architecture"], variant) if x)[:64])
    return out[:32]


def image_tags(session: Session, project_id: int) -> list[ImageTag]:
    """Tags of the project's repositories with digest, platforms, last scan job, SBOM and open counts."""
    rows = session.execute(
        select(RegistryRepository.name, RegistryTag.name, RegistryTag.updated_at, RegistryManifest.digest,
               RegistryManifest.media_type, RegistryManifest.content)
        .join(RegistryTag, RegistryTag.repository_id == RegistryRepository.id)
        .join(RegistryManifest, RegistryManifest.id == RegistryTag.manifest_id)
        .where(RegistryRepository.project_id == project_id)
        .order_by(RegistryRepository.name, RegistryTag.name).limit(MAX_TAGS)).all()
    tags = [ImageTag(repository=r[0], tag=r[1], updated_at=r[2], digest=r[3], media_type=r[4],
                     platforms=_platforms(r[4], r[5])) for r in rows]
    if not tags:
        return tags
    repos = sorted({t.repository for t in tags})
    last_ids = select(func.max(Job.id)).where(Job.project_id == project_id, Job.repository.in_(repos)) \
        .group_by(Job.repository, Job.tag)
    jobs = {(j.repository, j.tag): j for j in session.scalars(select(Job).where(Job.id.in_(last_ids)))}
    done_ids = select(func.max(Job.id)).where(Job.project_id == project_id, Job.repository.in_(repos),
                                              Job.status == "success").group_by(Job.repository, Job.tag)
    done = {(j.repository, j.tag): j.id for j in session.scalars(select(Job).where(Job.id.in_(done_ids)))}
    sboms: dict[int, JobArtifact] = {}
    if done:
        for a in session.scalars(select(JobArtifact).where(JobArtifact.job_id.in_(list(done.values())))):
            sboms.setdefault(a.job_id, a)
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(_zero)
    images: dict[tuple[str, str], str] = {}
    q = (select(Vulnerability.image, Vulnerability.image_name, Vulnerability.image_tag, Vulnerability.severity,
                func.count())
         .where(Vulnerability.project_id == project_id, Vulnerability.state.in_(OPEN_STATES),
                Vulnerability.report_type == REPORT_TYPES["container_scanning_for_registry"],
                Vulnerability.no_longer_detected.is_(False))
         .group_by(Vulnerability.image, Vulnerability.image_name, Vulnerability.image_tag, Vulnerability.severity))
    for image, name, tag, sev, n in session.execute(q):
        repo = name.split("/", 1)[1] if "/" in name else name  # image name is <host>/<repository>
        counts[(repo, tag or "")][sev if sev in SEVERITIES else "unknown"] += n
        images[(repo, tag or "")] = image
    for t in tags:
        t.job = jobs.get((t.repository, t.tag))
        job_id = done.get((t.repository, t.tag))
        t.sbom = sboms.get(job_id) if job_id else None
        t.counts = counts.get((t.repository, t.tag), _zero())
        t.image = images.get((t.repository, t.tag))
    return tags


def sbom_artifact(session: Session, project_id: int, job_id: int) -> JobArtifact | None:
    job = session.get(Job, job_id)
    if job is None or job.project_id != project_id:
        return None
    return session.scalars(select(JobArtifact).where(JobArtifact.job_id == job_id)
                           .order_by(JobArtifact.id).limit(1)).first()


@dataclass
class RunnerRow:
    runner: Runner
    online: bool
    running: list[Job]


def runners(session: Session, online_within: timedelta = timedelta(minutes=2)) -> list[RunnerRow]:
    now = datetime.now(timezone.utc)
    all_runners = list(list_runners(session))
    running: dict[int, list[Job]] = defaultdict(list)
    if all_runners:
        for job in session.scalars(select(Job).where(Job.status == "running",
                                                     Job.runner_id.in_([r.id for r in all_runners]))):
            if job.runner_id is not None:  # always, by the query; said for the type checker
                running[job.runner_id].append(job)
    return [RunnerRow(r, bool(r.contacted_at and now - r.contacted_at <= online_within), running.get(r.id, []))
            for r in all_runners]
