"""Tables of the pipelines part (runners, pipelines, jobs, logs, artifacts) and of the events policy
(dropped pushes, rate-limit windows). Other parts use `hullscan.pipelines.service` and
`hullscan.events.service`, not these tables."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from hullscan.db.base import Base, UTCDateTime, utcnow


class Runner(Base):
    """A registered runner process; its token is stored only as a sha256 hash."""

    __tablename__ = "ci_runners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    description: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    is_local: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Pipeline(Base):
    """One registry-triggered scan: source `container_registry_push`, run as the project's security bot."""

    __tablename__ = "ci_pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    run_as: Mapped[str] = mapped_column(String(255), nullable=False)
    registry_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("container_registry_events.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    """The `container_scanning` job of a pipeline: the queue entry runners claim and lease."""

    __tablename__ = "ci_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("ci_pipelines.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    registry_host: Mapped[str] = mapped_column(String(255), nullable=False)
    registry_origin: Mapped[str] = mapped_column(String(64), nullable=False)  # embedded | webhook | reconcile
    repository: Mapped[str] = mapped_column(String(512), nullable=False, index=True)
    tag: Mapped[str] = mapped_column(String(128), nullable=False)
    digest: Mapped[str | None] = mapped_column(String(160))
    variables: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    failure_reason: Mapped[str | None] = mapped_column(String(512))
    runner_id: Mapped[int | None] = mapped_column(ForeignKey("ci_runners.id", ondelete="SET NULL"))
    token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    timeout_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=3600)
    log_size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The scan could not analyse the whole image (a layer unreadable or over a cap): packages may be missing.
    partial: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    partial_reasons: Mapped[list[str] | None] = mapped_column(JSON)


class ProjectScanSettings(Base):
    """A project's scan-job policy; no row means the defaults."""

    __tablename__ = "ci_project_scan_settings"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    #: False (default, as Trivy only warns): a partial scan succeeds, marked partial. True: it fails the job.
    fail_partial_scans: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class JobLogChunk(Base):
    """A piece of a job's log starting at byte `offset` (appends are idempotent by offset)."""

    __tablename__ = "ci_job_log_chunks"
    __table_args__ = (UniqueConstraint("job_id", "offset", name="uq_ci_job_log_chunks_job_id_offset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("ci_jobs.id", ondelete="CASCADE"), nullable=False)
    offset: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)


class JobArtifact(Base):
    """A job's file, stored content-addressed under `<data_dir>/artifacts/sha256/`. SBOMs of successful jobs
    are ingested after the job finishes (as GitLab ingests reports after the pipeline), durably: a row with
    `ingested_at` unset is still due."""

    __tablename__ = "ci_job_artifacts"
    __table_args__ = (UniqueConstraint("job_id", "name", name="uq_ci_job_artifacts_job_id_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("ci_jobs.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    file_type: Mapped[str] = mapped_column(String(32), nullable=False)  # cyclonedx
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    ingested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # None: ingestion still due
    ingest_error: Mapped[str | None] = mapped_column(String(512))
    # what the server's matching of this SBOM could not check (no silent gaps; end-of-life releases), as ingested
    ingest_warnings: Mapped[list[str] | None] = mapped_column(JSON)


class DroppedPush(Base):
    """A registry event that did not become a scan, with the reason users see."""

    __tablename__ = "cs4r_dropped_pushes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("container_registry_events.id", ondelete="SET NULL", name="fk_cs4r_dropped_pushes_registry_event_id"),
        index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    repository: Mapped[str] = mapped_column(String(512), nullable=False)
    tag: Mapped[str | None] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(160))
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ScanRateWindow(Base):
    """Per-project scan counter in a fixed 24 h window that starts at the first counted scan."""

    __tablename__ = "cs4r_rate_windows"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
