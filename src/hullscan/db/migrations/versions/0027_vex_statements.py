"""vex: vex_statements, the imported VEX statements that keep applying to findings recorded later

Revision ID: 0027
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

from hullscan.db.base import UTCDateTime

revision = "0027"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vex_statements",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                           name="fk_vex_statements_project_id_projects"),
                  nullable=False),
        sa.Column("document", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("vulnerability", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("justification", sa.String(128)),
        sa.Column("notes", sa.Text),
        sa.Column("products", sa.JSON, nullable=False),
        sa.Column("subject_digest", sa.String(160)),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vex_statements"),
    )
    op.create_index("ix_vex_statements_lookup", "vex_statements", ["project_id", "vulnerability"])
    op.create_index("ix_vex_statements_document", "vex_statements", ["project_id", "document"])


def downgrade() -> None:
    op.drop_index("ix_vex_statements_document", "vex_statements")
    op.drop_index("ix_vex_statements_lookup", "vex_statements")
    op.drop_table("vex_statements")
