"""Remediation hints for one image: which package upgrades fix what, its base image, and whether rebuilding on the
base's tag (now a newer scanned digest) would drop findings.

Everything comes from what the instance already holds: the findings' fixed versions, the sightings (which tag and
digest each finding was seen in), and the embedded registry's manifests (layers and annotations). A base image is
another manifest whose layers are exactly this image's lowest layers (the longest such), or the one its
`org.opencontainers.image.base.digest` annotation names; only bases in projects the caller may read are used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hullscan.auth.principal import Action, Principal, is_allowed
from hullscan.db.models import Project
from hullscan.db.models.registry import RegistryManifest, RegistryManifestReference, RegistryRepository, RegistryTag
from hullscan.db.models.vulnerabilities import Vulnerability, VulnerabilitySighting
from hullscan.versions import InvalidVersion, canonical_scheme, parse

OPEN_STATES = ("detected", "confirmed")
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
_SCHEMES = {"python": "pypi", "java": "maven", "golang": "go", "rust": "cargo"}
MAX_CANDIDATES = 500  # manifests sharing the first layer that are compared (a popular base layer is in many)


@dataclass
class PackageHint:
    package: str
    version: str
    upgrade_to: str
    fixes: int
    critical: int
    identifiers: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return (f"upgrading {self.package} to {self.upgrade_to} fixes {self.fixes} "
                f"vulnerabilit{'y' if self.fixes == 1 else 'ies'} ({self.critical} critical)")


@dataclass
class BaseImage:
    repository: str
    digest: str
    found_by: str  # "layers" or "annotation"
    tags: list[str] = field(default_factory=list)


@dataclass
class RebuildHint:
    base: str  # repository:tag
    digest: str  # what the tag points at now
    fixes: int

    @property
    def text(self) -> str:
        return f"rebuilding on {self.base} ({self.digest[:19]}) fixes {self.fixes}"


@dataclass
class Remediation:
    digest: str
    packages: list[PackageHint]
    base: BaseImage | None
    base_name_annotation: str | None
    rebuild: list[RebuildHint]

    def as_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "packages": [dict(package=p.package, version=p.version, upgrade_to=p.upgrade_to, fixes=p.fixes,
                              critical=p.critical, identifiers=p.identifiers, hint=p.text) for p in self.packages],
            "base": None if self.base is None else dict(repository=self.base.repository, digest=self.base.digest,
                                                        found_by=self.base.found_by, tags=self.base.tags),
            "base_name_annotation": self.base_name_annotation,
            "rebuild": [dict(base=r.base, digest=r.digest, fixes=r.fixes, hint=r.text) for r in self.rebuild],
        }


def _key(package_type: str | None, version: str) -> Any:
    scheme = _SCHEMES.get(package_type or "", package_type or "generic")
    try:
        return (0, parse(canonical_scheme(scheme), version))
    except (ValueError, InvalidVersion):
        return (1, version)  # unreadable versions sort after readable ones, by text


def package_hints(rows: list[Vulnerability]) -> list[PackageHint]:
    """Per installed package: the smallest version that fixes all of its fixable findings (the largest of each
    finding's lowest fixed version), how many that fixes and how many are critical; most critical first."""
    groups: dict[tuple[str, str, str | None], list[Vulnerability]] = {}
    for v in rows:
        if v.fixed_versions:
            groups.setdefault((v.package_name, v.package_version, v.package_type), []).append(v)
    hints = []
    for (name, version, ptype), found in groups.items():
        try:
            lowest = [min(v.fixed_versions, key=lambda f: _key(ptype, f)) for v in found]
            target = max(lowest, key=lambda f: _key(ptype, f))
        except TypeError:  # keys of different shapes: compare as text
            target = max(min(v.fixed_versions) for v in found)
        hints.append(PackageHint(name, version, target, len(found), sum(v.severity == "critical" for v in found),
                                 sorted({v.primary_identifier for v in found})))
    return sorted(hints, key=lambda h: (-h.critical, -h.fixes, h.package))


def _findings_of(session: Session, digest: str, states: tuple[str, ...] | None = None) -> list[Vulnerability]:
    seen = select(VulnerabilitySighting.vulnerability_id).where(VulnerabilitySighting.image_digest == digest)
    q = select(Vulnerability).where(Vulnerability.id.in_(seen))
    if states:
        q = q.where(Vulnerability.state.in_(states))
    return list(session.scalars(q))


def _layers(manifest: RegistryManifest) -> list[str]:
    try:
        doc = json.loads(manifest.content)
    except (ValueError, UnicodeDecodeError):
        return []
    layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list):
        return []
    return [layer["digest"] for layer in layers if isinstance(layer, dict) and isinstance(layer.get("digest"), str)]


def _manifests(session: Session, digest: str) -> list[tuple[RegistryManifest, RegistryRepository]]:
    return list(session.execute(select(RegistryManifest, RegistryRepository)
                                .join(RegistryRepository, RegistryRepository.id == RegistryManifest.repository_id)
                                .where(RegistryManifest.digest == digest)).all())


def _tags(session: Session, manifest: RegistryManifest) -> list[str]:
    return sorted(session.scalars(select(RegistryTag.name).where(RegistryTag.repository_id == manifest.repository_id,
                                                                 RegistryTag.manifest_id == manifest.id)))


def find_base(session: Session, image: RegistryManifest, can_read: Callable[[int | None], bool]) -> BaseImage | None:
    """The image's base: by its annotation's digest when the instance has that image, else by layers."""
    annotations = image.annotations or {}
    wanted = annotations.get(BASE_DIGEST) if isinstance(annotations, dict) else None
    if isinstance(wanted, str) and wanted != image.digest:
        for manifest, repo in _manifests(session, wanted):
            if can_read(repo.project_id):
                return BaseImage(repo.name, manifest.digest, "annotation", _tags(session, manifest))
    layers = _layers(image)
    if len(layers) < 2:
        return None
    ids = session.scalars(select(RegistryManifestReference.manifest_id).where(
        RegistryManifestReference.kind == "blob", RegistryManifestReference.digest == layers[0]).limit(MAX_CANDIDATES))
    best: tuple[int, RegistryManifest, RegistryRepository] | None = None
    for manifest, repo in session.execute(
            select(RegistryManifest, RegistryRepository)
            .join(RegistryRepository, RegistryRepository.id == RegistryManifest.repository_id)
            .where(RegistryManifest.id.in_(list(ids)), RegistryManifest.digest != image.digest)):
        theirs = _layers(manifest)
        if 0 < len(theirs) < len(layers) and layers[:len(theirs)] == theirs and can_read(repo.project_id):
            if best is None or len(theirs) > best[0]:
                best = (len(theirs), manifest, repo)
    if best is None:
        return None
    return BaseImage(best[2].name, best[1].digest, "layers", _tags(session, best[1]))


def _finding_keys(session: Session, digest: str) -> set[tuple[str, str]]:
    return {(v.primary_identifier, v.package_name) for v in _findings_of(session, digest)
            if v.state != "dismissed"}


def rebuild_hints(session: Session, base: BaseImage) -> list[RebuildHint]:
    """Tags the base digest was seen under that now point at another scanned digest with fewer findings."""
    seen_tags = set(session.scalars(select(VulnerabilitySighting.image_tag).where(
        VulnerabilitySighting.image_digest == base.digest).distinct()))
    repo = session.scalars(select(RegistryRepository).where(RegistryRepository.name == base.repository)).first()
    if repo is None or not seen_tags:
        return []
    old = _finding_keys(session, base.digest)
    hints = []
    for tag, digest in session.execute(
            select(RegistryTag.name, RegistryManifest.digest)
            .join(RegistryManifest, RegistryManifest.id == RegistryTag.manifest_id)
            .where(RegistryTag.repository_id == repo.id, RegistryTag.name.in_(sorted(seen_tags)))):
        if digest == base.digest:
            continue
        new = _finding_keys(session, digest)
        scanned = session.scalar(select(VulnerabilitySighting.id).where(
            VulnerabilitySighting.image_digest == digest).limit(1)) is not None
        if scanned and len(new) < len(old) and (fixed := len(old - new)):
            hints.append(RebuildHint(f"{base.repository}:{tag}", digest, fixed))
    return sorted(hints, key=lambda h: -h.fixes)


def readable_by(session: Session, principal: Principal) -> Callable[[int | None], bool]:
    """`can_read` for `remediation`: may this caller read the vulnerabilities of the project with that id?"""
    def can_read(project_id: int | None) -> bool:
        other = session.get(Project, project_id) if project_id is not None else None
        return other is not None and is_allowed(principal, Action.READ_VULNERABILITIES, other.path)
    return can_read


def remediation(session: Session, project_id: int, digest: str,
                can_read: Callable[[int | None], bool]) -> Remediation | None:
    """The hints for the project's image `digest`, or None when the project has no such image."""
    ours = [(m, r) for m, r in _manifests(session, digest) if r.project_id == project_id]
    rows = [v for v in _findings_of(session, digest, OPEN_STATES) if v.project_id == project_id]
    if not ours and not rows:
        return None
    base = find_base(session, ours[0][0], can_read) if ours else None
    annotation = None
    if ours and isinstance(ours[0][0].annotations, dict):
        name = ours[0][0].annotations.get(BASE_NAME)
        annotation = name if isinstance(name, str) else None
    return Remediation(digest, package_hints(rows), base, annotation, rebuild_hints(session, base) if base else [])
