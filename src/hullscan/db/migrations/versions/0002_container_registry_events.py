"""container registry events

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from hullscan.db.base import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "container_registry_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("repository", sa.String(512), nullable=False),
        sa.Column("tag", sa.String(128)),
        sa.Column("digest", sa.String(160)),
        sa.Column("media_type", sa.String(255)),
        sa.Column("size", sa.BigInteger),
        sa.Column("actor", sa.String(255)),
        sa.Column("source_addr", sa.String(255)),
        sa.Column("source_instance", sa.String(255)),
        sa.Column("registry_host", sa.String(255)),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="SET NULL",
                                                           name="fk_container_registry_events_project_id_projects")),
        sa.Column("timestamp", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("processed_at", UTCDateTime),
        sa.Column("envelope", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_container_registry_events"),
        sa.UniqueConstraint("event_id", name="uq_container_registry_events_event_id"),
    )
    op.create_index("ix_container_registry_events_repository", "container_registry_events", ["repository"])
    op.create_index("ix_container_registry_events_project_id", "container_registry_events", ["project_id"])
    op.create_index("ix_container_registry_events_processed_at", "container_registry_events", ["processed_at"])


def downgrade() -> None:
    op.drop_table("container_registry_events")
