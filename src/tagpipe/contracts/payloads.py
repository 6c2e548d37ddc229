"""Messages on the device subjects: data, heartbeat (status), commands and responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TagValue = bool | int | float | str | None


class DataPayload(BaseModel):
    """``{prefix}/devices/{edge_id}/data``: one collection cycle of one device (seed 001)."""

    model_config = ConfigDict(extra="allow")

    timestamp: str
    equipment_id: int | str | None = None
    connection_id: int | str | None = None
    tags: dict[str, TagValue]
    quality: dict[str, str] = Field(default_factory=dict, description="Tag name to 'bad' for tags that failed.")


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
