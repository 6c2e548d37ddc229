"""REST routes: the fleet of edges, their metrics, commands, and the edge config endpoint (both seed paths)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tagpipe.contracts import EdgeConfig
from tagpipe.fleet import service
from tagpipe.fleet.commands import (
    CommandOut,
    WriteFailed,
    WriteIn,
    WriteOut,
    load_command,
    send_command,
    write_tag,
)
from tagpipe.web.context import run_db
from tagpipe.web.problem import problem

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


@router.post("/devices/{edge_id}/commands", response_model=CommandOut, status_code=202)
async def post_command(edge_id: str, body: CommandIn, wait_s: float = 0.0) -> CommandOut:
    """Send a command (``sync-config``, ``ping``, ``write``); ``wait_s`` waits up to that long for the answer."""
    return await send_command(edge_id, body.command, body.params, min(wait_s, 30.0))


@router.get("/commands/{command_id}", response_model=CommandOut)
async def get_command(command_id: str) -> CommandOut:
    return await run_db(load_command, command_id)


tags_router = APIRouter(prefix="/api", tags=["plant"])


@tags_router.post("/tags/{tag_id}/write", response_model=WriteOut,
                  responses={409: {"description": "The tag's edge is offline; nothing was sent."},
                             422: {"description": "Not writable (field writable) or the value does not fit (field value)."},
                             502: {"description": "The edge answered that the PLC write failed."},
                             504: {"description": "The edge did not answer in time; the write may still happen."}})
async def post_write(tag_id: int, body: WriteIn) -> WriteOut | JSONResponse:
    """Write a value (engineering units) to a writable tag through its edge; answers the value read back."""
    try:
        done = await write_tag(tag_id, body.value)
    except WriteFailed as e:
        return problem(e.status, e.title, e.detail, command_id=e.command_id)
    return WriteOut(tag_id=done.tag_id, ok=True, value=done.value, command_id=done.command_id)
