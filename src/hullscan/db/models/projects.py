from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hullscan.db.base import Base, UTCDateTime, utcnow


class Project(Base):
    """A project owns the repositories under its path (`<namespace>/<project>`)."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    container_scanning_for_registry_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    cs4r_tag_patterns: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["latest"], nullable=False)
    cs4r_daily_limit: Mapped[int] = mapped_column(Integer, default=50, nullable=False)
    # Resolve vulnerabilities automatically when a new SBOM of the same image no longer has them.
    auto_resolve_no_longer_detected: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # "private" (members only) or "public" (anyone may pull its images, signed in or not).
    visibility: Mapped[str] = mapped_column(String(16), default="private", server_default="private", nullable=False)
