"""sbom_occurrences keep the whole package record (arch, licenses, properties)

Re-matching rebuilds a package from its occurrence with the package record's codec (scanner/package_record.py);
without the architecture and the properties (epoch, modularity label, ...) advisory rows that depend on them
applied differently than at the first match.

Revision ID: 0010
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sbom_occurrences") as batch:
        batch.add_column(sa.Column("arch", sa.Text()))
        batch.add_column(sa.Column("licenses", sa.JSON()))
        batch.add_column(sa.Column("properties", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("sbom_occurrences") as batch:
        batch.drop_column("properties")
        batch.drop_column("licenses")
        batch.drop_column("arch")
