"""The policy part's service: a project's pull gate, its exceptions, and the one query the registry asks on
every manifest GET and HEAD.

The gate reads the vulnerability tables directly, in one SQL statement per pull (policy, scanned-or-not and
the blocking identifiers together), because it sits on the registry's hottest path; every other part reads
policy through the functions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, false, literal, or_, select, true, union
from sqlalchemy.orm import Session

from hullscan.auth import service as auth_service
from hullscan.auth.principal import Kind, Principal
from hullscan.db.base import put_row, utcnow
from hullscan.db.models.policy import ProjectPolicy, PullException
from hullscan.db.models.registry import RegistryManifest, RegistryManifestReference
from hullscan.db.models.vulnerabilities import SbomSource, Vulnerability, VulnerabilitySighting
from hullscan.severities import RANK, SEVERITIES
from hullscan.registry.errors import RegistryError
from hullscan.registry.names import parse_digest, validate_name
from hullscan.registry.service import StoredManifest

BLOCKING_STATES = ("detected", "confirmed")  # dismissed and resolved findings never block
MAX_BLOCKERS = 200  # rows the gate reads at most; the message names the first MAX_NAMED identifiers
MAX_NAMED = 20
MAX_GRACE_DAYS = 365
MAX_EXCEPTION_DAYS = 366
AUDIT_ACTION = "pull_blocked"


class PolicyError(ValueError):
    """A policy or exception that cannot be saved (unknown severity, expiry in the past, ...)."""


@dataclass(frozen=True)
class PolicySettings:
    """What maintainers set; the defaults are a project that never set anything (gate off)."""

    gate_enabled: bool = False
    min_severity: str = "critical"
    fixable_only: bool = False
    kev_only: bool = False
    grace_days: int = 0
    fail_closed: bool = False
    ingest_referrer_sboms: bool = False

    def describe(self) -> str:
        """The policy in words, for the DENIED message and the audit log."""
        parts = [f"block {self.min_severity} or above"]
        if self.fixable_only:
            parts.append("fixable only")
        if self.kev_only:
            parts.append("known exploited only")
        if self.grace_days:
            parts.append(f"{self.grace_days}-day grace for new advisories")
        if self.fail_closed:
            parts.append("unscanned images blocked")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"gate_enabled": self.gate_enabled, "min_severity": self.min_severity,
                "fixable_only": self.fixable_only, "kev_only": self.kev_only, "grace_days": self.grace_days,
                "fail_closed": self.fail_closed, "ingest_referrer_sboms": self.ingest_referrer_sboms}


@dataclass(frozen=True)
class Decision:
    """Why a pull is blocked: the identifiers (or that the image was never scanned) and the policy."""

    identifiers: tuple[str, ...]
    unscanned: bool
    policy: PolicySettings

    def message(self) -> str:
        if self.unscanned:
            return f"pull blocked by the project's policy ({self.policy.describe()}): the image has not been scanned"
        named = ", ".join(self.identifiers[:MAX_NAMED])
        more = f" and {len(self.identifiers) - MAX_NAMED} more" if len(self.identifiers) > MAX_NAMED else ""
        return f"pull blocked by the project's policy ({self.policy.describe()}): {named}{more}"


def _settings_of(row: ProjectPolicy | None) -> PolicySettings:
    if row is None:
        return PolicySettings()
    return PolicySettings(gate_enabled=row.gate_enabled, min_severity=row.min_severity, fixable_only=row.fixable_only,
                          kev_only=row.kev_only, grace_days=row.grace_days, fail_closed=row.fail_closed,
                          ingest_referrer_sboms=row.ingest_referrer_sboms)


def get_policy(session: Session, project_id: int) -> PolicySettings:
    return _settings_of(session.get(ProjectPolicy, project_id))


def set_policy(session: Session, project_id: int, policy: PolicySettings, *, author: str) -> PolicySettings:
    """Validate and store a project's policy (the whole of it)."""
    if policy.min_severity not in SEVERITIES or policy.min_severity == "unknown":
        raise PolicyError(f"min_severity must be one of {', '.join(SEVERITIES[:-1])}")
    if not 0 <= policy.grace_days <= MAX_GRACE_DAYS:
        raise PolicyError(f"grace_days must be between 0 and {MAX_GRACE_DAYS}")
    put_row(session, ProjectPolicy, project_id, project_id=project_id, **policy.as_dict(),
            min_severity_rank=RANK[policy.min_severity], updated_by=author[:255], updated_at=utcnow())
    return policy


def ingests_referrer_sboms(session: Session, project_id: int) -> bool:
    """Does the project take SBOMs its users push as referrers instead of scanning the image?"""
    return bool(session.scalar(select(ProjectPolicy.ingest_referrer_sboms)
                               .where(ProjectPolicy.project_id == project_id)))


# -- exceptions ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExceptionSpec:
    identifier: str
    reason: str
    expires_at: datetime
    repository: str | None = None
    image_digest: str | None = None


def add_exception(session: Session, project_id: int, project_path: str, spec: ExceptionSpec, *,
                  author: str, now: datetime | None = None) -> PullException:
    """Let one identifier through the gate until `expires_at`, in the project, a repository of it or one image."""
    now = now or utcnow()
    identifier, reason = spec.identifier.strip(), spec.reason.strip()
    if not identifier or len(identifier) > 128 or not identifier.isprintable() or \
            any(c.isspace() for c in identifier):
        raise PolicyError("identifier must be 1-128 printable characters without spaces (for example CVE-2024-0727)")
    if not reason or len(reason) > 2000 or "\x00" in reason:
        raise PolicyError("reason must be 1-2000 characters (no NUL)")
    expires = spec.expires_at if spec.expires_at.tzinfo else spec.expires_at.replace(tzinfo=now.tzinfo)
    if expires <= now:
        raise PolicyError("expires_at must be in the future")
    if expires > now + timedelta(days=MAX_EXCEPTION_DAYS):
        raise PolicyError(f"an exception lasts at most {MAX_EXCEPTION_DAYS} days")
    if spec.repository is not None and spec.image_digest is not None:
        raise PolicyError("scope an exception to a repository or to an image digest, not both")
    try:
        if spec.repository is not None:
            validate_name(spec.repository)
            if not spec.repository.startswith(project_path + "/"):
                raise PolicyError(f"repository {spec.repository!r} is not in project {project_path}")
        if spec.image_digest is not None:
            parse_digest(spec.image_digest)
    except RegistryError as exc:
        raise PolicyError(exc.message) from None
    row = PullException(project_id=project_id, identifier=identifier, repository=spec.repository,
                        image_digest=spec.image_digest, expires_at=expires, author=author.replace("\x00", "")[:255],
                        reason=reason, created_at=now)
    session.add(row)
    session.flush()
    return row


def list_exceptions(session: Session, project_id: int) -> list[PullException]:
    """All of a project's exceptions, expired ones too (they say who allowed what, until when)."""
    return list(session.scalars(select(PullException).where(PullException.project_id == project_id)
                                .order_by(PullException.expires_at.desc(), PullException.id.desc())))


def delete_exception(session: Session, project_id: int, exception_id: int) -> PullException | None:
    row = session.scalars(select(PullException).where(PullException.project_id == project_id,
                                                      PullException.id == exception_id)).one_or_none()
    if row is not None:
        session.execute(delete(PullException).where(PullException.id == exception_id))
    return row


def exception_json(row: PullException, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    scope = "image" if row.image_digest else "repository" if row.repository else "project"
    return {"id": row.id, "identifier": row.identifier, "scope": scope, "repository": row.repository,
            "image_digest": row.image_digest, "expires_at": row.expires_at.isoformat(),
            "expired": row.expires_at <= now, "author": row.author, "reason": row.reason,
            "created_at": row.created_at.isoformat()}


# -- the gate ------------------------------------------------------------------------------------------------------
def exempt(principal: Principal) -> bool:
    """Scan jobs (job tokens, and registry tokens issued for them) pull whatever the gate says: they are how an
    image gets scanned in the first place."""
    return principal.kind is Kind.JOB or principal.kind is Kind.SYSTEM or \
        (principal.credential or "").startswith("job:")


def check_pull(session: Session, *, project_id: int, repository_id: int, repository: str, digest: str,
               now: datetime | None = None) -> Decision | None:
    """The gate's decision for a pull of `digest` from `repository` (None: allowed), in one statement.

    The image is the manifest pulled, an index of the repository that lists it (a multi-platform pull
    fetches the children by digest; their findings are the index's) or, for an index, the platform manifests it
    lists (each scanned on its own). Rows come oldest advisory first, so the
    grace period cuts a prefix and the rest block."""
    now = now or utcnow()
    parents = (select(RegistryManifest.digest)
               .join(RegistryManifestReference, RegistryManifestReference.manifest_id == RegistryManifest.id)
               .where(RegistryManifest.repository_id == repository_id, RegistryManifestReference.kind == "manifest",
                      RegistryManifestReference.digest == digest))
    children = (select(RegistryManifestReference.digest)  # an index pulled: its platforms are scanned one by one
                .join(RegistryManifest, RegistryManifestReference.manifest_id == RegistryManifest.id)
                .where(RegistryManifest.repository_id == repository_id, RegistryManifest.digest == digest,
                       RegistryManifestReference.kind == "manifest"))
    images = union(select(literal(digest)), parents, children)
    seen_in_image = (select(VulnerabilitySighting.vulnerability_id)
                     .where(VulnerabilitySighting.image_digest.in_(images), VulnerabilitySighting.active == true()))
    excepted = exists().where(
        PullException.project_id == project_id, PullException.identifier == Vulnerability.primary_identifier,
        PullException.expires_at > now,
        or_(PullException.repository.is_(None), PullException.repository == repository),
        or_(PullException.image_digest.is_(None), PullException.image_digest.in_(images)))
    blocking = and_(
        Vulnerability.id.in_(seen_in_image),
        Vulnerability.project_id == ProjectPolicy.project_id,
        Vulnerability.state.in_(BLOCKING_STATES),
        Vulnerability.severity_rank >= ProjectPolicy.min_severity_rank,
        or_(ProjectPolicy.fixable_only == false(), Vulnerability.has_fix == true()),
        or_(ProjectPolicy.kev_only == false(), Vulnerability.known_exploited == true()),
        ~excepted,
    )
    siblings = (select(RegistryManifestReference.digest)  # a child of a scanned index (an attestation too)
                .join(RegistryManifest, RegistryManifestReference.manifest_id == RegistryManifest.id)
                .where(RegistryManifest.repository_id == repository_id, RegistryManifest.digest.in_(parents),
                       RegistryManifestReference.kind == "manifest"))
    scanned = exists().where(SbomSource.project_id == project_id,
                             SbomSource.image_digest.in_(union(select(literal(digest)), parents, children, siblings)))
    query = (
        select(ProjectPolicy, scanned.label("scanned"), Vulnerability.primary_identifier, Vulnerability.published_at)
        .select_from(ProjectPolicy)
        .outerjoin(Vulnerability, blocking)
        .where(ProjectPolicy.project_id == project_id, ProjectPolicy.gate_enabled == true())
        .order_by(Vulnerability.published_at.asc().nulls_first(), Vulnerability.primary_identifier)
        .limit(MAX_BLOCKERS)
    )
    rows = session.execute(query).all()
    if not rows:
        return None
    policy = _settings_of(rows[0][0])
    was_scanned = bool(rows[0][1])
    if not was_scanned:
        return Decision((), True, policy) if policy.fail_closed else None
    cutoff = now - timedelta(days=policy.grace_days)
    ids: list[str] = []
    for _, _, identifier, published in rows:
        if identifier is None or (policy.grace_days and published is not None and published > cutoff):
            continue
        if identifier not in ids:
            ids.append(identifier)
    return Decision(tuple(ids), False, policy) if ids else None


def record_block(session: Session, principal: Principal, decision: Decision, *, repository: str, reference: str,
                 digest: str, method: str, client_ip: str | None) -> None:
    """Write a blocked pull to the audit log (what the image page lists)."""
    auth_service.audit(session, principal, AUDIT_ACTION, f"{repository}@{digest}", client_ip=client_ip,
                       outcome="denied", message=decision.message()[:2000], details={
                           "repository": repository, "reference": reference, "digest": digest, "method": method,
                           "identifiers": list(decision.identifiers[:MAX_NAMED]), "unscanned": decision.unscanned,
                           "policy": decision.policy.as_dict()})


@dataclass(frozen=True)
class BlockedPull:
    at: datetime
    actor: str
    repository: str
    reference: str
    digest: str
    identifiers: tuple[str, ...]
    unscanned: bool
    client_ip: str | None


def blocked_pulls(session: Session, project_path: str, *, limit: int = 50,
                  repository: str | None = None) -> list[BlockedPull]:
    """The project's most recent blocked pulls, newest first, from the audit log."""
    prefix = (repository + "@") if repository else (project_path + "/")
    out = []
    for e in auth_service.list_audit_events(session, limit=limit, action=AUDIT_ACTION, target_prefix=prefix):
        d = e.details or {}
        out.append(BlockedPull(at=e.created_at, actor=e.actor, repository=str(d.get("repository", "")),
                               reference=str(d.get("reference", "")), digest=str(d.get("digest", "")),
                               identifiers=tuple(str(i) for i in d.get("identifiers", [])),
                               unscanned=bool(d.get("unscanned")), client_ip=e.client_ip))
    return out


def blocked_pull_json(b: BlockedPull) -> dict[str, Any]:
    return {"at": b.at.isoformat(), "actor": b.actor, "repository": b.repository, "reference": b.reference,
            "digest": b.digest, "identifiers": list(b.identifiers), "unscanned": b.unscanned,
            "client_ip": b.client_ip}


def registry_gate(session: Session, principal: Principal, manifest: StoredManifest, reference: str, method: str,
                  client_ip: str | None) -> RegistryError | None:
    """The hook the registry calls on manifest GET and HEAD (`app.state.pull_gate`): DENIED (403) naming the
    blocking identifiers and the policy, audited in the pull's transaction; None lets the pull through."""
    if exempt(principal) or manifest.project_id is None or manifest.repository_id is None:
        return None
    decision = check_pull(session, project_id=manifest.project_id, repository_id=manifest.repository_id,
                          repository=manifest.repository, digest=manifest.digest)
    if decision is None:
        return None
    record_block(session, principal, decision, repository=manifest.repository, reference=reference,
                 digest=manifest.digest, method=method, client_ip=client_ip)
    return RegistryError("DENIED", decision.message(), detail={
        "identifiers": list(decision.identifiers[:MAX_NAMED]), "unscanned": decision.unscanned,
        "policy": decision.policy.as_dict(), "digest": manifest.digest})
