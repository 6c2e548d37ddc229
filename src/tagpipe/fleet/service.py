"""Edges: heartbeats of approved edges, online/offline, metric history, commands, and the edge config."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.contracts import EdgeConfig, Heartbeat
from tagpipe.db.base import now_ms, utcnow
from tagpipe.errors import Conflict, NotFound
from tagpipe.feature import EdgeConfigPart
from tagpipe.fleet.models import Command, Edge, EdgeMetric
from tagpipe.fleet.schemas import CommandOut
from tagpipe.ports import EdgeState

METRIC_RETENTION_DAYS = 30


def record_heartbeat(session: Session, edge_id: str, hb: Heartbeat, *, at: dt.datetime | None = None) -> Edge | None:
    """Mark an approved edge online and keep its metrics; None (nothing recorded) for any other: a heartbeat no
    longer registers an edge, an admin does (``admission``)."""
    edge = session.get(Edge, edge_id)
    if edge is None or edge.admission != "approved":
        return None
    if hb.edge_name and edge.name in ("", edge_id):
        edge.name = hb.edge_name
    edge.status = "online"
    edge.last_heartbeat = at or utcnow()
    for field in ("ip_address", "cpu_percent", "memory_percent", "disk_percent", "agent_version", "config_version",
                  "outbox_depth", "outbox_dropped"):
        setattr(edge, field, getattr(hb, field))
    if hb.heartbeat_interval_s:
        edge.heartbeat_interval_s = hb.heartbeat_interval_s
    edge.devices = hb.devices
    edge.scripts = hb.scripts
    session.add(EdgeMetric(edge_id=edge_id, ts=now_ms(), cpu_percent=hb.cpu_percent,
                           memory_percent=hb.memory_percent, disk_percent=hb.disk_percent,
                           outbox_depth=hb.outbox_depth))
    return edge


def mark_offline(session: Session, *, now: dt.datetime | None = None) -> list[str]:
    """Edges whose last heartbeat is older than three intervals go offline; returns their ids."""
    now = now or utcnow()
    gone = [e.id for e in session.scalars(select(Edge).where(Edge.status == "online"))
            if e.last_heartbeat is None or (now - e.last_heartbeat).total_seconds() > 3 * e.heartbeat_interval_s]
    if gone:
        session.execute(update(Edge).where(Edge.id.in_(gone)).values(status="offline"))
    cutoff = now_ms() - METRIC_RETENTION_DAYS * 86_400_000
    session.execute(delete(EdgeMetric).where(EdgeMetric.ts < cutoff))
    return gone


def list_edges(session: Session) -> list[Edge]:
    known = {e.id: e for e in session.scalars(select(Edge).order_by(Edge.id))}
    for edge_id in plant.edges_in_use(session):
        known.setdefault(edge_id, Edge(id=edge_id, name=edge_id, status="offline", heartbeat_interval_s=30.0,
                                       devices={}, scripts={}, kind="agent", admission=None))
    return sorted(known.values(), key=lambda e: e.id)


def get_edge(session: Session, edge_id: str) -> Edge:
    edge = session.get(Edge, edge_id)
    if edge is None:
        raise NotFound(f"edge {edge_id!r} has never sent a heartbeat")
    return edge


def metric_history(session: Session, edge_id: str, since_ms: int) -> list[EdgeMetric]:
    return list(session.scalars(select(EdgeMetric).where(EdgeMetric.edge_id == edge_id, EdgeMetric.ts >= since_ms)
                                .order_by(EdgeMetric.ts)))


def edge_states(session: Session) -> dict[str, EdgeState]:
    """Each edge's status and its heartbeat's per-script counters (the edge-states port). Three columns, not the
    edges' rows: the health monitor asks every 2 s, and a plant has a thousand edges."""
    states = {edge_id: EdgeState(status=status, scripts=scripts or {})
              for edge_id, status, scripts in session.execute(select(Edge.id, Edge.status, Edge.scripts))}
    for edge_id in plant.edges_in_use(session):
        states.setdefault(edge_id, EdgeState(status="offline", scripts={}))
    return dict(sorted(states.items()))


def edge_config(session: Session, edge_id: str, parts: Iterable[EdgeConfigPart]) -> EdgeConfig:
    """The seed's EdgeConfig for one edge, its fields contributed by the features (plant's devices, scripts' hooks);
    its version is a hash of its content (the strong ETag)."""
    edge = session.get(Edge, edge_id)
    fields: dict[str, Any] = {}
    for part in parts:
        fields.update(part(session, edge_id))
    config = EdgeConfig(edge_id=edge_id, edge_name=edge.name if edge else edge_id, **fields)
    return config.with_content_version()


def new_command(session: Session, edge_id: str, command: str, params: dict[str, Any],
                command_id: str | None = None) -> CommandOut:
    """Record a command; an id given again is the same command (an idempotency key), returned as stored."""
    if command_id is not None:
        existing = session.get(Command, command_id)
        if existing is not None:
            return _same(existing, edge_id, command)
    cmd = Command(id=command_id or uuid.uuid4().hex, edge_id=edge_id, command=command, params=params, status="sent")
    session.add(cmd)
    try:
        session.commit()
    except IntegrityError:  # the same key sent twice at once: the first one stored wins
        session.rollback()
        return _same(session.get(Command, cmd.id), edge_id, command)
    return CommandOut.model_validate(cmd, from_attributes=True)


def _same(cmd: Command | None, edge_id: str, command: str) -> CommandOut:
    if cmd is None or cmd.edge_id != edge_id or cmd.command != command:
        raise Conflict("command id: already used for another edge or command")
    return CommandOut.model_validate(cmd, from_attributes=True)


def record_response(session: Session, command_id: str, ok: bool, result: Any, error: str | None) -> Command | None:
    """Store an edge's answer on its command; None for an answer to a command this server never sent."""
    cmd = session.get(Command, command_id)
    if cmd is not None:
        cmd.status = "ok" if ok else "error"
        cmd.result, cmd.error, cmd.answered_at = result, error, utcnow()
    return cmd
