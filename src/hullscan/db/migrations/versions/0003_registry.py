"""embedded registry: repositories, blobs, manifests, references, tags

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from hullscan.db.base import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_repositories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="SET NULL",
                                                           name="fk_registry_repositories_project_id_projects")),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_repositories"),
        sa.UniqueConstraint("name", name="uq_registry_repositories_name"),
    )
    op.create_index("ix_registry_repositories_project_id", "registry_repositories", ["project_id"])

    op.create_table(
        "registry_blobs",
        sa.Column("digest", sa.String(160), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_registry_blobs"),
    )

    op.create_table(
        "registry_repository_blobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey(
            "registry_repositories.id", ondelete="CASCADE",
            name="fk_registry_repository_blobs_repository_id"), nullable=False),
        sa.Column("digest", sa.String(160), sa.ForeignKey(
            "registry_blobs.digest", ondelete="CASCADE",
            name="fk_registry_repository_blobs_digest_registry_blobs"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_repository_blobs"),
        sa.UniqueConstraint("repository_id", "digest", name="uq_registry_repository_blobs_repository_id"),
    )
    op.create_index("ix_registry_repository_blobs_digest", "registry_repository_blobs", ["digest"])

    op.create_table(
        "registry_manifests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey(
            "registry_repositories.id", ondelete="CASCADE",
            name="fk_registry_manifests_repository_id_registry_repositories"), nullable=False),
        sa.Column("digest", sa.String(160), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("artifact_type", sa.String(255)),
        sa.Column("subject_digest", sa.String(160)),
        sa.Column("annotations", sa.JSON),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_manifests"),
        sa.UniqueConstraint("repository_id", "digest", name="uq_registry_manifests_repository_id"),
    )
    op.create_index("ix_registry_manifests_repository_id_subject_digest", "registry_manifests",
                    ["repository_id", "subject_digest"])

    op.create_table(
        "registry_manifest_references",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("manifest_id", sa.Integer, sa.ForeignKey(
            "registry_manifests.id", ondelete="CASCADE",
            name="fk_registry_manifest_references_manifest_id_registry_manifests"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(160), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_manifest_references"),
    )
    op.create_index("ix_registry_manifest_references_manifest_id", "registry_manifest_references", ["manifest_id"])
    op.create_index("ix_registry_manifest_references_digest", "registry_manifest_references", ["digest"])

    op.create_table(
        "registry_tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repository_id", sa.Integer, sa.ForeignKey(
            "registry_repositories.id", ondelete="CASCADE",
            name="fk_registry_tags_repository_id_registry_repositories"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("manifest_id", sa.Integer, sa.ForeignKey(
            "registry_manifests.id", ondelete="CASCADE",
            name="fk_registry_tags_manifest_id_registry_manifests"), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_tags"),
        sa.UniqueConstraint("repository_id", "name", name="uq_registry_tags_repository_id"),
    )
    op.create_index("ix_registry_tags_manifest_id", "registry_tags", ["manifest_id"])


def downgrade() -> None:
    op.drop_table("registry_tags")
    op.drop_table("registry_manifest_references")
    op.drop_table("registry_manifests")
    op.drop_table("registry_repository_blobs")
    op.drop_table("registry_blobs")
    op.drop_table("registry_repositories")
