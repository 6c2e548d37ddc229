"""Messages on the device subjects: heartbeat (status), commands and responses.

Data payloads (seed 001) are plain JSON built by the edge and parsed leanly by ingest:
``{"timestamp": ISO 8601, "equipment_id", "connection_id", "tags": {name: value}, "quality": {name: "bad"}}``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
