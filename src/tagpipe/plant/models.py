"""Equipment, its PLC connections and their tags."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from tagpipe.db.base import Base, utcnow

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


class TagSource(StrEnum):
    """Where a tag's values come from."""

    PLC = "plc"  # a configured connection's tag, polled by an edge
    COLLECTOR = "collector"  # published on a data subject without a configured tag (third-party collector, hook)
    CALC = "calc"  # a calculated tag's output
    FILE = "file"  # parsed from an ingested file


KEY_MAX = 400


def tag_key(source: str, *parts: str) -> str:
    """A tag's unique key: its source and the parts that identify it there (none of which may hold a '/')."""
    return "/".join((str(source), *parts))


class Tag(Base):
    """A tag of any source, unique by ``key`` (see ``plant.registry``); plc tags belong to a connection."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("connection_id", "name"), UniqueConstraint("key"),
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
    source: Mapped[str] = mapped_column(String(16), default=TagSource.PLC, server_default=TagSource.PLC.value)
    key: Mapped[str] = mapped_column(String(KEY_MAX), doc="Unique: plc/{connection id}/{name}, "
                                                          "collector/{edge id}/{connection id as sent}/{name}, ...")
    # Collector tags only: where the data came from.
    edge_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    source_connection: Mapped[str | None] = mapped_column(String(120), nullable=True)
    connection: Mapped[Connection | None] = relationship(back_populates="tags")


def _plc_key(_mapper: Mapper[Tag], _connection: object, tag: Tag) -> None:
    """A configured tag's key follows its connection and name, however it was written (API, demo seed)."""
    if tag.source in (None, TagSource.PLC):
        connection_id = tag.connection_id if tag.connection_id is not None else (
            tag.connection.id if tag.connection is not None else None)
        tag.source = TagSource.PLC
        tag.key = tag_key(TagSource.PLC, str(connection_id), tag.name)


event.listen(Tag, "before_insert", _plc_key)
event.listen(Tag, "before_update", _plc_key)


class Certificate(Base):
    """A certificate or private key uploaded into tagpipe's store: connections name it, the edge that polls them
    receives it. ``content`` is the PEM, sealed with the secrets key (``auth.secrets``)."""

    __tablename__ = "certificates"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - read by SQLAlchemy, never mutated

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # certificate | private_key
    content: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(500), default="")
    not_after: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the DER certificate, or of the public key.")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
