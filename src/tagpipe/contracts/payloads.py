"""Messages on the device subjects: heartbeat (status), commands and responses; timestamps.

The data payload (seed 001) has its own module, ``contracts.data``: one type built by the edge and validated by ingest.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MIN_MS = 0  # 1970-01-01T00:00:00Z
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last millisecond a datetime can hold


def in_time_range(ms: object) -> bool:
    """Whether ``ms`` is an epoch-millisecond integer every time function here can handle."""
    return isinstance(ms, int) and not isinstance(ms, bool) and MIN_MS <= ms <= MAX_MS


def iso_timestamp(ms: int | None = None) -> str:
    """The payloads' timestamp form, UTC to the millisecond with a ``Z``: now, or ``ms`` since the epoch."""
    ms = int(time.time() * 1000) if ms is None else ms
    moment = _EPOCH + dt.timedelta(milliseconds=ms)  # exact: no float division
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso_ms(text: str, *, require_zone: bool = False) -> int:
    """Milliseconds since the epoch of an ISO 8601 time; without an offset it is UTC, or with ``require_zone`` (RFC
    3339) refused. Raises ValueError."""
    parsed = dt.datetime.fromisoformat(text)  # Python 3.11+ reads a trailing Z
    if parsed.tzinfo is None:
        if require_zone:
            raise ValueError(f"{text!r} has no time zone")
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


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
