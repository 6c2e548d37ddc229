"""REST routes: the fleet of edges, their metrics, commands, and the edge config endpoint (both seed paths)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field

from tagpipe.contracts import EdgeConfig
from tagpipe.fleet import service
from tagpipe.web.context import current, run_db

router = APIRouter(prefix="/api/fleet", tags=["fleet"])


class EdgeOut(BaseModel):
    id: str
    name: str
    status: str
    last_heartbeat: dt.datetime | None
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
    command: str = Field(..., examples=["sync-config"])
    params: dict[str, Any] = Field(default_factory=dict)


class CommandOut(BaseModel):
    id: str
    edge_id: str
    command: str
    status: str
    result: Any = None
    error: str | None = None


@router.get("/devices", response_model=list[EdgeOut])
async def list_devices() -> list[EdgeOut]:
    return [EdgeOut.model_validate(e, from_attributes=True) for e in await run_db(service.list_edges)]


@router.get("/devices/{edge_id}", response_model=EdgeDetail)
async def get_device(edge_id: str, hours: float = 24) -> EdgeDetail:
    edge = await run_db(service.get_edge, edge_id)
    metrics = await run_db(service.metric_history, edge_id, int((time.time() - hours * 3600) * 1000))
    return EdgeDetail(**EdgeOut.model_validate(edge, from_attributes=True).model_dump(),
                      metrics=[Metric.model_validate(m, from_attributes=True) for m in metrics])


async def _config(edge_id: str, if_none_match: str | None) -> Response:
    config: EdgeConfig = await run_db(service.edge_config, edge_id)
    etag = f'"{config.version}"'
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(config.model_dump_json(), media_type="application/json", headers={"ETag": etag})


@router.get("/v1/edges/{edge_id}/config", response_model=EdgeConfig)
async def edge_config(edge_id: str, if_none_match: str | None = Header(None)) -> Response:
    """The edge's collection config (seed 001); the strong ETag is its version, If-None-Match gives 304."""
    return await _config(edge_id, if_none_match)


@router.get("/edge/{edge_id}/config", response_model=EdgeConfig)
async def edge_config_alias(edge_id: str, if_none_match: str | None = Header(None)) -> Response:
    """Alias of /api/fleet/v1/edges/{edge_id}/config."""
    return await _config(edge_id, if_none_match)


async def send_command(edge_id: str, command: str, params: dict[str, Any], wait_s: float = 0.0) -> CommandOut:
    """Publish a command to an edge; with ``wait_s`` wait for its response."""
    ctx = current()
    cmd = await run_db(service.new_command, edge_id, command, params)
    if ctx.nc is not None and ctx.nc.is_connected:
        body = json.dumps({"id": cmd.id, "command": command, "params": params}).encode()
        await ctx.nc.publish(ctx.subjects.device(edge_id, "commands"), body)
        await ctx.nc.flush()
    deadline = time.monotonic() + wait_s
    while True:
        out = await run_db(lambda s: CommandOut.model_validate(s.get(type(cmd), cmd.id), from_attributes=True))
        if out.status != "sent" or time.monotonic() >= deadline:
            return out
        await asyncio.sleep(0.05)


@router.post("/devices/{edge_id}/commands", response_model=CommandOut, status_code=202)
async def post_command(edge_id: str, body: CommandIn, wait_s: float = 0.0) -> CommandOut:
    """Send a command (``sync-config``, ``ping``, ``write``); ``wait_s`` waits up to that long for the answer."""
    return await send_command(edge_id, body.command, body.params, min(wait_s, 30.0))


@router.get("/commands/{command_id}", response_model=CommandOut)
async def get_command(command_id: str) -> CommandOut:
    from tagpipe.fleet.models import Command
    from tagpipe.errors import NotFound

    def load(s):  # type: ignore[no-untyped-def]
        cmd = s.get(Command, command_id)
        if cmd is None:
            raise NotFound(f"command {command_id} does not exist")
        return CommandOut.model_validate(cmd, from_attributes=True)

    return await run_db(load)
