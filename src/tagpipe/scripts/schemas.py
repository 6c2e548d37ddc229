"""API shapes for hook scripts, their versions and dry runs; validation names the field that is wrong."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tagpipe.web.inputs import INPUT, Code, Document, Flag, Id, Name, Text, UtcDatetime

HookTypeName = Literal["transform", "derived_tags", "filter", "alarm", "pre_send"]
ScopeName = Literal["global", "equipment", "connection", "device"]


class SandboxOut(BaseModel):
    """How the server's sandbox workers are kept off the network (README: the sandbox without network)."""

    no_network: bool = Field(description="A worker cannot open a socket: at least one layer below is on.")
    network_namespace: str = Field(description="on, or off with the reason (it needs root).")
    seccomp: str = Field(description="on: socket() fails with EPERM in the worker; or off with the reason.")
    sockets: dict[str, str] = Field(description="What opening a socket of each family inside a worker answered at "
                                                "its start (EPERM: refused).")


class HookTypeOut(BaseModel):
    name: str
    function: str
    signature: str
    arguments: list[str]
    description: str
    example: str


EDGE_ID = r"^[A-Za-z0-9_-]+$"


class ScriptIn(BaseModel):
    model_config = INPUT

    name: Name = Field(..., examples=["power from V and I"])
    description: Text = Field("", max_length=500)
    hook_type: HookTypeName
    scope: ScopeName = "global"
    equipment_id: Id | None = Field(None, description="Required when scope is equipment.")
    connection_id: Id | None = Field(None, description="Required when scope is connection.")
    device_id: str | None = Field(None, min_length=1, max_length=120, pattern=EDGE_ID,
                                  description="The edge id; required when scope is device.")
    priority: int = Field(100, ge=0, le=10_000, description="Lower runs first.")
    timeout_ms: int = Field(1000, ge=1, le=60_000)
    enabled: Flag = True
    code: Code


class ScriptUpdate(BaseModel):
    """Every field optional: what is given replaces what is stored; a change of code or placement is a new version."""

    model_config = INPUT

    name: Name | None = None
    description: Text | None = Field(None, max_length=500)
    hook_type: HookTypeName | None = None
    scope: ScopeName | None = None
    equipment_id: Id | None = None
    connection_id: Id | None = None
    device_id: str | None = Field(None, min_length=1, max_length=120, pattern=EDGE_ID)
    priority: int | None = Field(None, ge=0, le=10_000)
    timeout_ms: int | None = Field(None, ge=1, le=60_000)
    enabled: Flag | None = None
    code: Code | None = None
    comment: Text = Field("", max_length=200, description="Why this version was saved.")


class ScriptOut(BaseModel):
    id: int
    name: str
    description: str
    hook_type: str
    scope: str
    equipment_id: int | None
    connection_id: int | None
    device_id: str | None
    priority: int
    timeout_ms: int
    enabled: bool
    version: int
    code: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


class VersionOut(BaseModel):
    version: int
    code: str
    settings: dict[str, Any]
    comment: str
    created_at: UtcDatetime


class DiffOut(BaseModel):
    script_id: int
    from_version: int
    to_version: int
    diff: str


class DryRunIn(BaseModel):
    model_config = INPUT

    code: Code
    hook_type: HookTypeName
    test_input: Document = Field(..., examples=[{"tag_name": "temperature_raw", "raw_value": 650}],
                                 description="The hook's arguments but context, by name.")
    context: Document | None = None
    timeout_ms: int = Field(1000, ge=1, le=10_000)


class DryRunOut(BaseModel):
    ok: bool
    result: Any = None
    prints: str = ""
    duration_ms: float
    error: str | None = None
    line: int | None = None


class ScriptStats(BaseModel):
    edge_id: str
    edge_status: str | None = None
    runs: int = 0
    errors: int = 0
    timeouts: int = 0
    last_error: str | None = None
    last_error_line: int | None = None
