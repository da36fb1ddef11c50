"""Tables of the vex part: the statements of the VEX documents a project imported, kept so that they go on
applying to the findings recorded later (a new advisory re-matched, a re-scan), not only to those of the import."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hullscan.db.base import Base, UTCDateTime, utcnow


class VexStatement(Base):
    """One vulnerability name of one imported statement (a statement naming a CVE and its GHSA alias is two rows
    with the same `document` and `position`), so applying is one indexed lookup by (project, identifier).
    Importing a document with the same label again replaces its rows; later ids win, as later statements do."""

    __tablename__ = "vex_statements"
    __table_args__ = (Index("ix_vex_statements_lookup", "project_id", "vulnerability"),
                      Index("ix_vex_statements_document", "project_id", "document"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    document: Mapped[str] = mapped_column(String(255), nullable=False)  # the history author: vex:<label>
    position: Mapped[int] = mapped_column(Integer, nullable=False)  # the statement's index in its document
    vulnerability: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    justification: Mapped[str | None] = mapped_column(String(128))
    notes: Mapped[str | None] = mapped_column(Text)
    products: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # [[@id, [subcomponent ids]]]
    subject_digest: Mapped[str | None] = mapped_column(String(160))  # a referrer's: that image only
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
