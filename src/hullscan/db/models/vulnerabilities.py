"""Tables of ingestion (SBOM sources and occurrences) and the vulnerability domain.

GitLab's split is kept in spirit: an `SbomSource` per (project, image name, tag, OS) with
source_type `container_scanning_for_registry`; `SbomOccurrence` per component found in it; a `Vulnerability` per
(project, report type, primary identifier, location fingerprint) whose UUID is GitLab's UUIDv5; every state
change in `VulnerabilityStateTransition`; where a vulnerability was seen in `VulnerabilitySighting`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hullscan.db.base import Base, UTCDateTime, utcnow


class SbomSource(Base):
    __tablename__ = "sbom_sources"
    __table_args__ = (UniqueConstraint("project_id", "source_type", "image_name", "image_tag",
                                       name="uq_sbom_sources_image"),
                      Index("ix_sbom_sources_project_id_image_digest", "project_id", "image_digest"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    source_type: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    image_name: Mapped[str] = mapped_column(String(512), nullable=False)  # <host>/<repository>, no tag
    image_tag: Mapped[str] = mapped_column(String(128), nullable=False)
    image_digest: Mapped[str | None] = mapped_column(String(160))
    os_name: Mapped[str | None] = mapped_column(String(64))
    os_version: Mapped[str | None] = mapped_column(String(64))
    pipeline_id: Mapped[int | None] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class SbomOccurrence(Base):
    __tablename__ = "sbom_occurrences"
    __table_args__ = (
        Index("ix_sbom_occurrences_match_key", "ecosystem", "package_key"),
        Index("ix_sbom_occurrences_alt_match_key", "ecosystem", "alt_package_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sbom_sources.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(512), nullable=False)
    version: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    purl: Mapped[str | None] = mapped_column(Text)
    source_name: Mapped[str | None] = mapped_column(String(512))
    source_version: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(Text)
    layer_digest: Mapped[str | None] = mapped_column(String(160))
    layer_diff_id: Mapped[str | None] = mapped_column(String(160))
    ecosystem: Mapped[str | None] = mapped_column(String(64))  # the advisory ecosystem it matches under
    package_key: Mapped[str | None] = mapped_column(String(512))  # normalised name advisories are keyed by
    alt_package_key: Mapped[str | None] = mapped_column(String(512))  # OS packages: the binary name too
    # The rest of the package record (scanner/package_record.py `row_of`/`package_from_row`), so a package
    # rebuilt for re-matching is the one matched at ingestion.
    arch: Mapped[str | None] = mapped_column(Text)
    licenses: Mapped[list | None] = mapped_column(JSON)
    properties: Mapped[dict | None] = mapped_column(JSON)


class Vulnerability(Base):
    __tablename__ = "vulnerabilities"
    __table_args__ = (
        Index("ix_vulnerabilities_project_report", "project_id", "report_type", "state"),
        # keyset pages of the report: by severity, by detection time (filters on project/report type first)
        Index("ix_vulnerabilities_report_severity", "project_id", "report_type", "severity_rank", "id"),
        Index("ix_vulnerabilities_report_detected", "project_id", "report_type", "detected_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    report_type: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="detected")
    dismissal_reason: Mapped[str | None] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    severity_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)  # critical 5 ... unknown 0
    title: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    solution: Mapped[str | None] = mapped_column(Text)
    primary_identifier: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    identifiers: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    links: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    advisory_ids: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    location: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    location_fingerprint: Mapped[str] = mapped_column(String(40), nullable=False)
    identifier_fingerprint: Mapped[str] = mapped_column(String(40), nullable=False)
    image: Mapped[str] = mapped_column(String(512), nullable=False, index=True)  # <name>:<tag> last seen
    image_name: Mapped[str] = mapped_column(String(512), nullable=False)
    image_tag: Mapped[str | None] = mapped_column(String(128))
    image_digest: Mapped[str | None] = mapped_column(String(160))
    operating_system: Mapped[str | None] = mapped_column(String(128))
    package_name: Mapped[str] = mapped_column(String(512), nullable=False, index=True)
    package_version: Mapped[str] = mapped_column(String(255), nullable=False)
    package_type: Mapped[str | None] = mapped_column(String(32))
    layer_digest: Mapped[str | None] = mapped_column(String(160))
    fixed_versions: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    fix_state: Mapped[str | None] = mapped_column(String(16))
    has_fix: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    cvss_score: Mapped[float | None] = mapped_column(Float)
    cvss_vector: Mapped[str | None] = mapped_column(String(255))
    severity_source: Mapped[str | None] = mapped_column(String(64))  # docs/severity.md: which feed gave it
    known_exploited: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    epss_score: Mapped[float | None] = mapped_column(Float)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the advisory's (pull gate grace period)
    activity: Mapped[str] = mapped_column(String(32), nullable=False, default="detected_by_scan")
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    no_longer_detected: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    no_longer_detected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class VulnerabilityStateTransition(Base):
    __tablename__ = "vulnerability_state_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vulnerability_id: Mapped[int] = mapped_column(ForeignKey("vulnerabilities.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    #: "detected" (the first entry), "state_change" or "comment" (a comment alone: the state stays as it was)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="state_change",
                                      server_default="state_change")
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16), nullable=False)
    dismissal_reason: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class VulnerabilityIssueLink(Base):
    """The issue in the team's tracker that follows this vulnerability (an http(s) URL and its title)."""

    __tablename__ = "vulnerability_issue_links"

    vulnerability_id: Mapped[int] = mapped_column(ForeignKey("vulnerabilities.id", ondelete="CASCADE"),
                                                  primary_key=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    author: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class VulnerabilityIssueTracker(Base):
    """A project's issue-tracker template: the new-issue URL with `{title}` and `{identifier}` to fill in."""

    __tablename__ = "vulnerability_issue_trackers"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    url_template: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class VulnerabilitySighting(Base):
    """An image tag and digest in which a vulnerability was seen, first and last."""

    __tablename__ = "vulnerability_sightings"
    __table_args__ = (UniqueConstraint("vulnerability_id", "image_tag", "image_digest",
                                       name="uq_vulnerability_sightings_where"),
                      Index("ix_vulnerability_sightings_image_digest", "image_digest"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vulnerability_id: Mapped[int] = mapped_column(ForeignKey("vulnerabilities.id", ondelete="CASCADE"),
                                                  nullable=False, index=True)
    image_tag: Mapped[str] = mapped_column(String(128), nullable=False)
    image_digest: Mapped[str] = mapped_column(String(160), nullable=False, default="")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)  # still in the tag's last SBOM


class IngestionCursor(Base):
    """How far a consumer got in a stream (e.g. the last advisory changeset re-matched)."""

    __tablename__ = "ingestion_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ProjectWebhook(Base):
    """An outbound notification endpoint of a project."""

    __tablename__ = "project_webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    secret: Mapped[str] = mapped_column(String(255), nullable=False)  # HMAC-SHA256 key for the signature header
    events: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # new_vulnerability, scan_failed
    min_severity: Mapped[str] = mapped_column(String(16), nullable=False, default="high")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class WebhookDelivery(Base):
    """One notification to one webhook: written in the transaction that caused it (an outbox), sent later
    with retries and backoff; the log users see."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("project_webhooks.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|delivered|failed
    # The node sending it now; while it sends, next_attempt_at is its lease (another node retries after that).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
