"""API shapes of the fleet: edges, their metrics, and commands."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tagpipe.web.inputs import INPUT, Document, Text, UtcDatetime


class EdgeOut(BaseModel):
    id: str
    name: str
    status: str
    last_heartbeat: UtcDatetime | None
    ip_address: str | None
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None
    agent_version: str | None
    config_version: str | None
    outbox_depth: int | None
    outbox_dropped: int | None
    heartbeat_interval_s: float
    devices: dict[str, Any] = Field(default_factory=dict)
    scripts: dict[str, Any] = Field(default_factory=dict)


class Metric(BaseModel):
    ts: int
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None
    outbox_depth: int | None


class EdgeDetail(EdgeOut):
    metrics: list[Metric]


class CommandIn(BaseModel):
    model_config = INPUT

    command: Text = Field(..., min_length=1, max_length=60, examples=["sync-config"])
    params: Document = Field(default_factory=dict)
    id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                           description="Idempotency key: sending the same id again returns the stored command "
                                       "instead of sending a second one. Default: a new id.")


class CommandOut(BaseModel):
    id: str
    edge_id: str
    command: str
    status: str = Field(..., description="sent (no answer yet), ok or error")
    result: Any = None
    error: str | None = None
