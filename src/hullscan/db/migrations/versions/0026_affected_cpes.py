"""per-product affected entries: advisory_affected.cpes — the vendor products (CPEs) a Red Hat CSAF statement is
made for, so an image matches only the products of its repositories (UBI content sets); NULL when not stated

Revision ID: 0026
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("advisory_affected") as batch:
        batch.add_column(sa.Column("cpes", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("advisory_affected") as batch:
        batch.drop_column("cpes")
