"""Vulnerability domain service: upsert from findings, per-image resolution, triage, queries.

Ingestion and continuous scanning write through `record_findings` and `mark_not_detected`; the API and UI
read with `query_vulnerabilities` and change state with `change_state`. Every write is batched.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from hullscan.db.base import utcnow
from hullscan.db.models.vulnerabilities import Vulnerability, VulnerabilitySighting, VulnerabilityStateTransition
from hullscan.matching.finding import SEVERITY_RANK, Finding
from hullscan.vulnerabilities.fingerprints import (
    REPORT_TYPES,
    finding_uuid,
    identifier_fingerprint,
    location_fingerprint,
)

STATES = ("detected", "confirmed", "dismissed", "resolved")
DISMISSAL_REASONS = ("acceptable_risk", "false_positive", "mitigating_control", "used_in_tests", "not_applicable")
ACTIVITY_SCAN = "detected_by_scan"
ACTIVITY_ADVISORY_UPDATE = "detected_by_advisory_update"
SYSTEM_AUTHOR = "hullscan"
CHUNK = 500


class VulnerabilityError(ValueError):
    """A state change or query that cannot be done (unknown state, missing reason, bad cursor)."""


@dataclass(frozen=True)
class ImageScope:
    """The image a set of findings belongs to: `name` is `<host>/<repository>` without the tag."""

    project_id: int
    name: str
    tag: str
    digest: str | None = None
    operating_system: str | None = None  # "<name> <version>"
    report_type: str = "container_scanning_for_registry"

    @property
    def image(self) -> str:
        return f"{self.name}:{self.tag}"


@dataclass
class RecordResult:
    new_ids: list[int] = field(default_factory=list)
    seen_ids: list[int] = field(default_factory=list)
    redetected_ids: list[int] = field(default_factory=list)
    severity_changed_ids: list[int] = field(default_factory=list)


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _location(scope: ImageScope, f: Finding) -> dict:
    return {
        "image": scope.image,
        "operating_system": scope.operating_system,
        "dependency": {"package": {"name": f.package.name}, "version": f.package.version},
    }


def record_findings(
    session: Session, scope: ImageScope, findings: Iterable[Finding], *, activity: str = ACTIVITY_SCAN,
    now: datetime | None = None,
) -> RecordResult:
    """Create or refresh one vulnerability per finding, deduplicated by GitLab's UUID, and its sighting."""
    now = now or utcnow()
    report_type_id = REPORT_TYPES[scope.report_type]
    by_uuid: dict[str, tuple[Finding, str, str]] = {}
    for f in findings:
        loc_fp = location_fingerprint(scope.image, f.package.name)
        id_fp = identifier_fingerprint(f.vulnerability_id)
        by_uuid[finding_uuid(scope.report_type, id_fp, loc_fp, scope.project_id)] = (f, loc_fp, id_fp)

    existing: dict[str, Vulnerability] = {}
    keys = list(by_uuid)
    for chunk in _chunks(keys):
        for v in session.scalars(select(Vulnerability).where(Vulnerability.uuid.in_(chunk))):
            existing[v.uuid] = v

    result = RecordResult()
    transitions: list[VulnerabilityStateTransition] = []
    created: list[Vulnerability] = []
    for key, (f, loc_fp, id_fp) in by_uuid.items():
        values = dict(
            severity=f.severity, severity_rank=f.severity_rank,
            title=f.display_title(scope.operating_system), description=f.description, solution=f.solution,
            identifiers=list(f.identifiers), links=list(f.links), advisory_ids=list(f.advisory_ids),
            location=_location(scope, f), image=scope.image, image_name=scope.name, image_tag=scope.tag,
            image_digest=scope.digest, operating_system=scope.operating_system,
            package_version=f.package.version, package_type=f.package.type, layer_digest=f.package.layer_digest,
            fixed_versions=list(f.fixed_versions), fix_state=f.fix_state, has_fix=bool(f.fixed_versions),
            cvss_score=f.cvss_score, cvss_vector=f.cvss_vector, known_exploited=f.known_exploited,
            epss_score=f.epss_score, last_seen_at=now, no_longer_detected=False, no_longer_detected_at=None,
        )
        v = existing.get(key)
        if v is None:
            v = Vulnerability(
                uuid=key, project_id=scope.project_id, report_type=report_type_id, state="detected",
                primary_identifier=f.vulnerability_id, package_name=f.package.name, location_fingerprint=loc_fp,
                identifier_fingerprint=id_fp, activity=activity, detected_at=now, **values,
            )
            session.add(v)
            existing[key] = v
            created.append(v)
            continue
        if v.severity != f.severity:
            result.severity_changed_ids.append(v.id)
        if v.state == "resolved":
            transitions.append(VulnerabilityStateTransition(
                vulnerability_id=v.id, from_state="resolved", to_state="detected", author=SYSTEM_AUTHOR,
                comment="detected again", created_at=now))
            v.state = "detected"
            v.resolved_at = None
            result.redetected_ids.append(v.id)
        for name, value in values.items():
            setattr(v, name, value)
    session.flush()

    result.seen_ids = [existing[k].id for k in by_uuid]
    result.new_ids = [v.id for v in created]
    for v in created:
        transitions.append(VulnerabilityStateTransition(
            vulnerability_id=v.id, from_state=None, to_state="detected", author=SYSTEM_AUTHOR,
            comment=activity.replace("_", " "), created_at=now))
    session.add_all(transitions)
    _record_sightings(session, scope, result.seen_ids, now)
    session.flush()
    return result


def _record_sightings(session: Session, scope: ImageScope, vulnerability_ids: list[int], now: datetime) -> None:
    digest = scope.digest or ""
    have: dict[int, VulnerabilitySighting] = {}
    for chunk in _chunks(vulnerability_ids):
        for s in session.scalars(select(VulnerabilitySighting).where(
            VulnerabilitySighting.vulnerability_id.in_(chunk), VulnerabilitySighting.image_tag == scope.tag,
            VulnerabilitySighting.image_digest == digest,
        )):
            have[s.vulnerability_id] = s
    for vid in vulnerability_ids:
        s = have.get(vid)
        if s is None:
            session.add(VulnerabilitySighting(vulnerability_id=vid, image_tag=scope.tag, image_digest=digest,
                                              first_seen_at=now, last_seen_at=now, active=True))
        else:
            s.last_seen_at = now
            s.active = True
    # Earlier digests of the same tag are no longer current for these vulnerabilities.
    for chunk in _chunks(vulnerability_ids):
        session.execute(update(VulnerabilitySighting).where(
            VulnerabilitySighting.vulnerability_id.in_(chunk), VulnerabilitySighting.image_tag == scope.tag,
            VulnerabilitySighting.image_digest != digest,
        ).values(active=False))


def mark_not_detected(
    session: Session, scope: ImageScope, keep_ids: Iterable[int], *, auto_resolve: bool,
    package_names: set[str] | None = None, now: datetime | None = None,
) -> list[int]:
    """Per-image resolution: this tag's vulnerabilities not in `keep_ids` lose their sighting; those seen in no
    current tag of the image become "no longer detected" (and resolved when `auto_resolve`).
    `package_names` narrows the check to those packages (continuous re-matching of a few keys)."""
    now = now or utcnow()
    keep = set(keep_ids)
    cond = [Vulnerability.project_id == scope.project_id, Vulnerability.image_name == scope.name,
            Vulnerability.report_type == REPORT_TYPES[scope.report_type]]
    if package_names is not None:
        if not package_names:
            return []
        cond.append(Vulnerability.package_name.in_(sorted(package_names)))
    candidates = [vid for vid in session.scalars(select(Vulnerability.id).where(*cond)) if vid not in keep]
    if not candidates:
        return []
    for chunk in _chunks(candidates):
        session.execute(update(VulnerabilitySighting).where(
            VulnerabilitySighting.vulnerability_id.in_(chunk), VulnerabilitySighting.image_tag == scope.tag,
        ).values(active=False))
    still_seen: set[int] = set()
    for chunk in _chunks(candidates):
        still_seen.update(session.scalars(select(VulnerabilitySighting.vulnerability_id).where(
            VulnerabilitySighting.vulnerability_id.in_(chunk), VulnerabilitySighting.active.is_(True))))
    gone = [vid for vid in candidates if vid not in still_seen]
    changed: list[int] = []
    for chunk in _chunks(gone):
        for v in session.scalars(select(Vulnerability).where(Vulnerability.id.in_(chunk),
                                                             Vulnerability.no_longer_detected.is_(False))):
            v.no_longer_detected = True
            v.no_longer_detected_at = now
            changed.append(v.id)
            if auto_resolve and v.state in ("detected", "confirmed"):
                session.add(VulnerabilityStateTransition(
                    vulnerability_id=v.id, from_state=v.state, to_state="resolved", author=SYSTEM_AUTHOR,
                    comment="no longer detected", created_at=now))
                v.state = "resolved"
                v.resolved_at = now
    session.flush()
    return changed


def change_state(
    session: Session, ids: Iterable[int], to_state: str, *, author: str, comment: str | None = None,
    dismissal_reason: str | None = None, project_id: int | None = None, now: datetime | None = None,
) -> list[Vulnerability]:
    """Triage (one or many): every transition is recorded with who, when, from, to, reason and comment."""
    if to_state not in STATES:
        raise VulnerabilityError(f"unknown state {to_state!r}; expected one of {', '.join(STATES)}")
    if to_state == "dismissed":
        if dismissal_reason not in DISMISSAL_REASONS:
            raise VulnerabilityError(f"dismissal needs a reason: one of {', '.join(DISMISSAL_REASONS)}")
    elif dismissal_reason:
        raise VulnerabilityError("a dismissal reason only goes with the dismissed state")
    if comment is not None and len(comment) > 50_000:
        raise VulnerabilityError("comment is longer than 50000 characters")
    now = now or utcnow()
    ids = sorted(set(int(i) for i in ids))
    rows: list[Vulnerability] = []
    for chunk in _chunks(ids):
        q = select(Vulnerability).where(Vulnerability.id.in_(chunk))
        if project_id is not None:
            q = q.where(Vulnerability.project_id == project_id)
        rows.extend(session.scalars(q))
    if len(rows) != len(ids):
        missing = sorted(set(ids) - {v.id for v in rows})
        raise VulnerabilityError(f"unknown vulnerability id(s): {missing[:10]}")
    for v in rows:
        if v.state == to_state and v.dismissal_reason == dismissal_reason and not comment:
            continue
        session.add(VulnerabilityStateTransition(
            vulnerability_id=v.id, from_state=v.state, to_state=to_state, dismissal_reason=dismissal_reason,
            comment=comment, author=author, created_at=now))
        v.state = to_state
        v.dismissal_reason = dismissal_reason if to_state == "dismissed" else None
        v.resolved_at = now if to_state == "resolved" else None
    session.flush()
    return rows


def history(session: Session, vulnerability_id: int) -> list[VulnerabilityStateTransition]:
    return list(session.scalars(select(VulnerabilityStateTransition).where(
        VulnerabilityStateTransition.vulnerability_id == vulnerability_id).order_by(VulnerabilityStateTransition.id)))


def sightings(session: Session, vulnerability_id: int) -> list[VulnerabilitySighting]:
    return list(session.scalars(select(VulnerabilitySighting).where(
        VulnerabilitySighting.vulnerability_id == vulnerability_id).order_by(VulnerabilitySighting.first_seen_at)))


@dataclass
class VulnerabilityFilter:
    project_id: int | None = None
    report_types: list[str] | None = None
    severities: list[str] | None = None
    states: list[str] | None = None
    image: str | None = None  # matches image name or name:tag
    identifier: str | None = None
    package: str | None = None
    has_fix: bool | None = None
    known_exploited: bool | None = None
    activity: str | None = None  # still_detected | no_longer_detected | detected_by_advisory_update
    detected_after: datetime | None = None
    detected_before: datetime | None = None

    def conditions(self) -> list:
        c: list = []
        if self.project_id is not None:
            c.append(Vulnerability.project_id == self.project_id)
        if self.report_types:
            unknown = [r for r in self.report_types if r not in REPORT_TYPES]
            if unknown:
                raise VulnerabilityError(f"unknown report type(s): {', '.join(unknown)}")
            c.append(Vulnerability.report_type.in_([REPORT_TYPES[r] for r in self.report_types]))
        if self.severities:
            c.append(Vulnerability.severity.in_(self.severities))
        if self.states:
            bad = [s for s in self.states if s not in STATES]
            if bad:
                raise VulnerabilityError(f"unknown state(s): {', '.join(bad)}")
            c.append(Vulnerability.state.in_(self.states))
        if self.image:
            c.append(or_(Vulnerability.image_name == self.image, Vulnerability.image == self.image))
        if self.identifier:
            c.append(Vulnerability.primary_identifier == self.identifier)
        if self.package:
            c.append(Vulnerability.package_name == self.package)
        if self.has_fix is not None:
            c.append(Vulnerability.has_fix.is_(self.has_fix))
        if self.known_exploited is not None:
            c.append(Vulnerability.known_exploited.is_(self.known_exploited))
        if self.activity == "still_detected":
            c.append(Vulnerability.no_longer_detected.is_(False))
        elif self.activity == "no_longer_detected":
            c.append(Vulnerability.no_longer_detected.is_(True))
        elif self.activity == ACTIVITY_ADVISORY_UPDATE:
            c.append(Vulnerability.activity == ACTIVITY_ADVISORY_UPDATE)
        elif self.activity:
            raise VulnerabilityError(f"unknown activity {self.activity!r}")
        if self.detected_after:
            c.append(Vulnerability.detected_at >= self.detected_after)
        if self.detected_before:
            c.append(Vulnerability.detected_at < self.detected_before)
        return c


SORTS = {"severity_desc", "severity_asc", "detected_desc", "detected_asc"}


def _encode_cursor(v: Vulnerability, sort: str) -> str:
    key = v.severity_rank if sort.startswith("severity") else v.detected_at.isoformat()
    return base64.urlsafe_b64encode(json.dumps([key, v.id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[object, int]:
    try:
        key, vid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return key, int(vid)
    except Exception as exc:  # noqa: BLE001 - any garbage is a bad cursor
        raise VulnerabilityError("invalid cursor") from exc


def query_vulnerabilities(
    session: Session, flt: VulnerabilityFilter, *, sort: str = "severity_desc", cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[Vulnerability], str | None]:
    """One page in a stable keyset order, and the cursor of the next page (None at the end)."""
    if sort not in SORTS:
        raise VulnerabilityError(f"unknown sort {sort!r}; expected one of {', '.join(sorted(SORTS))}")
    limit = max(1, min(int(limit), 100))
    col = Vulnerability.severity_rank if sort.startswith("severity") else Vulnerability.detected_at
    desc = sort.endswith("desc")
    q = select(Vulnerability).where(*flt.conditions())
    if cursor:
        key, vid = _decode_cursor(cursor)
        if not sort.startswith("severity"):
            try:
                key = datetime.fromisoformat(str(key))
            except ValueError as exc:
                raise VulnerabilityError("invalid cursor") from exc
        if desc:
            q = q.where(or_(col < key, and_(col == key, Vulnerability.id < vid)))
        else:
            q = q.where(or_(col > key, and_(col == key, Vulnerability.id > vid)))
    q = q.order_by(col.desc() if desc else col.asc(), Vulnerability.id.desc() if desc else Vulnerability.id.asc())
    rows = list(session.scalars(q.limit(limit + 1)))
    next_cursor = _encode_cursor(rows[limit - 1], sort) if len(rows) > limit else None
    return rows[:limit], next_cursor


def severity_counts(session: Session, flt: VulnerabilityFilter) -> dict[str, int]:
    counts = {s: 0 for s in ("critical", "high", "medium", "low", "unknown")}
    q = select(Vulnerability.severity, func.count()).where(*flt.conditions()).group_by(Vulnerability.severity)
    for sev, n in session.execute(q):
        counts[sev] = counts.get(sev, 0) + n
    return counts


CSV_COLUMNS = ("id", "uuid", "project_id", "report_type", "state", "dismissal_reason", "severity", "cvss_score",
               "identifier", "identifiers", "title", "image", "image_digest", "operating_system", "package",
               "version", "fixed_versions", "known_exploited", "epss_score", "activity", "detected_at",
               "no_longer_detected", "links")


def iter_export_rows(session: Session, flt: VulnerabilityFilter, batch: int = 1000) -> Iterator[list[object]]:
    """Rows for CSV export, fetched in keyset batches so memory stays constant."""
    from hullscan.vulnerabilities.fingerprints import REPORT_TYPE_NAMES

    last_id = 0
    while True:
        rows = list(session.scalars(select(Vulnerability).where(*flt.conditions(), Vulnerability.id > last_id)
                                    .order_by(Vulnerability.id).limit(batch)))
        if not rows:
            return
        for v in rows:
            yield [v.id, v.uuid, v.project_id, REPORT_TYPE_NAMES.get(v.report_type, v.report_type), v.state,
                   v.dismissal_reason or "", v.severity, v.cvss_score if v.cvss_score is not None else "",
                   v.primary_identifier, " ".join(v.identifiers), v.title, v.image, v.image_digest or "",
                   v.operating_system or "", v.package_name, v.package_version, " ".join(v.fixed_versions),
                   v.known_exploited, v.epss_score if v.epss_score is not None else "", v.activity,
                   v.detected_at.isoformat(), v.no_longer_detected, " ".join(v.links)]
        last_id = rows[-1].id
