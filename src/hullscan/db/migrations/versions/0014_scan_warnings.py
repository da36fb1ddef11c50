"""scan warnings: ci_job_artifacts.ingest_warnings — what the server's matching of a scan could not check (no
advisories loaded for an ecosystem, no feed for the OS release, an end-of-life release), kept with the scan

Revision ID: 0014
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ci_job_artifacts") as batch:
        batch.add_column(sa.Column("ingest_warnings", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("ci_job_artifacts") as batch:
        batch.drop_column("ingest_warnings")
