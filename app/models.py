"""Database models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class Name(db.Model):
    """A name somebody entered on the page."""

    __tablename__ = "names"
    # The page lists newest first; this index serves that ORDER BY and its LIMIT.
    __table_args__ = (Index("ix_names_created_at_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow
    )

    def __repr__(self) -> str:
        return f"<Name {self.id} {self.name!r}>"
