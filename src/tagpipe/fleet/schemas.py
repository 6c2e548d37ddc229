"""API shapes of the fleet: edges, their metrics, and commands."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tagpipe.web.inputs import INPUT, Document, Flag, Name, Text, UtcDatetime


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
    admission: str | None = Field(None, description="pending, approved or revoked; none for an edge known only "
                                                    "from the plant's configuration")
    kind: str = "agent"


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


class EnrollIn(BaseModel):
    model_config = INPUT

    provisioning_key: str = Field(..., min_length=8, max_length=200, description="The key the edge was started with.")
    name: Name | None = Field(None, description="What to call the edge (default: its id).")


class Enrollment(BaseModel):
    status: str = Field(..., description="pending (collect the credentials with `enrollment` once approved) or "
                                         "approved (`token` is the edge's credential)")
    edge_id: str
    enrollment: str | None = Field(None, description="Secret to collect the credentials with, while pending.")
    token: str | None = Field(None, description="The edge's credential, when the key approved it at once.")


class EdgeCredentials(BaseModel):
    """An edge's credential, shown once: its HTTP bearer token, and its NATS and MQTT password (user: the edge id)."""

    edge_id: str
    token: str
    nats_user: str
    mqtt_user: str


class Pending(BaseModel):
    status: str = "pending"
    edge_id: str


class EdgeIn(BaseModel):
    model_config = INPUT

    id: str = Field(..., min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_-]+$", examples=["edge-1"])
    kind: str = Field("agent", pattern=r"^(agent|collector)$",
                      description="agent (tagpipe edge) or collector (a third-party MQTT publisher)")
    name: Name | None = None


class KeyIn(BaseModel):
    model_config = INPUT

    name: Name
    expires_at: UtcDatetime = Field(..., description="When the key stops working (at most a year ahead).")
    max_uses: int = Field(1, ge=1, le=100_000, description="How many edges may ask with it.")
    auto_approve: Flag = Field(False, description="Approve the edges that ask with it at once.")


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_by: str
    created_at: UtcDatetime
    expires_at: UtcDatetime
    max_uses: int
    uses: int
    auto_approve: bool
    state: str = Field(..., description="usable, expired, used up or revoked")


class KeyCreated(KeyOut):
    key: str = Field(..., description="The provisioning key, shown once: tagpipe edge --provisioning-key KEY")


class RefusalOut(BaseModel):
    edge_id: str
    kind: str = Field(..., description="auth (a log in refused), publish or subscribe (a subject refused)")
    detail: str
    transport: str
    address: str
    count: int
    first_at: UtcDatetime
    last_at: UtcDatetime
