from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hullscan.db.base import Base, UTCDateTime, utcnow


class ContainerRegistryEvent(Base):
    """Every push/delete a registry reports, stored once (idempotent by event id).

    Shaped like a CNCF Distribution notification event. Written by the embedded registry in the same
    transaction as the manifest change, or by the inbound webhook for external registries. The `events`
    part turns qualifying ones into ImagePushedEvents; `processed_at` marks that it looked at one.
    """

    __tablename__ = "container_registry_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # push | delete
    repository: Mapped[str] = mapped_column(String(512), nullable=False, index=True)
    tag: Mapped[str | None] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(160))
    media_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str | None] = mapped_column(String(255))
    source_addr: Mapped[str | None] = mapped_column(String(255))
    source_instance: Mapped[str | None] = mapped_column(String(255))
    registry_host: Mapped[str | None] = mapped_column(String(255))  # host clients pushed to (for CS_IMAGE)
    origin: Mapped[str] = mapped_column(String(64), nullable=False, default="embedded")  # embedded | webhook
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    envelope: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)  # the event as a notification
