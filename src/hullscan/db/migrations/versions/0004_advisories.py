"""advisories: store, alias graph, enrichment, source state, changesets

Revision ID: 0004
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from hullscan.db.base import UTCDateTime

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "advisories",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("aliases", sa.JSON, nullable=False),
        sa.Column("summary", sa.Text),
        sa.Column("details", sa.Text),
        sa.Column("published", UTCDateTime),
        sa.Column("modified", UTCDateTime),
        sa.Column("withdrawn", UTCDateTime),
        sa.Column("severity", sa.String(16)),
        sa.Column("cvss_vector", sa.String(255)),
        sa.Column("cvss_score", sa.Float),
        sa.Column("cvss_vectors", sa.JSON, nullable=False),
        sa.Column("references", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_advisories"),
    )
    op.create_index("ix_advisories_source", "advisories", ["source"])
    op.create_table(
        "advisory_affected",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("advisory_id", sa.String(128), nullable=False),
        sa.Column("ecosystem", sa.String(64), nullable=False),
        sa.Column("package", sa.String(255), nullable=False),
        sa.Column("ranges", sa.JSON, nullable=False),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("fix_state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(32)),
        sa.ForeignKeyConstraint(["advisory_id"], ["advisories.id"], ondelete="CASCADE",
                                name="fk_advisory_affected_advisory_id_advisories"),
        sa.PrimaryKeyConstraint("id", name="pk_advisory_affected"),
    )
    op.create_index("ix_advisory_affected_advisory_id", "advisory_affected", ["advisory_id"])
    op.create_index("ix_advisory_affected_ecosystem_package", "advisory_affected", ["ecosystem", "package"])
    op.create_table(
        "advisory_aliases",
        sa.Column("advisory_id", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(["advisory_id"], ["advisories.id"], ondelete="CASCADE",
                                name="fk_advisory_aliases_advisory_id_advisories"),
        sa.PrimaryKeyConstraint("advisory_id", "alias", name="pk_advisory_aliases"),
    )
    op.create_index("ix_advisory_aliases_alias", "advisory_aliases", ["alias"])
    op.create_table(
        "vulnerability_enrichment",
        sa.Column("cve_id", sa.String(64), nullable=False),
        sa.Column("known_exploited", sa.Boolean, nullable=False),
        sa.Column("known_exploited_date", sa.String(32)),
        sa.Column("epss_score", sa.Float),
        sa.Column("epss_percentile", sa.Float),
        sa.PrimaryKeyConstraint("cve_id", name="pk_vulnerability_enrichment"),
    )
    op.create_table(
        "advisory_sources",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("location", sa.Text),
        sa.Column("cursor", sa.String(64)),
        sa.Column("last_attempt_at", UTCDateTime),
        sa.Column("last_success_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("advisories", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("skipped_reasons", sa.JSON, nullable=False),
        sa.Column("last_changeset_id", sa.Integer),
        sa.PrimaryKeyConstraint("name", name="pk_advisory_sources"),
    )
    op.create_table(
        "advisory_changesets",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("added", sa.Integer, nullable=False),
        sa.Column("modified", sa.Integer, nullable=False),
        sa.Column("withdrawn", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_advisory_changesets"),
    )
    op.create_index("ix_advisory_changesets_source", "advisory_changesets", ["source"])
    op.create_table(
        "advisory_changes",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("changeset_id", sa.Integer, nullable=False),
        sa.Column("advisory_id", sa.String(128), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("keys", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(["changeset_id"], ["advisory_changesets.id"], ondelete="CASCADE",
                                name="fk_advisory_changes_changeset_id_advisory_changesets"),
        sa.PrimaryKeyConstraint("id", name="pk_advisory_changes"),
    )
    op.create_index("ix_advisory_changes_changeset_id", "advisory_changes", ["changeset_id"])


def downgrade() -> None:
    for table in ("advisory_changes", "advisory_changesets", "advisory_sources", "vulnerability_enrichment",
                  "advisory_aliases", "advisory_affected", "advisories"):
        op.drop_table(table)
