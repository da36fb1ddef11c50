"""projects

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from hullscan.db.base import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("container_scanning_for_registry_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("cs4r_tag_patterns", sa.JSON, nullable=False),
        sa.Column("cs4r_daily_limit", sa.Integer, nullable=False, server_default="50"),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("path", name="uq_projects_path"),
    )


def downgrade() -> None:
    op.drop_table("projects")
