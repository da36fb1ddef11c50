"""redhat_repository_cpes: Red Hat's repository-to-CPE map (content set -> product CPEs), so images built on
EUS, E4S, SAP, HA, ... repositories match only their products' CSAF statements

Revision ID: 0028
Revises: 0026
"""
import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redhat_repository_cpes",
        sa.Column("repository", sa.String(200), primary_key=True),
        sa.Column("cpes", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("redhat_repository_cpes")
