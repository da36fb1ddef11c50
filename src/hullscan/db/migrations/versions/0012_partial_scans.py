"""partial scans: ci_jobs.partial and partial_reasons; per-project ci_project_scan_settings (fail_partial_scans)

Revision ID: 0012
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ci_jobs") as batch:
        batch.add_column(sa.Column("partial", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("partial_reasons", sa.JSON))
    op.create_table(
        "ci_project_scan_settings",
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE",
                                                           name="fk_ci_project_scan_settings_project_id_projects"),
                  nullable=False),
        sa.Column("fail_partial_scans", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_ci_project_scan_settings"),
    )


def downgrade() -> None:
    op.drop_table("ci_project_scan_settings")
    with op.batch_alter_table("ci_jobs") as batch:
        batch.drop_column("partial_reasons")
        batch.drop_column("partial")
