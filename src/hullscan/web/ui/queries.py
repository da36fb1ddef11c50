"""The images page's rows, composed from the parts' services: the registry's tags, the pipelines' last jobs and
SBOMs, the vulnerabilities' open counts. The UI reads no part's tables itself (tests/test_layers.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from hullscan.ingestion import service as ingestion
from hullscan.mediatypes import INDEX_TYPES
from hullscan.pipelines import service as pipelines
from hullscan.registry import service as registry
from hullscan.severities import SEVERITIES
from hullscan.vulnerabilities import service as vulnerabilities
from hullscan.vulnerabilities.fingerprints import platform_image_name

if TYPE_CHECKING:
    from hullscan.db.models.pipelines import Job, JobArtifact

MAX_TAGS = 500


def _zero() -> dict[str, int]:
    return dict.fromkeys(SEVERITIES, 0)


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
    scanned: list[ScannedPlatform] = field(default_factory=list)  # each platform of a multi-arch tag


@dataclass
class ScannedPlatform:
    """One platform of a multi-arch tag as it was scanned: its own manifest digest and open counts."""

    platform: str
    digest: str | None
    counts: dict[str, int] = field(default_factory=_zero)
    image: str | None = None  # `<host>/<repository> [<platform>]:<tag>`, the report's Image filter


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
    """Tags of the project's repositories with digest, platforms, last scan job, SBOM and open counts: the
    registry's tags, the pipelines' jobs and the vulnerabilities' counts, each read through its part."""
    found = registry.project_tags(session, project_id, MAX_TAGS)
    tags = [ImageTag(repository=t.repository, tag=t.tag, updated_at=t.updated_at, digest=t.digest,
                     media_type=t.media_type, platforms=_platforms(t.media_type, t.content)) for t in found]
    if not tags:
        return tags
    jobs, sboms = pipelines.last_jobs_by_tag(session, project_id, (t.repository for t in tags))
    open_counts = vulnerabilities.open_counts_by_image(session, project_id)
    per_platform = ingestion.platform_digests(session, project_id)
    for t in tags:
        key = (t.repository, t.tag)
        t.job = jobs.get(key)
        t.sbom = sboms.get(key)
        t.image, t.counts = open_counts.get(key, (None, _zero()))
        for platform, digest in sorted(per_platform.get(key, {}).items()):  # recorded as `<repo> [<platform>]`
            image, counts = open_counts.get((platform_image_name(t.repository, platform), t.tag), (None, _zero()))
            t.scanned.append(ScannedPlatform(platform, digest, counts, image))
            for severity, n in counts.items():
                t.counts[severity] = t.counts.get(severity, 0) + n
    return tags
