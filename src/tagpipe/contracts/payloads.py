"""Messages on the device subjects: heartbeat (status), commands and responses; timestamps.

The data payload (seed 001) has its own module, ``contracts.data``: one type built by the edge and validated by ingest.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def iso_timestamp(ms: int | None = None) -> str:
    """The payloads' timestamp form, UTC to the millisecond with a ``Z``: now, or ``ms`` since the epoch."""
    ms = int(time.time() * 1000) if ms is None else ms
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso_ms(text: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time; without an offset it is UTC. Raises ValueError."""
    parsed = dt.datetime.fromisoformat(text)  # Python 3.11+ reads a trailing Z
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp() * 1000)


class Heartbeat(BaseModel):
    """``{prefix}/devices/{edge_id}/status``: seed 001's heartbeat plus agent state."""

    model_config = ConfigDict(extra="allow")

    cpu_percent: float | None = None
    memory_percent: float | None = None
    disk_percent: float | None = None
    ip_address: str | None = None
    status: str = "online"
    edge_name: str | None = None
    agent_version: str | None = None
    config_version: str | None = None
    outbox_depth: int | None = None
    outbox_dropped: int | None = None
    heartbeat_interval_s: float | None = None
    devices: dict[str, dict[str, Any]] = Field(default_factory=dict)
    scripts: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Command(BaseModel):
    """``{prefix}/devices/{edge_id}/commands``: server to edge."""

    id: str
    command: str
    params: dict[str, Any] = Field(default_factory=dict)


class CommandResponse(BaseModel):
    """``{prefix}/devices/{edge_id}/responses``: edge to server."""

    id: str
    ok: bool
    result: Any = None
    error: str | None = None
