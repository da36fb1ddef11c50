"""Tables of the policy part: a project's pull gate (and what it accepts from users' SBOM referrers) and the
exceptions maintainers grant to the gate, per vulnerability identifier."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hullscan.db.base import Base, UTCDateTime, utcnow


class ProjectPolicy(Base):
    """One row per project that set a policy; a project without a row has the gate off."""

    __tablename__ = "project_policies"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    gate_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    min_severity: Mapped[str] = mapped_column(String(16), nullable=False, default="critical")
    min_severity_rank: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=4)
    fixable_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    kev_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    grace_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fail_closed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # SBOMs users push as referrers of an image (artifactType CycloneDX) are ingested instead of a scan.
    ingest_referrer_sboms: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    updated_by: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class PullException(Base):
    """A vulnerability identifier the gate lets through, in a project, one repository or one image digest."""

    __tablename__ = "pull_exceptions"
    __table_args__ = (Index("ix_pull_exceptions_lookup", "project_id", "identifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    identifier: Mapped[str] = mapped_column(String(128), nullable=False)
    repository: Mapped[str | None] = mapped_column(String(255))  # None: the whole project
    image_digest: Mapped[str | None] = mapped_column(String(160))  # set: this image only
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    author: Mapped[str] = mapped_column(String(255), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
