"""Vulnerability domain service: upsert from findings, per-image resolution, triage, queries.

Ingestion and continuous scanning write through `record_findings` and `mark_not_detected`; the API and UI
read with `query_vulnerabilities` and change state with `change_state`. Every write is batched.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, get_args
from urllib.parse import quote, urlsplit

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from hullscan.batches import chunks
from hullscan.db.base import put_row, table_of, utcnow
from hullscan.db.models.vulnerabilities import (
    Vulnerability,
    VulnerabilityIssueLink,
    VulnerabilityIssueTracker,
    VulnerabilitySighting,
    VulnerabilityStateTransition,
)
from hullscan.matching.finding import Finding
from hullscan.severities import SEVERITIES
from hullscan.vulnerabilities.fingerprints import (
    REPORT_TYPE_NAMES,
    REPORT_TYPES,
    finding_uuid,
    identifier_fingerprint,
    location_fingerprint,
    split_platform,
)

State = Literal["detected", "confirmed", "dismissed", "resolved"]
STATES: tuple[State, ...] = get_args(State)
DISMISSAL_REASONS = ("acceptable_risk", "false_positive", "mitigating_control", "used_in_tests", "not_applicable")
ACTIVITY_SCAN = "detected_by_scan"
ACTIVITY_ADVISORY_UPDATE = "detected_by_advisory_update"
SYSTEM_AUTHOR = "hullscan"
DETECTED, STATE_CHANGE, COMMENT = "detected", "state_change", "comment"  # kinds of history entries
MAX_COMMENT = 50_000


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


def _location(scope: ImageScope, f: Finding) -> dict:
    return {
        "image": scope.image,
        "operating_system": scope.operating_system,
        "dependency": {"package": {"name": f.package.name}, "version": f.package.version},
    }


def _values(scope: ImageScope, f: Finding, now: datetime) -> dict:
    """The columns a finding refreshes on every sighting (identity columns are set once, at creation)."""
    return dict(
        severity=f.severity, severity_rank=f.severity_rank,
        title=f.display_title(scope.operating_system), description=f.description, solution=f.solution,
        identifiers=list(f.identifiers), links=list(f.links), advisory_ids=list(f.advisory_ids),
        location=_location(scope, f), image=scope.image, image_name=scope.name, image_tag=scope.tag,
        image_digest=scope.digest, operating_system=scope.operating_system,
        package_version=f.package.version, package_type=f.package.type, layer_digest=f.package.layer_digest,
        fixed_versions=list(f.fixed_versions), fix_state=f.fix_state, has_fix=bool(f.fixed_versions),
        cvss_score=f.cvss_score, cvss_vector=f.cvss_vector, severity_source=f.severity_source,
        known_exploited=f.known_exploited,
        epss_score=f.epss_score, published_at=f.published, last_seen_at=now, no_longer_detected=False, no_longer_detected_at=None,
        updated_at=now,
    )


def _expire(session: Session, model: type, ids: set[int]) -> None:
    """Rows written with bulk statements: instances the session already holds must reload them."""
    if not ids:
        return
    for state in session.identity_map.all_states():  # key: (class, primary key, token); no loading
        key, obj = state.key, state.obj()
        if key is not None and obj is not None and key[0] is model and key[1][0] in ids:
            session.expire(obj)


# Given resolved findings detected again (id -> their new columns, with project_id, primary_identifier and
# package_name), the ids that stay resolved without a "detected again" entry: those a stored VEX `fixed`
# statement keeps resolved (`hullscan.vex.service.kept_resolved`, passed in by ingestion: no import cycle).
KeepResolved = Callable[[Session, dict[int, dict[str, Any]]], set[int]]


def record_findings(
    session: Session, scope: ImageScope, findings: Iterable[Finding], *, activity: str = ACTIVITY_SCAN,
    now: datetime | None = None, keep_resolved: KeepResolved | None = None,
) -> RecordResult:
    """Create or refresh one vulnerability per finding, deduplicated by GitLab's UUID, and its sighting."""
    return record_findings_many(session, [(scope, findings)], activity=activity, now=now,
                                keep_resolved=keep_resolved)[0]


def record_findings_many(
    session: Session, batch: Sequence[tuple[ImageScope, Iterable[Finding]]], *, activity: str = ACTIVITY_SCAN,
    now: datetime | None = None, keep_resolved: KeepResolved | None = None,
) -> list[RecordResult]:
    """`record_findings` for many images at once (continuous scanning re-matches hundreds): one bulk SELECT of
    the vulnerabilities and sightings they touch, then bulk INSERT/UPDATE (executemany), whatever the number of
    images. Scopes are applied in order, exactly as consecutive `record_findings` calls would; one result each.
    A resolved finding found again becomes "detected again" unless `keep_resolved` says it stays resolved."""
    now = now or utcnow()
    session.flush()  # pending ORM changes first: the bulk statements below read and write the same rows
    planned: list[tuple[ImageScope, dict[str, tuple[Finding, str, str]]]] = []
    for scope, findings in batch:
        by_uuid: dict[str, tuple[Finding, str, str]] = {}
        for f in findings:
            loc_fp = location_fingerprint(scope.image, f.package.name)
            id_fp = identifier_fingerprint(f.vulnerability_id)
            by_uuid[finding_uuid(scope.report_type, id_fp, loc_fp, scope.project_id)] = (f, loc_fp, id_fp)
        planned.append((scope, by_uuid))

    # uuid -> [id, state, severity] of the rows that exist
    existing: dict[str, list] = {}
    all_uuids = sorted({key for _, by_uuid in planned for key in by_uuid})
    for chunk in chunks(all_uuids):
        for vid, key, state, severity in session.execute(
            select(Vulnerability.id, Vulnerability.uuid, Vulnerability.state, Vulnerability.severity)
            .where(Vulnerability.uuid.in_(chunk))
        ):
            existing[key] = [vid, state, severity]

    results = [RecordResult() for _ in planned]
    created: dict[str, dict] = {}  # uuid -> INSERT values
    created_by: dict[str, int] = {}  # uuid -> index of the scope that created it
    updates: dict[int, dict] = {}  # vulnerability id -> UPDATE values
    transitions: list[dict] = []
    redetected: dict[int, dict[str, Any]] = {}  # id -> identity columns of a resolved finding found again
    for index, (scope, by_uuid) in enumerate(planned):
        result = results[index]
        report_type_id = REPORT_TYPES[scope.report_type]
        for key, (f, loc_fp, id_fp) in by_uuid.items():
            values = _values(scope, f, now)
            row = existing.get(key)
            if row is None:
                if key in created:  # created by an earlier scope of this batch: refreshed, not new again
                    created[key].update(values)
                else:
                    created[key] = dict(
                        uuid=key, project_id=scope.project_id, report_type=report_type_id, state="detected",
                        dismissal_reason=None, primary_identifier=f.vulnerability_id, package_name=f.package.name,
                        location_fingerprint=loc_fp, identifier_fingerprint=id_fp, activity=activity,
                        detected_at=now, resolved_at=None, **values)
                    created_by[key] = index
                continue
            vid = row[0]
            if row[2] != f.severity:
                result.severity_changed_ids.append(vid)
                row[2] = f.severity
            if row[1] == "resolved":
                transitions.append(dict(vulnerability_id=vid, from_state="resolved", to_state="detected",
                                        dismissal_reason=None, author=SYSTEM_AUTHOR, comment="detected again",
                                        created_at=now))
                row[1] = "detected"
                values.update(state="detected", resolved_at=None)
                result.redetected_ids.append(vid)
                redetected[vid] = dict(project_id=scope.project_id, primary_identifier=f.vulnerability_id,
                                       package_name=f.package.name)
            updates.setdefault(vid, {}).update(values)
    if keep_resolved is not None and redetected:
        kept = keep_resolved(session, {vid: {**updates[vid], **ident} for vid, ident in redetected.items()})
        if kept:  # no "detected again": the finding stays resolved, only its columns are refreshed
            transitions = [t for t in transitions if t["vulnerability_id"] not in kept]
            for vid in kept:
                updates[vid].pop("state", None)
                updates[vid].pop("resolved_at", None)
            for result in results:
                result.redetected_ids = [vid for vid in result.redetected_ids if vid not in kept]

    new_ids: dict[str, int] = {}
    rows = list(created.values())
    for row_batch in chunks(rows):
        for vid, key in session.execute(insert(Vulnerability).returning(Vulnerability.id, Vulnerability.uuid),
                                        row_batch):
            new_ids[key] = vid
    comment = activity.replace("_", " ")
    for key in created:  # creation order, like ids
        results[created_by[key]].new_ids.append(new_ids[key])
        transitions.append(dict(vulnerability_id=new_ids[key], kind=DETECTED, from_state=None, to_state="detected",
                                dismissal_reason=None, author=SYSTEM_AUTHOR, comment=comment, created_at=now))
    # ORM bulk UPDATE by primary key groups rows by their set of columns: one executemany per shape.
    for shape_rows in _by_shape([dict(values, id=vid) for vid, values in updates.items()]):
        for row_batch in chunks(shape_rows):
            session.execute(update(Vulnerability), row_batch)
    for row_batch in chunks(transitions):
        session.execute(insert(VulnerabilityStateTransition), row_batch)

    seen: list[tuple[ImageScope, list[int]]] = []
    for (scope, by_uuid), result in zip(planned, results):
        result.seen_ids = [existing[k][0] if k in existing else new_ids[k] for k in by_uuid]
        seen.append((scope, result.seen_ids))
    _record_sightings(session, seen, now)
    _expire(session, Vulnerability, set(updates))
    return results


def _by_shape(rows: list[dict]) -> list[list[dict]]:
    shapes: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    return list(shapes.values())


def _record_sightings(session: Session, seen: list[tuple[ImageScope, list[int]]], now: datetime) -> None:
    """Each scope's vulnerabilities are seen in its tag and digest now; earlier digests of the same tag are no
    longer current for them. All sightings of the touched vulnerabilities are read once and the differences
    written in bulk; scopes apply in order."""
    touched = sorted({vid for _, ids in seen for vid in ids})
    by_vid: dict[int, dict[tuple[str, str], dict]] = {}
    for chunk in chunks(touched):
        for sid, vid, tag, digest, active, last_seen in session.execute(
            select(VulnerabilitySighting.id, VulnerabilitySighting.vulnerability_id, VulnerabilitySighting.image_tag,
                   VulnerabilitySighting.image_digest, VulnerabilitySighting.active,
                   VulnerabilitySighting.last_seen_at).where(VulnerabilitySighting.vulnerability_id.in_(chunk))
        ):
            by_vid.setdefault(vid, {})[(tag, digest)] = dict(id=sid, active=active, last_seen_at=last_seen)
    inserts: dict[tuple[int, str, str], dict] = {}
    dirty: dict[int, dict] = {}
    for scope, ids in seen:
        digest = scope.digest or ""
        for vid in ids:
            rows = by_vid.setdefault(vid, {})
            row = rows.get((scope.tag, digest))
            if row is None:
                row = rows[(scope.tag, digest)] = dict(id=None, active=True, last_seen_at=now)
                inserts[(vid, scope.tag, digest)] = dict(vulnerability_id=vid, image_tag=scope.tag,
                                                         image_digest=digest, first_seen_at=now, active=True)
            else:
                row.update(active=True, last_seen_at=now)
            if row["id"] is not None:
                dirty[row["id"]] = row
            for (tag, other), stale in rows.items():
                if tag == scope.tag and other != digest and stale["active"]:
                    stale["active"] = False
                    if stale["id"] is not None:
                        dirty[stale["id"]] = stale
                    else:
                        inserts[(vid, tag, other)]["active"] = False
    insert_rows = [dict(values, last_seen_at=by_vid[key[0]][(key[1], key[2])]["last_seen_at"])
                   for key, values in inserts.items()]
    for row_batch in chunks(insert_rows):
        session.execute(insert(VulnerabilitySighting), row_batch)
    update_rows = [dict(id=sid, active=row["active"], last_seen_at=row["last_seen_at"]) for sid, row in dirty.items()]
    for row_batch in chunks(update_rows):
        session.execute(update(VulnerabilitySighting), row_batch)
    _expire(session, VulnerabilitySighting, set(dirty))


def mark_not_detected(
    session: Session, scope: ImageScope, keep_ids: Iterable[int], *, auto_resolve: bool,
    package_names: set[str] | None = None, now: datetime | None = None,
) -> list[int]:
    """Per-image resolution: this tag's vulnerabilities not in `keep_ids` lose their sighting; those seen in no
    current tag of the image become "no longer detected" (and resolved when `auto_resolve`).
    `package_names` narrows the check to those packages (continuous re-matching of a few keys)."""
    return mark_not_detected_many(session, [(scope, keep_ids, package_names)], auto_resolve=auto_resolve,
                                  now=now)[0]


def mark_not_detected_many(
    session: Session, batch: Sequence[tuple[ImageScope, Iterable[int], set[str] | None]], *, auto_resolve: bool,
    now: datetime | None = None,
) -> list[list[int]]:
    """`mark_not_detected` for many images at once, in bulk statements: every scope's sightings are dropped
    first, then a vulnerability seen in no current tag becomes no longer detected (listed under the first
    scope that dropped it). Per scope: (scope, ids to keep, package names or None for all)."""
    now = now or utcnow()
    session.flush()
    out: list[list[int]] = [[] for _ in batch]
    wanted: list[tuple[int, tuple[int, str, int], set[int], set[str] | None]] = []
    for index, (scope, keep_ids, package_names) in enumerate(batch):
        if package_names is not None and not package_names:
            continue
        key = (scope.project_id, scope.name, REPORT_TYPES[scope.report_type])
        wanted.append((index, key, set(keep_ids), package_names))
    if not wanted:
        return out
    # id, state, no_longer_detected of each vulnerability of the scopes' images (and packages)
    cols = (Vulnerability.id, Vulnerability.project_id, Vulnerability.image_name, Vulnerability.report_type,
            Vulnerability.package_name, Vulnerability.state, Vulnerability.no_longer_detected)
    keys = {key for _, key, _, _ in wanted}
    rows_by_key: dict[tuple[int, str, int], list[tuple[int, str, str, bool]]] = {}
    if all(names is not None for _, _, _, names in wanted):  # by package name (indexed), then by image
        names_all = sorted({n for _, _, _, names in wanted for n in names or ()})
        for name_chunk in chunks(names_all):
            for vid, pid, image_name, rtype, package, state, gone in session.execute(
                select(*cols).where(Vulnerability.package_name.in_(name_chunk))
            ):
                if (pid, image_name, rtype) in keys:
                    rows_by_key.setdefault((pid, image_name, rtype), []).append((vid, package, state, gone))
    else:
        for pid, image_name, rtype in sorted(keys):
            rows_by_key[(pid, image_name, rtype)] = [
                (vid, package, state, gone) for vid, _, _, _, package, state, gone in session.execute(
                    select(*cols).where(Vulnerability.project_id == pid, Vulnerability.report_type == rtype,
                                        Vulnerability.image_name == image_name))]

    candidates: list[tuple[int, list[int]]] = []
    by_tag: dict[str, set[int]] = {}
    facts: dict[int, tuple[str, bool]] = {}
    for index, key, keep, names in wanted:
        ids = []
        for vid, package, state, gone in rows_by_key.get(key, ()):
            if vid in keep or (names is not None and package not in names):
                continue
            ids.append(vid)
            facts[vid] = (state, gone)
        if ids:
            candidates.append((index, ids))
            by_tag.setdefault(batch[index][0].tag, set()).update(ids)
    if not candidates:
        return out
    sightings = table_of(VulnerabilitySighting)
    for tag, tag_ids in by_tag.items():
        for chunk in chunks(sorted(tag_ids)):
            session.execute(sightings.update().where(sightings.c.vulnerability_id.in_(chunk),
                                                     sightings.c.image_tag == tag).values(active=False))
    all_ids = sorted(facts)
    still_seen: set[int] = set()
    for chunk in chunks(all_ids):
        still_seen.update(session.scalars(select(sightings.c.vulnerability_id).where(
            sightings.c.vulnerability_id.in_(chunk), sightings.c.active.is_(True))))
    changed: list[dict] = []
    resolved: list[dict] = []
    transitions: list[dict] = []
    done: set[int] = set()
    for index, ids in candidates:
        for vid in ids:
            state, already = facts[vid]
            if vid in still_seen or already or vid in done:
                continue
            done.add(vid)
            out[index].append(vid)
            if auto_resolve and state in ("detected", "confirmed"):
                transitions.append(dict(vulnerability_id=vid, from_state=state, to_state="resolved",
                                        dismissal_reason=None, author=SYSTEM_AUTHOR, comment="no longer detected",
                                        created_at=now))
                resolved.append(dict(id=vid, no_longer_detected=True, no_longer_detected_at=now, state="resolved",
                                     resolved_at=now, updated_at=now))
            else:
                changed.append(dict(id=vid, no_longer_detected=True, no_longer_detected_at=now, updated_at=now))
    for rows in (changed, resolved):
        for row_batch in chunks(rows):
            session.execute(update(Vulnerability), row_batch)
    for row_batch in chunks(transitions):
        session.execute(insert(VulnerabilityStateTransition), row_batch)
    _expire(session, Vulnerability, done)
    for obj in list(session.identity_map.values()):  # sightings were deactivated by statement
        if isinstance(obj, VulnerabilitySighting) and obj.__dict__.get("vulnerability_id", -1) in facts:
            session.expire(obj)
    return out


# --- the switch to per-platform scanning keeps a tag's triage ---------------------------------------------------

SINGLE_PLATFORM = "linux/amd64"  # what a tag was scanned as before it was scanned per platform
CARRIED_STATES = ("dismissed", "confirmed")
AUTO_RESOLVED = "no longer detected"  # the comment of `mark_not_detected`'s automatic resolution


def _single_platform_twins(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Of findings recorded under a platform's name (`host/app [linux/arm64]`): id -> (the GitLab UUID the same
    finding had when the tag was scanned as one platform, `host/app`; the platform)."""
    out: dict[int, tuple[str, str]] = {}
    for vid, pid, rtype, image_name, package, id_fp in session.execute(
        select(Vulnerability.id, Vulnerability.project_id, Vulnerability.report_type, Vulnerability.image_name,
               Vulnerability.package_name, Vulnerability.identifier_fingerprint)
        .where(Vulnerability.id.in_(ids))
    ):
        plain, platform = split_platform(image_name)
        if platform is not None and rtype in REPORT_TYPE_NAMES:
            out[vid] = (finding_uuid(REPORT_TYPE_NAMES[rtype], id_fp, location_fingerprint(plain, package), pid),
                        platform)
    return out


def mirrors_of_single_platform_findings(session: Session, new_ids: Sequence[int]) -> set[int]:
    """Of newly created findings recorded under a platform's name, those that mirror a finding the tag already
    had when it was scanned as one platform: the same identifier and package (the GitLab UUID but for the
    platform), still detected when the image was first scanned per platform (the switch-over itself marks it no
    longer detected, at the time of the image's first per-platform finding). Any platform counts: the arm64
    finding is a new finding of a new build, but not a new vulnerability of the image. A few queries per 500."""
    session.flush()
    twins: dict[int, str] = {}  # new id -> legacy UUID
    for chunk in chunks(sorted(set(new_ids))):
        twins.update({vid: legacy for vid, (legacy, _) in _single_platform_twins(session, chunk).items()})
    if not twins:
        return set()
    current: set[str] = set()  # legacy UUIDs still detected at the switch-over
    switched: dict[tuple[int, int, str], datetime | None] = {}  # (project, report type, image) -> switch time
    for uuid_chunk in chunks(sorted(set(twins.values()))):
        for key, pid, rtype, image_name, gone, gone_at in session.execute(
            select(Vulnerability.uuid, Vulnerability.project_id, Vulnerability.report_type, Vulnerability.image_name,
                   Vulnerability.no_longer_detected, Vulnerability.no_longer_detected_at)
            .where(Vulnerability.uuid.in_(uuid_chunk))
        ):
            if not gone:
                current.add(key)
                continue
            image = (pid, rtype, image_name)
            if image not in switched:
                switched[image] = session.scalar(select(func.min(Vulnerability.detected_at)).where(
                    Vulnerability.project_id == pid, Vulnerability.report_type == rtype,
                    Vulnerability.image_name.startswith(f"{image_name} [", autoescape=True)))
            first = switched[image]
            if gone_at is not None and first is not None and gone_at >= first:
                current.add(key)
    return {vid for vid, legacy in twins.items() if legacy in current}


def carry_single_platform_triage(session: Session, new_ids: Sequence[int], *,
                                 now: datetime | None = None) -> list[int]:
    """Newly created findings of one platform of a multi-arch index (`host/app [linux/amd64]`) take over the
    triage of the finding with the same identifier and package that the tag had when it was scanned as one
    platform (`host/app`, the same GitLab UUID but for the platform suffix): its status and dismissal reason
    (unless that was only the automatic "no longer detected" resolution, or a resolution a rescan would undo)
    and its issue link, with a history entry naming the old finding; the old finding keeps its own history and
    ends as before (no longer detected). Only the linux/amd64 finding takes the state: the tag was scanned as
    linux/amd64 before, so that is the build the team triaged. Another platform's finding is a different
    build that nobody reviewed; as in GitLab, where a dismissal belongs to one finding fingerprint, it stays
    "needs triage" and only gets a comment pointing at the earlier decision, never a silent dismissal.
    Called with the ids `record_findings` just created; a finding with history beyond its detection is left
    alone, so a re-run changes nothing. Returns the ids whose state was carried. A few bulk statements per 500
    findings."""
    now = now or utcnow()
    session.flush()
    # legacy UUID -> [(new id, platform)] of the new findings recorded under a platform's name
    wanted: dict[str, list[tuple[int, str]]] = {}
    for chunk in chunks(sorted(set(new_ids))):
        platforms = _single_platform_twins(session, chunk)
        if not platforms:
            continue
        touched = set(session.scalars(select(VulnerabilityStateTransition.vulnerability_id).where(
            VulnerabilityStateTransition.vulnerability_id.in_(sorted(platforms)),
            VulnerabilityStateTransition.kind != DETECTED)))
        for vid, (legacy, platform) in platforms.items():
            if vid not in touched:  # else triaged (or carried to) already
                wanted.setdefault(legacy, []).append((vid, platform))
    if not wanted:
        return []
    old: dict[int, tuple[str, list[str | None], str]] = {}  # old id -> (uuid, [state, reason], image name)
    for uuid_chunk in chunks(sorted(wanted)):
        for vid, key, state, reason, image_name in session.execute(
            select(Vulnerability.id, Vulnerability.uuid, Vulnerability.state, Vulnerability.dismissal_reason,
                   Vulnerability.image_name).where(Vulnerability.uuid.in_(uuid_chunk))
        ):
            old[vid] = (key, [state, reason], image_name)
    if not old:
        return []
    talked: set[int] = set()  # old findings with comments or state changes of their own
    for chunk in chunks(sorted(old)):
        q = (select(VulnerabilityStateTransition)
             .where(VulnerabilityStateTransition.vulnerability_id.in_(chunk),
                    VulnerabilityStateTransition.kind != DETECTED)
             .order_by(VulnerabilityStateTransition.id))
        last: dict[int, VulnerabilityStateTransition] = {}
        for t in session.scalars(q):
            if t.author != SYSTEM_AUTHOR:
                talked.add(t.vulnerability_id)
            if t.kind == STATE_CHANGE:
                last[t.vulnerability_id] = t
        for vid, t in last.items():
            facts = old[vid][1]
            if facts[0] == "resolved" and t.author == SYSTEM_AUTHOR and t.comment == AUTO_RESOLVED:
                facts[:] = [t.from_state or "detected", None]  # the switch-over itself resolved it: not a decision
    links = {link.vulnerability_id: link for chunk in chunks(sorted(old)) for link in session.scalars(
        select(VulnerabilityIssueLink).where(VulnerabilityIssueLink.vulnerability_id.in_(chunk)))}
    carried: list[int] = []
    updates: list[dict] = []
    entries: list[dict] = []
    new_links: list[dict] = []
    for old_id, (legacy, (was, reason), image_name) in sorted(old.items()):
        state = was or "detected"
        link = links.get(old_id)
        decided = state in CARRIED_STATES
        if not (decided or link is not None or old_id in talked):
            continue  # nothing was decided about it: nothing to carry
        told = f"{state}{f' ({reason})' if reason else ''}"
        for new_id, platform in wanted[legacy]:
            if platform != SINGLE_PLATFORM:
                entries.append(dict(
                    vulnerability_id=new_id, kind=COMMENT, from_state="detected", to_state="detected",
                    dismissal_reason=None, author=SYSTEM_AUTHOR, created_at=now, comment=(
                        f"Before {image_name} was scanned per platform it was scanned as {SINGLE_PLATFORM} only; "
                        f"that finding (#{old_id}) is {told}. Not carried over to {platform}, a build nobody "
                        f"triaged: review this one.")))
                continue
            comment = (f"Triage carried over from #{old_id} ({image_name}, scanned as {SINGLE_PLATFORM} only) "
                       f"when the tag was first scanned per platform; its history stays there.")
            if link is not None:
                new_links.append(dict(vulnerability_id=new_id, url=link.url, title=link.title, author=link.author,
                                      created_at=link.created_at))
                comment += f" Issue link: {link.url}"
            if decided:
                carried.append(new_id)
                updates.append(dict(id=new_id, state=state, dismissal_reason=reason, updated_at=now))
                entries.append(dict(vulnerability_id=new_id, kind=STATE_CHANGE, from_state="detected", to_state=state,
                                    dismissal_reason=reason, author=SYSTEM_AUTHOR, comment=comment, created_at=now))
            else:
                entries.append(dict(vulnerability_id=new_id, kind=COMMENT, from_state="detected", to_state="detected",
                                    dismissal_reason=None, author=SYSTEM_AUTHOR, created_at=now,
                                    comment=comment + ("" if state == "detected" else f" There it is {told}; "
                                                       "here it is detected again.")))
    for row_batch in chunks(updates):
        session.execute(update(Vulnerability), row_batch)
    for rows in (entries, new_links):
        model = VulnerabilityStateTransition if rows is entries else VulnerabilityIssueLink
        for row_batch in chunks(rows):
            session.execute(insert(model), row_batch)
    _expire(session, Vulnerability, set(carried))
    return carried


def change_state(
    session: Session, ids: Iterable[int], to_state: str, *, author: str, comment: str | None = None,
    dismissal_reason: str | None = None, project_id: int | None = None, project_ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> list[Vulnerability]:
    """Triage (one or many): every transition is recorded with who, when, from, to, reason and comment.
    `project_id`/`project_ids` confine the change to those projects (a group report's triageable projects):
    an id outside them is refused like an unknown one."""
    if to_state not in STATES:
        raise VulnerabilityError(f"unknown state {to_state!r}; expected one of {', '.join(STATES)}")
    if to_state == "dismissed":
        if dismissal_reason not in DISMISSAL_REASONS:
            raise VulnerabilityError(f"dismissal needs a reason: one of {', '.join(DISMISSAL_REASONS)}")
    elif dismissal_reason:
        raise VulnerabilityError("a dismissal reason only goes with the dismissed state")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise VulnerabilityError(f"comment is longer than {MAX_COMMENT} characters")
    now = now or utcnow()
    ids = sorted(set(int(i) for i in ids))
    rows: list[Vulnerability] = []
    for chunk in chunks(ids):
        q = select(Vulnerability).where(Vulnerability.id.in_(chunk))
        if project_id is not None:
            q = q.where(Vulnerability.project_id == project_id)
        if project_ids is not None:
            q = q.where(Vulnerability.project_id.in_(list(project_ids)))
        rows.extend(session.scalars(q))
    if len(rows) != len(ids):
        missing = sorted(set(ids) - {v.id for v in rows})
        raise VulnerabilityError(f"unknown vulnerability id(s): {missing[:10]}")
    for v in rows:
        unchanged = v.state == to_state and v.dismissal_reason == dismissal_reason
        if unchanged and not comment:
            continue
        session.add(VulnerabilityStateTransition(  # the same state with a comment is a comment, not a change
            vulnerability_id=v.id, kind=COMMENT if unchanged else STATE_CHANGE, from_state=v.state, to_state=to_state,
            dismissal_reason=dismissal_reason, comment=comment, author=author, created_at=now))
        v.state = to_state
        v.dismissal_reason = dismissal_reason if to_state == "dismissed" else None
        v.resolved_at = now if to_state == "resolved" else None
    session.flush()
    return rows


def add_comment(session: Session, vulnerability: Vulnerability, text: str, *, author: str,
                now: datetime | None = None) -> VulnerabilityStateTransition:
    """A comment alone: a history entry of kind "comment" (the status stays; it is not a change to itself)."""
    text = text.strip()
    if not text:
        raise VulnerabilityError("a comment needs some text")
    if len(text) > MAX_COMMENT:
        raise VulnerabilityError(f"comment is longer than {MAX_COMMENT} characters")
    entry = VulnerabilityStateTransition(
        vulnerability_id=vulnerability.id, kind=COMMENT, from_state=vulnerability.state, to_state=vulnerability.state,
        dismissal_reason=vulnerability.dismissal_reason, comment=text, author=author, created_at=now or utcnow())
    session.add(entry)
    session.flush()
    return entry


def history(session: Session, vulnerability_id: int) -> list[VulnerabilityStateTransition]:
    return list(session.scalars(select(VulnerabilityStateTransition).where(
        VulnerabilityStateTransition.vulnerability_id == vulnerability_id).order_by(VulnerabilityStateTransition.id)))


def entered_current_state(session: Session, vulnerabilities: Sequence[Vulnerability]) -> dict[int, datetime]:
    """When each vulnerability entered the state it is in (its latest transition into it), for those with one:
    GitLab's `confirmed_at`/`dismissed_at`/`resolved_at`. One query per chunk of ids, so a page costs the same
    whatever its size."""
    wanted = {v.id: v.state for v in vulnerabilities}
    T = VulnerabilityStateTransition
    found: dict[int, datetime] = {}
    for chunk in chunks(list(wanted)):
        rows = session.execute(select(T.vulnerability_id, T.to_state, T.created_at)
                               .where(T.vulnerability_id.in_(chunk), T.to_state.in_(set(wanted.values())))
                               .order_by(T.id))
        for vid, to_state, created_at in rows:
            if wanted[vid] == to_state:
                found[vid] = created_at  # ordered by id: the latest transition into the state wins
    return found


def project_vulnerability(session: Session, project_id: int, vulnerability_id: int) -> Vulnerability | None:
    """A vulnerability of the project; None for another project's (hidden and missing answer alike)."""
    v = session.get(Vulnerability, vulnerability_id)
    return v if v is not None and v.project_id == project_id else None


def sightings(session: Session, vulnerability_id: int) -> list[VulnerabilitySighting]:
    return list(session.scalars(select(VulnerabilitySighting).where(
        VulnerabilitySighting.vulnerability_id == vulnerability_id).order_by(VulnerabilitySighting.first_seen_at)))


@dataclass
class VulnerabilityFilter:
    """Which vulnerabilities: one project (`project_id`), several (`project_ids`: a group or the instance as the
    viewer may read it; an empty list matches nothing), or every project when both are None."""

    project_id: int | None = None
    project_ids: list[int] | None = None
    report_types: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    states: Sequence[str] | None = None
    image: str | None = None  # matches image name or name:tag
    identifier: str | None = None  # any of its identifiers (CVE, GHSA, distribution ids), any case
    package: str | None = None
    package_prefix: str | None = None  # package names starting with it (the report's search box)
    has_fix: bool | None = None
    known_exploited: bool | None = None
    has_issue: bool | None = None  # linked to an issue (GitLab's have_issues)
    activity: str | None = None  # still_detected | no_longer_detected | detected_by_advisory_update
    detected_after: datetime | None = None
    detected_before: datetime | None = None

    def conditions(self) -> list:
        c: list = []
        if self.project_id is not None:
            c.append(Vulnerability.project_id == self.project_id)
        if self.project_ids is not None:
            c.append(Vulnerability.project_id.in_(sorted(set(self.project_ids))))
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
            c.append(_identifier_matches(self.identifier))
        if self.package:
            c.append(Vulnerability.package_name == self.package)
        if self.package_prefix:
            c.append(Vulnerability.package_name.startswith(self.package_prefix, autoescape=True))
        if self.has_fix is not None:
            c.append(Vulnerability.has_fix.is_(self.has_fix))
        if self.known_exploited is not None:
            c.append(Vulnerability.known_exploited.is_(self.known_exploited))
        if self.has_issue is not None:
            linked = select(VulnerabilityIssueLink.vulnerability_id).where(
                VulnerabilityIssueLink.vulnerability_id == Vulnerability.id).exists()
            c.append(linked if self.has_issue else ~linked)
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


def _identifier_matches(identifier: str) -> ColumnElement[bool]:
    """The primary identifier or any alias equal to `identifier`, ignoring case (GHSA-… finds the CVE row).

    Aliases live in a JSON list; its text holds each one as a JSON string, so the quoted, lower-cased value is
    searched in the lower-cased text (LIKE wildcards in the value escaped): one portable condition."""
    wanted = identifier.strip().lower()
    quoted = json.dumps(wanted)
    return or_(func.lower(Vulnerability.primary_identifier) == wanted,
               func.lower(cast(Vulnerability.identifiers, Text)).contains(quoted, autoescape=True))


SORTS = {"severity_desc", "severity_asc", "detected_desc", "detected_asc", "risk"}


def risk_order() -> list:
    """The "risk" sort (docs/risk.md), most urgent first: known exploited, then EPSS (the score orders exactly as
    its percentile), then CVSS score, then whether a fix exists; unknown values last, id breaks ties."""
    return [cast(Vulnerability.known_exploited, Integer), func.coalesce(Vulnerability.epss_score, -1.0),
            func.coalesce(Vulnerability.cvss_score, -1.0), cast(Vulnerability.has_fix, Integer), Vulnerability.id]


def _risk_key(v: Vulnerability) -> list:
    return [int(v.known_exploited), v.epss_score if v.epss_score is not None else -1.0,
            v.cvss_score if v.cvss_score is not None else -1.0, int(v.has_fix), v.id]


def _query_by_risk(session: Session, flt: VulnerabilityFilter, cursor: str | None,
                   limit: int) -> tuple[list[Vulnerability], str | None]:
    """`query_vulnerabilities` in risk order: a keyset over the five sort keys (all descending)."""
    cols = risk_order()
    q = select(Vulnerability).where(*flt.conditions())
    if cursor:
        try:
            key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            key = [int(key[0]), float(key[1]), float(key[2]), int(key[3]), int(key[4])]
        except Exception as exc:  # noqa: BLE001 - any garbage is a bad cursor
            raise VulnerabilityError("invalid cursor") from exc
        after = [and_(*(c == k for c, k in zip(cols[:i], key[:i], strict=True)), cols[i] < key[i])
                 for i in range(len(cols))]
        q = q.where(or_(*after))
    rows = list(session.scalars(q.order_by(*(c.desc() for c in cols)).limit(limit + 1)))
    next_cursor = base64.urlsafe_b64encode(json.dumps(_risk_key(rows[limit - 1])).encode()).decode() \
        if len(rows) > limit else None
    return rows[:limit], next_cursor


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
    if sort == "risk":
        return _query_by_risk(session, flt, cursor, limit)
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
    counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    q = select(Vulnerability.severity, func.count()).where(*flt.conditions()).group_by(Vulnerability.severity)
    for sev, n in session.execute(q):
        counts[sev] = counts.get(sev, 0) + n
    return counts


# --- the vulnerability report: one query for a project, a group and the instance (a filter's project scope) ---

_STATUS_ORDER = case({"detected": 0, "confirmed": 1, "dismissed": 2, "resolved": 3}, value=Vulnerability.state,
                     else_=4)
REPORT_SORTS: dict[str, tuple[Any, ...]] = {  # column expressions
    "severity": (Vulnerability.severity_rank,),
    "detected": (Vulnerability.detected_at,),
    "package": (Vulnerability.package_name, Vulnerability.package_version),
    "identifier": (Vulnerability.primary_identifier,),
    "image": (Vulnerability.image,),
    "status": (_STATUS_ORDER,),
    "risk": tuple(risk_order()[:-1]),  # docs/risk.md: KEV, EPSS, CVSS, fix available
}
REPORT_PAGE_SIZES = (20, 50, 100)


def report_select(flt: VulnerabilityFilter, *, sort: str = "severity_desc", page: int = 1,
                  per_page: int = 20) -> Select[int]:
    """The ids of page `page` (1-based) of the report in `sort` order (`<key>_asc|desc`, keys of REPORT_SORTS).
    Ties go by id in the same direction, so pages never overlap, and the default order (severity, id) is exactly
    the ix_vulnerabilities_report_severity index: a project's first page reads 20 index entries, not the table.
    Ids only: a deep page (an offset) or a group's sort then orders narrow rows, not whole vulnerabilities."""
    key, _, direction = sort.rpartition("_")
    if key not in REPORT_SORTS or direction not in ("asc", "desc"):
        raise VulnerabilityError(f"unknown sort {sort!r}")
    per_page = max(1, min(int(per_page), max(REPORT_PAGE_SIZES)))
    page = max(1, int(page))
    desc = direction == "desc"
    order = [c.desc() if desc else c.asc() for c in (*REPORT_SORTS[key], Vulnerability.id)]
    q = select(Vulnerability.id).where(*flt.conditions()).order_by(*order)
    return q.offset((page - 1) * per_page).limit(per_page)


def report_page(session: Session, flt: VulnerabilityFilter, *, sort: str = "severity_desc", page: int = 1,
                per_page: int = 20) -> list[Vulnerability]:
    """The vulnerabilities of `report_select`'s page, in its order (one more query, by primary key)."""
    ids = list(session.scalars(report_select(flt, sort=sort, page=page, per_page=per_page)))
    found = {v.id: v for v in session.scalars(select(Vulnerability).where(Vulnerability.id.in_(ids)))} if ids else {}
    return [found[i] for i in ids if i in found]


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(SEVERITIES, 0)


def _image_name(image: str) -> str:
    """`<name>:<tag>` -> `<name>` (a registry port before the first `/` is not a tag)."""
    name, sep, tag = image.rpartition(":")
    return name if sep and "/" not in tag else image


def report_facets(session: Session, flt: VulnerabilityFilter) -> tuple[dict[str, int], list[str]]:
    """Severity counts under `flt`, and every image of the report under its status filter (so the Image list
    always offers all of them). One grouped query when only status, severity and image are filtered (the
    common case); the count query besides it otherwise."""
    base = VulnerabilityFilter(project_id=flt.project_id, project_ids=flt.project_ids,
                               report_types=flt.report_types, states=flt.states)
    q = (select(Vulnerability.image, Vulnerability.severity, func.count()).where(*base.conditions())
         .group_by(Vulnerability.image, Vulnerability.severity).order_by(Vulnerability.image))
    rows = session.execute(q).all()
    images = sorted({image for image, _, _ in rows})[:1000]
    if replace(flt, severities=None, image=None) != base:
        return severity_counts(session, flt), images
    counts = _zero_counts()
    for image, sev, n in rows:
        sev = sev if sev in counts else "unknown"
        if flt.severities and sev not in flt.severities:
            continue
        if flt.image is None or flt.image in (image, _image_name(image)):
            counts[sev] += n
    return counts, images


def _day(session: Session, column: Any) -> ColumnElement:
    """The UTC calendar day of a timestamp, portable across SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


@dataclass
class Trend:
    days: list[date]
    series: dict[str, list[int]]  # severity -> open count at the end of each day

    @property
    def maximum(self) -> int:
        return max((max(v) for v in self.series.values() if v), default=0)


OPEN_STATES = ("detected", "confirmed")


def severity_trend(session: Session, flt: VulnerabilityFilter, days: int = 30, today: date | None = None) -> Trend:
    """Open (needs triage or confirmed) vulnerabilities under `flt` (its status filter aside) per severity at the
    end of each of the last `days` days. A vulnerability counts from its detection until the change that made
    it resolved or dismissed, if that is its state now: so the last day equals the open counts shown beside
    the chart. Two grouped queries (openings and closings per day and severity); the running sum is done here."""
    today = today or datetime.now(timezone.utc).date()
    window = [today - timedelta(days=days - 1 - i) for i in range(days)]
    first = window[0].isoformat()
    scope = replace(flt, states=None).conditions()
    closing = (select(func.max(VulnerabilityStateTransition.created_at))
               .where(VulnerabilityStateTransition.vulnerability_id == Vulnerability.id,
                      VulnerabilityStateTransition.to_state == Vulnerability.state)
               .correlate(Vulnerability).scalar_subquery())
    closed_at = func.coalesce(closing, Vulnerability.resolved_at, Vulnerability.updated_at)
    opened: dict[str, dict[str, int]] = {s: {} for s in _zero_counts()}
    closed: dict[str, dict[str, int]] = {s: {} for s in _zero_counts()}
    for target, when, extra in ((opened, Vulnerability.detected_at, []),
                                (closed, closed_at, [Vulnerability.state.not_in(OPEN_STATES)])):
        day = _day(session, when)
        q = select(day, Vulnerability.severity, func.count()).where(*scope, *extra).group_by(day, Vulnerability.severity)
        for d, sev, n in session.execute(q):
            key = d if d >= first else "before"
            per_day = target[sev if sev in target else "unknown"]
            per_day[key] = per_day.get(key, 0) + n
    series: dict[str, list[int]] = {}
    for sev in opened:
        running = opened[sev].get("before", 0) - closed[sev].get("before", 0)
        values = []
        for d in window:
            running += opened[sev].get(d.isoformat(), 0) - closed[sev].get(d.isoformat(), 0)
            values.append(max(running, 0))
        series[sev] = values
    return Trend(days=window, series=series)


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


def count_vulnerabilities(session: Session, flt: VulnerabilityFilter) -> int:
    """How many match: the `X-Total` of offset-paginated (GitLab-style) lists."""
    return session.scalar(select(func.count()).select_from(Vulnerability).where(*flt.conditions())) or 0


def page_vulnerabilities(session: Session, flt: VulnerabilityFilter, *, page: int, per_page: int) -> list[Vulnerability]:
    """Page `page` (1-based) in a stable order, newest first: GitLab clients page by number, not by cursor."""
    q = select(Vulnerability).where(*flt.conditions()).order_by(Vulnerability.id.desc())
    return list(session.scalars(q.offset((page - 1) * per_page).limit(per_page)))


def iter_vulnerability_batches(session: Session, flt: VulnerabilityFilter,
                               batch: int = 1000) -> Iterator[list[Vulnerability]]:
    """Every match in keyset batches of `batch`, so an export's memory stays bounded."""
    last_id = 0
    while rows := list(session.scalars(select(Vulnerability).where(*flt.conditions(), Vulnerability.id > last_id)
                                       .order_by(Vulnerability.id).limit(batch))):
        yield rows
        last_id = rows[-1].id


def comments_of(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    """The triage comments of these vulnerabilities, oldest first (the export's "Comments" column)."""
    out: dict[int, list[str]] = {}
    q = select(VulnerabilityStateTransition).where(VulnerabilityStateTransition.vulnerability_id.in_(list(ids)),
                                                   VulnerabilityStateTransition.comment.is_not(None))
    for t in session.scalars(q.order_by(VulnerabilityStateTransition.id)):
        out.setdefault(t.vulnerability_id, []).append(t.comment or "")
    return out


# --- issue links ------------------------------------------------------------------------------------------------

MAX_URL = 2048
MAX_ISSUE_TITLE = 255
TEMPLATE_FIELDS = ("title", "identifier", "package", "version", "image", "severity", "id")
_PLACEHOLDER = re.compile(r"\{([^{}]{0,40})\}")


def check_issue_url(url: str) -> str:
    """An issue's address: http(s) with a host, no spaces or control characters, at most 2048 characters (it
    becomes a link others click, so `javascript:` and friends never get in)."""
    url = (url or "").strip()
    if not url:
        raise VulnerabilityError("an issue link needs its URL")
    if len(url) > MAX_URL:
        raise VulnerabilityError(f"the URL is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise VulnerabilityError("the URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise VulnerabilityError("the URL is not a valid address") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise VulnerabilityError("the URL must start with http:// or https:// and name a host")
    return url


def issue_link(session: Session, vulnerability_id: int) -> VulnerabilityIssueLink | None:
    return session.get(VulnerabilityIssueLink, vulnerability_id)


def set_issue_link(session: Session, vulnerability: Vulnerability, url: str, title: str | None, *, author: str,
                   now: datetime | None = None) -> VulnerabilityIssueLink:
    """Link the finding to its issue (replacing an earlier link); the title defaults to the URL."""
    url = check_issue_url(url)
    title = " ".join((title or "").split()) or url
    if len(title) > MAX_ISSUE_TITLE:
        raise VulnerabilityError(f"the issue title is longer than {MAX_ISSUE_TITLE} characters")
    return put_row(session, VulnerabilityIssueLink, vulnerability.id, vulnerability_id=vulnerability.id, url=url,
                   title=title, author=author, created_at=now or utcnow())


def remove_issue_link(session: Session, vulnerability: Vulnerability) -> bool:
    link = session.get(VulnerabilityIssueLink, vulnerability.id)
    if link is not None:
        session.delete(link)
        session.flush()
    return link is not None


def check_issue_template(template: str) -> str:
    """A project's new-issue URL template: an http(s) URL whose placeholders are only `{title}`, `{identifier}`,
    `{package}`, `{version}`, `{image}`, `{severity}` and `{id}` (never Python's format mini-language)."""
    template = (template or "").strip()
    unknown = [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) not in TEMPLATE_FIELDS]
    if unknown:
        raise VulnerabilityError(f"unknown placeholder {{{unknown[0]}}}; use {', '.join(f'{{{f}}}' for f in TEMPLATE_FIELDS)}")
    check_issue_url(_PLACEHOLDER.sub("x", template))
    return template


def issue_tracker_template(session: Session, project_id: int) -> str | None:
    row = session.get(VulnerabilityIssueTracker, project_id)
    return row.url_template if row is not None else None


def set_issue_tracker_template(session: Session, project_id: int, template: str | None) -> str | None:
    """Set (or, when empty, remove) the project's issue-tracker template."""
    row = session.get(VulnerabilityIssueTracker, project_id)
    if not (template or "").strip():
        if row is not None:
            session.delete(row)
            session.flush()
        return None
    template = check_issue_template(template or "")
    put_row(session, VulnerabilityIssueTracker, project_id, project_id=project_id, url_template=template)
    return template


def issue_title(v: Vulnerability) -> str:
    """"CVE-2023-43804 in urllib3 1.24.1": what an issue about this finding is called."""
    return f"{v.primary_identifier} in {v.package_name} {v.package_version}"[:MAX_ISSUE_TITLE]


def fill_issue_template(template: str, v: Vulnerability) -> str:
    """The template with the finding's values URL-encoded into it (each value is data, never URL syntax)."""
    values = {"title": issue_title(v), "identifier": v.primary_identifier, "package": v.package_name,
              "version": v.package_version, "image": v.image, "severity": v.severity, "id": str(v.id)}
    filled = _PLACEHOLDER.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)
    return check_issue_url(filled)


def package_vulnerabilities(session: Session, project_id: int,
                            packages: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[Vulnerability]]:
    """Open, still-detected registry vulnerabilities of these (package name, version) pairs, most severe first
    (GitLab's dependency entity lists them)."""
    out: dict[tuple[str, str], list[Vulnerability]] = {p: [] for p in set(packages)}
    if not out:
        return out
    q = (select(Vulnerability)
         .where(Vulnerability.project_id == project_id, Vulnerability.state.in_(OPEN_STATES),
                Vulnerability.report_type == REPORT_TYPES["container_scanning_for_registry"],
                Vulnerability.no_longer_detected.is_(False),
                tuple_(Vulnerability.package_name, Vulnerability.package_version).in_(sorted(out)))
         .order_by(Vulnerability.severity_rank.desc(), Vulnerability.id))
    for v in session.scalars(q):
        out[(v.package_name, v.package_version)].append(v)
    return out


def package_severity_counts(session: Session, project_id: int, packages: Sequence[tuple[str, str]],
                            images: Sequence[str] | None = None) -> dict[tuple[str, str], dict[str, int]]:
    """Open, still-detected registry vulnerabilities per (package name, version) and severity (the dependency
    list's column), optionally only in these images (`<name>:<tag>`). One grouped query."""
    wanted = sorted(set(packages))
    out: dict[tuple[str, str], dict[str, int]] = {p: _zero_counts() for p in wanted}
    if not wanted:
        return out
    q = (select(Vulnerability.package_name, Vulnerability.package_version, Vulnerability.severity, func.count())
         .where(Vulnerability.project_id == project_id, Vulnerability.state.in_(OPEN_STATES),
                Vulnerability.report_type == REPORT_TYPES["container_scanning_for_registry"],
                Vulnerability.no_longer_detected.is_(False),
                tuple_(Vulnerability.package_name, Vulnerability.package_version).in_(wanted))
         .group_by(Vulnerability.package_name, Vulnerability.package_version, Vulnerability.severity))
    if images is not None:
        q = q.where(Vulnerability.image.in_(list(images)))
    for name, version, severity, n in session.execute(q):
        counts = out[(name, version)]
        counts[severity if severity in counts else "unknown"] += n
    return out


def open_counts_by_project(session: Session, project_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Severity counts of open (detected or confirmed) registry vulnerabilities for many projects in one query:
    exactly the rows of each project's Container registry tab under its default filter."""
    ids = list(project_ids)
    out: dict[int, dict[str, int]] = {pid: _zero_counts() for pid in ids}
    if not ids:
        return out
    q = (select(Vulnerability.project_id, Vulnerability.severity, func.count())
         .where(Vulnerability.project_id.in_(ids), Vulnerability.state.in_(OPEN_STATES),
                Vulnerability.report_type == REPORT_TYPES["container_scanning_for_registry"])
         .group_by(Vulnerability.project_id, Vulnerability.severity))
    for pid, sev, n in session.execute(q):
        out[pid][sev if sev in SEVERITIES else "unknown"] += n
    return out


def open_counts_by_image(session: Session, project_id: int) -> dict[tuple[str, str], tuple[str, dict[str, int]]]:
    """(repository, tag) → (image as the report's Image filter names it, severity counts) of the project's open
    registry vulnerabilities still detected, in one grouped query (the images page's columns)."""
    out: dict[tuple[str, str], tuple[str, dict[str, int]]] = {}
    q = (select(Vulnerability.image, Vulnerability.image_name, Vulnerability.image_tag, Vulnerability.severity,
                func.count())
         .where(Vulnerability.project_id == project_id, Vulnerability.state.in_(OPEN_STATES),
                Vulnerability.report_type == REPORT_TYPES["container_scanning_for_registry"],
                Vulnerability.no_longer_detected.is_(False))
         .group_by(Vulnerability.image, Vulnerability.image_name, Vulnerability.image_tag, Vulnerability.severity))
    for image, name, tag, sev, n in session.execute(q):
        repo = name.split("/", 1)[1] if "/" in name else name  # image name is <host>/<repository>
        counts = out[(repo, tag or "")][1] if (repo, tag or "") in out else _zero_counts()
        counts[sev if sev in SEVERITIES else "unknown"] += n
        out[(repo, tag or "")] = (image, counts)
    return out
