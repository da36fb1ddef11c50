"""pipelines, jobs, runners, artifacts; events policy (dropped pushes, rate windows)

Revision ID: 0005
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from hullscan.db.base import UTCDateTime

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ci_runners",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("is_local", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("contacted_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_ci_runners"),
        sa.UniqueConstraint("token_hash", name="uq_ci_runners_token_hash"),
    )
    op.create_table(
        "ci_pipelines",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                           name="fk_ci_pipelines_project_id_projects"),
                  nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_as", sa.String(255), nullable=False),
        sa.Column("registry_event_id", sa.Integer,
                  sa.ForeignKey("container_registry_events.id", ondelete="SET NULL",
                                name="fk_ci_pipelines_registry_event_id_container_registry_events")),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_ci_pipelines"),
    )
    op.create_index("ix_ci_pipelines_project_id", "ci_pipelines", ["project_id"])
    op.create_table(
        "ci_jobs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("pipeline_id", sa.Integer, sa.ForeignKey("ci_pipelines.id", ondelete="CASCADE",
                                                            name="fk_ci_jobs_pipeline_id_ci_pipelines"),
                  nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                           name="fk_ci_jobs_project_id_projects"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registry_host", sa.String(255), nullable=False),
        sa.Column("registry_origin", sa.String(64), nullable=False),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(160)),
        sa.Column("variables", sa.JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("failure_reason", sa.String(512)),
        sa.Column("runner_id", sa.Integer, sa.ForeignKey("ci_runners.id", ondelete="SET NULL",
                                                          name="fk_ci_jobs_runner_id_ci_runners")),
        sa.Column("token_hash", sa.String(64)),
        sa.Column("lease_expires_at", UTCDateTime),
        sa.Column("not_before", UTCDateTime, nullable=False),
        sa.Column("timeout_seconds", sa.Integer, nullable=False),
        sa.Column("log_size", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_ci_jobs"),
    )
    op.create_index("ix_ci_jobs_pipeline_id", "ci_jobs", ["pipeline_id"])
    op.create_index("ix_ci_jobs_project_id", "ci_jobs", ["project_id"])
    op.create_index("ix_ci_jobs_status", "ci_jobs", ["status"])
    op.create_index("ix_ci_jobs_repository", "ci_jobs", ["repository"])
    op.create_table(
        "ci_job_log_chunks",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("ci_jobs.id", ondelete="CASCADE",
                                                       name="fk_ci_job_log_chunks_job_id_ci_jobs"), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ci_job_log_chunks"),
        sa.UniqueConstraint("job_id", "offset", name="uq_ci_job_log_chunks_job_id_offset"),
    )
    op.create_table(
        "ci_job_artifacts",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("ci_jobs.id", ondelete="CASCADE",
                                                       name="fk_ci_job_artifacts_job_id_ci_jobs"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("file_type", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("ingested_at", UTCDateTime),
        sa.Column("ingest_error", sa.String(512)),
        sa.PrimaryKeyConstraint("id", name="pk_ci_job_artifacts"),
        sa.UniqueConstraint("job_id", "name", name="uq_ci_job_artifacts_job_id_name"),
    )
    op.create_index("ix_ci_job_artifacts_job_id", "ci_job_artifacts", ["job_id"])
    op.create_index("ix_ci_job_artifacts_ingested_at", "ci_job_artifacts", ["ingested_at"])
    op.create_table(
        "cs4r_dropped_pushes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("registry_event_id", sa.Integer,
                  sa.ForeignKey("container_registry_events.id", ondelete="SET NULL",
                                name="fk_cs4r_dropped_pushes_registry_event_id")),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                           name="fk_cs4r_dropped_pushes_project_id_projects")),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("tag", sa.String(128)),
        sa.Column("digest", sa.String(160)),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(512)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cs4r_dropped_pushes"),
    )
    op.create_index("ix_cs4r_dropped_pushes_registry_event_id", "cs4r_dropped_pushes", ["registry_event_id"])
    op.create_index("ix_cs4r_dropped_pushes_project_id", "cs4r_dropped_pushes", ["project_id"])
    op.create_table(
        "cs4r_rate_windows",
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                           name="fk_cs4r_rate_windows_project_id_projects"),
                  nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_cs4r_rate_windows"),
    )


def downgrade() -> None:
    for table in ("cs4r_rate_windows", "cs4r_dropped_pushes", "ci_job_artifacts", "ci_job_log_chunks", "ci_jobs",
                  "ci_pipelines", "ci_runners"):
        op.drop_table(table)
