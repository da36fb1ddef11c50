"""advisories: per-CVE severities from NVD and CVE records; the source of an advisory's severity

Revision ID: 0013
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0004"
branch_labels = None
depends_on = "0006"  # stored vulnerabilities record where their severity came from too


def upgrade() -> None:
    op.create_table(
        "cve_severities",
        sa.Column("cve_id", sa.String(64), nullable=False),
        sa.Column("feed", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16)),
        sa.Column("score", sa.Float),
        sa.Column("vector", sa.String(255)),
        sa.Column("cvss_version", sa.String(8)),
        sa.Column("source", sa.String(64)),
        sa.Column("modified", sa.String(32)),
        sa.PrimaryKeyConstraint("cve_id", "feed", name="pk_cve_severities"),
    )
    with op.batch_alter_table("advisories") as batch:
        batch.add_column(sa.Column("severity_source", sa.String(64)))
    with op.batch_alter_table("vulnerabilities") as batch:
        batch.add_column(sa.Column("severity_source", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("vulnerabilities") as batch:
        batch.drop_column("severity_source")
    with op.batch_alter_table("advisories") as batch:
        batch.drop_column("severity_source")
    op.drop_table("cve_severities")
