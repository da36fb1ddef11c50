"""Tables of the registry part: repositories, blobs they may read, manifests and tags.

Blob bytes live in blob storage (content-addressed); these tables say which repository may read which
blob and what each manifest references, so `registry gc` can tell what is unreferenced.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hullscan.db.base import Base, UTCDateTime, utcnow


class RegistryRepository(Base):
    """A repository of the embedded registry (`<namespace>/<project>[/<image>...]`)."""

    __tablename__ = "registry_repositories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RegistryBlob(Base):
    """A blob whose bytes are in storage (digest verified on upload)."""

    __tablename__ = "registry_blobs"

    digest: Mapped[str] = mapped_column(String(160), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RegistryRepositoryBlob(Base):
    """A blob a repository may read: uploaded to it or mounted into it."""

    __tablename__ = "registry_repository_blobs"
    __table_args__ = (UniqueConstraint("repository_id", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(  # named explicitly: the convention exceeds PostgreSQL's 63
        ForeignKey("registry_repositories.id", ondelete="CASCADE", name="fk_registry_repository_blobs_repository_id"),
        nullable=False,
    )
    digest: Mapped[str] = mapped_column(ForeignKey("registry_blobs.digest", ondelete="CASCADE"), nullable=False,
                                        index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RegistryManifest(Base):
    """A manifest or index in a repository; its bytes are kept as pushed (at most a few MiB)."""

    __tablename__ = "registry_manifests"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        Index("ix_registry_manifests_repository_id_subject_digest", "repository_id", "subject_digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("registry_repositories.id", ondelete="CASCADE"), nullable=False
    )
    digest: Mapped[str] = mapped_column(String(160), nullable=False)
    media_type: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    subject_digest: Mapped[str | None] = mapped_column(String(160))
    annotations: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RegistryManifestReference(Base):
    """What a manifest points at: its config and layers (kind "blob") or child manifests (kind "manifest")."""

    __tablename__ = "registry_manifest_references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("registry_manifests.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    digest: Mapped[str] = mapped_column(String(160), nullable=False, index=True)


class RegistryTag(Base):
    """A tag of a repository pointing at one of its manifests."""

    __tablename__ = "registry_tags"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("registry_repositories.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("registry_manifests.id", ondelete="CASCADE"), nullable=False, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
