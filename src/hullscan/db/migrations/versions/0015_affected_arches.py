"""per-arch affected entries: advisory_affected.arches — the architectures an entry is limited to (Oracle Linux
respins x86_64 and aarch64 at different builds); empty for every architecture

Revision ID: 0015
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("advisory_affected") as batch:
        batch.add_column(sa.Column("arches", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("advisory_affected") as batch:
        batch.drop_column("arches")
