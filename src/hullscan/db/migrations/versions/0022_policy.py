"""policy: project_policies (pull gate, referrer SBOM ingestion) and pull_exceptions

Revision ID: 0022
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from hullscan.db.base import UTCDateTime

revision = "0022"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_policies",
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                           name="fk_project_policies_project_id_projects"),
                  nullable=False),
        sa.Column("gate_enabled", sa.Boolean, nullable=False),
        sa.Column("min_severity", sa.String(16), nullable=False),
        sa.Column("min_severity_rank", sa.SmallInteger, nullable=False),
        sa.Column("fixable_only", sa.Boolean, nullable=False),
        sa.Column("kev_only", sa.Boolean, nullable=False),
        sa.Column("grace_days", sa.Integer, nullable=False),
        sa.Column("fail_closed", sa.Boolean, nullable=False),
        sa.Column("ingest_referrer_sboms", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.String(255)),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_project_policies"),
    )
    op.create_table(
        "pull_exceptions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                           name="fk_pull_exceptions_project_id_projects"),
                  nullable=False),
        sa.Column("identifier", sa.String(128), nullable=False),
        sa.Column("repository", sa.String(255)),
        sa.Column("image_digest", sa.String(160)),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pull_exceptions"),
    )
    op.create_index("ix_pull_exceptions_lookup", "pull_exceptions", ["project_id", "identifier"])


def downgrade() -> None:
    op.drop_table("pull_exceptions")
    op.drop_table("project_policies")
