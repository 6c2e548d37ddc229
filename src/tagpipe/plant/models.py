"""Equipment, its PLC connections and their tags."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tagpipe.db.base import Base


# Ids are never reused (SQLite AUTOINCREMENT; PostgreSQL sequences never go back): a new tag must not pick up a
# deleted one's history, nor a new connection a deleted one's data on the wire.


class Equipment(Base):
    __tablename__ = "equipment"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - read by SQLAlchemy, never mutated

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    connections: Mapped[list[Connection]] = relationship(back_populates="equipment", cascade="all, delete-orphan",
                                                         order_by="Connection.id")


class Connection(Base):
    """One PLC connection, polled by the edge ``edge_id``; its id is the seed's device id and connection_id."""

    __tablename__ = "connections"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - read by SQLAlchemy, never mutated

    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    edge_id: Mapped[str] = mapped_column(String(120), index=True)
    name: Mapped[str] = mapped_column(String(120))
    protocol: Mapped[str] = mapped_column(String(40))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    interval_ms: Mapped[int] = mapped_column(Integer, default=1000)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    equipment: Mapped[Equipment] = relationship(back_populates="connections")
    tags: Mapped[list[Tag]] = relationship(back_populates="connection", cascade="all, delete-orphan", order_by="Tag.id")


class Tag(Base):
    """A configured tag, or one discovered from data a third-party collector published (no connection)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("connection_id", "name"), UniqueConstraint("edge_id", "source_connection", "name"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(200), default="")
    data_type: Mapped[str] = mapped_column(String(16), default="FLOAT64")
    byte_order: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)
    scale: Mapped[float] = mapped_column(Float, default=1.0)
    offset: Mapped[float] = mapped_column(Float, default=0.0)
    unit: Mapped[str] = mapped_column(String(40), default="")
    length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    writable: Mapped[bool] = mapped_column(Boolean, default=False)
    # Discovered tags only: where the data came from.
    edge_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    source_connection: Mapped[str | None] = mapped_column(String(120), nullable=True)
    connection: Mapped[Connection | None] = relationship(back_populates="tags")
