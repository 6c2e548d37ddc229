"""Edges (gateways), their metric history and the commands sent to them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tagpipe.db.base import Base, utcnow


class Edge(Base):
    __tablename__ = "edges"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="offline")
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_heartbeat: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cpu_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    agent_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    config_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outbox_depth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outbox_dropped: Mapped[int | None] = mapped_column(Integer, nullable=True)
    heartbeat_interval_s: Mapped[float] = mapped_column(Float, default=30.0)
    devices: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scripts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Admission (issue 10, item 5): pending (asked with a provisioning key), approved (has credentials), revoked;
    # None for an edge registered before edges had credentials. An agent collects PLC data; a collector is a
    # third-party MQTT publisher with a user and password.
    admission: Mapped[str | None] = mapped_column(String(16), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default="agent")
    enrollment_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    requested_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    request_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provisioning_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class EdgeMetric(Base):
    __tablename__ = "edge_metrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    edge_id: Mapped[str] = mapped_column(String(120), index=True)
    ts: Mapped[int] = mapped_column(BigInteger, index=True)
    cpu_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    outbox_depth: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Command(Base):
    __tablename__ = "edge_commands"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    edge_id: Mapped[str] = mapped_column(String(120), index=True)
    command: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class BusRefusal(Base):
    """nats-server refused something of an edge (or of an anonymous client, ``edge_id`` ''): its log in, a publish or
    a subscription; counted per edge, kind and detail, with the first and last time."""

    __tablename__ = "bus_refusals"

    id: Mapped[int] = mapped_column(primary_key=True)
    edge_id: Mapped[str] = mapped_column(String(120), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # auth | publish | subscribe
    detail: Mapped[str] = mapped_column(String(500))
    transport: Mapped[str] = mapped_column(String(8), default="")  # nats | mqtt
    address: Mapped[str] = mapped_column(String(64), default="")
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
