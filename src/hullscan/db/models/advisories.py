"""Tables of the advisories part: the normalised advisory store, its alias graph, CVE enrichment (KEV, EPSS),
per-source sync state and the changesets continuous re-matching consumes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hullscan.db.base import Base, UTCDateTime, utcnow


class AdvisoryRecord(Base):
    """One advisory as its source published it (OSV record, DSA, USN, Alpine/Debian per-CVE entry)."""

    __tablename__ = "advisories"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    aliases: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)
    modified: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn: Mapped[datetime | None] = mapped_column(UTCDateTime)
    severity: Mapped[str | None] = mapped_column(String(16))
    cvss_vector: Mapped[str | None] = mapped_column(String(255))
    cvss_score: Mapped[float | None] = mapped_column(Float)
    cvss_vectors: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)  # version -> vector
    severity_source: Mapped[str | None] = mapped_column(String(64))  # which field of the record gave `severity`
    references: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class AffectedEntry(Base):
    """One advisory's statement about one (ecosystem, normalised package): OSV-style ranges and versions."""

    __tablename__ = "advisory_affected"
    __table_args__ = (Index("ix_advisory_affected_ecosystem_package", "ecosystem", "package"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advisory_id: Mapped[str] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), nullable=False, index=True
    )
    ecosystem: Mapped[str] = mapped_column(String(64), nullable=False)
    package: Mapped[str] = mapped_column(String(255), nullable=False)
    ranges: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    versions: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    fix_state: Mapped[str] = mapped_column(String(16), nullable=False, default="fixed")
    severity: Mapped[str | None] = mapped_column(String(32))
    arches: Mapped[str | None] = mapped_column(String(255))  # comma-separated; NULL: every architecture
    cpes: Mapped[str | None] = mapped_column(Text)  # space-separated vendor product CPEs; NULL: not stated


class AdvisoryAlias(Base):
    """Edges of the alias graph: advisory `advisory_id` names the same vulnerability as `alias`."""

    __tablename__ = "advisory_aliases"

    advisory_id: Mapped[str] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class VulnerabilityEnrichment(Base):
    """Per-CVE facts from enrichment feeds: CISA KEV (known exploited) and FIRST EPSS."""

    __tablename__ = "vulnerability_enrichment"

    cve_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    known_exploited: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    known_exploited_date: Mapped[str | None] = mapped_column(String(32))
    epss_score: Mapped[float | None] = mapped_column(Float)
    epss_percentile: Mapped[float | None] = mapped_column(Float)


class CveSeverityRecord(Base):
    """The CVSS severity each CVE feed (`nvd`, `cve`) gives a CVE: fills in advisories that carry none of their
    own (docs/severity.md)."""

    __tablename__ = "cve_severities"

    cve_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    feed: Mapped[str] = mapped_column(String(16), primary_key=True)  # nvd | cve
    severity: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    vector: Mapped[str | None] = mapped_column(String(255))
    cvss_version: Mapped[str | None] = mapped_column(String(8))
    source: Mapped[str | None] = mapped_column(String(64))
    modified: Mapped[str | None] = mapped_column(String(32))


class RepositoryCpes(Base):
    """Red Hat's repository-to-CPE map: the products (CPEs, space-separated) each repository (content set)
    ships, replaced whole by each successful sync; matching reads it to scope an image to its products."""

    __tablename__ = "redhat_repository_cpes"

    repository: Mapped[str] = mapped_column(String(200), primary_key=True)
    cpes: Mapped[str] = mapped_column(Text, nullable=False)


class AdvisorySourceState(Base):
    """Sync state per configured source: cursor for incremental sync, counts, last error."""

    __tablename__ = "advisory_sources"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    location: Mapped[str | None] = mapped_column(Text)
    cursor: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    advisories: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped_reasons: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    last_changeset_id: Mapped[int | None] = mapped_column(Integer)


class AdvisoryChangeset(Base):
    """What one sync or import of one source changed."""

    __tablename__ = "advisory_changesets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    added: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    modified: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class AdvisoryChange(Base):
    """One advisory added, modified or withdrawn in a changeset, with the (ecosystem, package) keys it touches."""

    __tablename__ = "advisory_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    changeset_id: Mapped[int] = mapped_column(
        ForeignKey("advisory_changesets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    advisory_id: Mapped[str] = mapped_column(String(128), nullable=False)
    change: Mapped[str] = mapped_column(String(16), nullable=False)  # added | modified | withdrawn
    keys: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # [[ecosystem, package], ...]
