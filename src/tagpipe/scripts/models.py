"""User hook scripts and every saved version of each."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tagpipe.db.base import Base, utcnow


class Script(Base):
    """A hook script as it runs now: its code, where it applies (scope) and its current version number."""

    __tablename__ = "scripts"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - ids are never reused (edges count runs per id)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    hook_type: Mapped[str] = mapped_column(String(20), index=True)
    scope: Mapped[str] = mapped_column(String(20), default="global")
    equipment_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    connection_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    device_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    timeout_ms: Mapped[int] = mapped_column(Integer, default=1000)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    code: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    versions: Mapped[list[ScriptVersion]] = relationship(back_populates="script", cascade="all, delete-orphan",
                                                         order_by="ScriptVersion.version")


class ScriptVersion(Base):
    """One saved version: the code and the settings it ran with, kept for history, diff and rollback."""

    __tablename__ = "script_versions"
    __table_args__ = (UniqueConstraint("script_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    script: Mapped[Script] = relationship(back_populates="versions")
