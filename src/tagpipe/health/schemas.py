"""The body of ``GET /api/health``: one entry per component, the same shape with 200 and with 503."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from tagpipe.contracts import ConsumerLag


class DatabaseHealth(BaseModel):
    ok: bool
    latency_ms: float | None = Field(None, description="Time the probe query took.")
    error: str | None = None
    checked_at: dt.datetime | None = None


class RoleInstance(BaseModel):
    """One worker process running the role (anywhere: learnt from its status messages on the bus)."""

    host: str
    pid: int
    started_at: dt.datetime
    last_seen_s: float = Field(description="Seconds since its last status message.")


class RoleHealth(BaseModel):
    ok: bool
    state: Literal["up", "starting", "down"] = Field(
        description="up: a status within 3 intervals; starting: none yet since this server started; down: none for "
                    "3 intervals.")
    lag: int | None = Field(None, description="Messages waiting for the role (undelivered, all its consumers).")
    consumers: list[ConsumerLag] = []
    instances: list[RoleInstance] = []
    last_seen_s: float | None = None


class ChildHealth(BaseModel):
    """A child process of this ``tagpipe up`` / ``demo``, restarted with back-off when it dies."""

    ok: bool
    state: Literal["running", "restarting", "crash-looping", "stopped"]
    pid: int | None = None
    restarts: int = 0
    failures: int = Field(0, description="Deaths since its last run of 10 s; 3 or more is crash-looping.")
    last_exit_code: int | None = None
    running_s: float | None = None


class EdgeHealth(BaseModel):
    ok: bool
    status: str = Field(description="online / offline, from the edge's heartbeats.")
    supervised: bool = Field(description="A child of this process (the demo's edge): down when its process is.")


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"] = Field(
        description="down (HTTP 503): the bus, the database, a worker role, or a supervised child is down. "
                    "degraded (200): a remote edge is offline or a role has not reported yet. ok (200): neither.")
    version: str
    bus: bool = Field(description="This server process is connected to NATS.")
    down: list[str] = Field(description="What is down, e.g. 'bus', 'database', 'role ingest', 'child worker'.")
    degraded: list[str] = []
    database: DatabaseHealth
    roles: dict[str, RoleHealth]
    children: dict[str, ChildHealth] | None = Field(
        None, description="Only when this process supervises children (tagpipe up / demo).")
    edges: dict[str, EdgeHealth] = {}
    checked_at: dt.datetime
