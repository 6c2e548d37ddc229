"""REST routes: the fleet of edges, their metrics, commands, and the edge config endpoint (both seed paths)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from tagpipe.contracts import EdgeConfig
from tagpipe.fleet import service
from tagpipe.fleet.commands import Commander, load_command
from tagpipe.fleet.schemas import CommandIn, CommandOut, EdgeDetail, EdgeOut, Metric
from tagpipe.services import Services
from tagpipe.web.deps import ServicesDep

router = APIRouter(prefix="/api/fleet", tags=["fleet"])
IfNoneMatch = Annotated[str | None, Header(max_length=4096)]
EdgeId = Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_-]+$", examples=["edge-1"])]
CommandId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/devices", response_model=list[EdgeOut])
async def list_devices(services: ServicesDep) -> list[EdgeOut]:
    return [EdgeOut.model_validate(e, from_attributes=True) for e in await services.run_db(service.list_edges)]


@router.get("/devices/{edge_id}", response_model=EdgeDetail)
async def get_device(edge_id: EdgeId, services: ServicesDep,
                     hours: float = Query(24, gt=0, le=24 * 366, allow_inf_nan=False,
                                         description="Metric history to include.")) -> EdgeDetail:
    edge = await services.run_db(service.get_edge, edge_id)
    metrics = await services.run_db(service.metric_history, edge_id, int((time.time() - hours * 3600) * 1000))
    return EdgeDetail(**EdgeOut.model_validate(edge, from_attributes=True).model_dump(),
                      metrics=[Metric.model_validate(m, from_attributes=True) for m in metrics])


async def _config(services: Services, edge_id: str, if_none_match: str | None) -> Response:
    config: EdgeConfig = await services.run_db(service.edge_config, edge_id, services.ports.edge_config_parts)
    etag = f'"{config.version}"'
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(config.model_dump_json(), media_type="application/json", headers={"ETag": etag})


@router.get("/v1/edges/{edge_id}/config", response_model=EdgeConfig)
async def edge_config(edge_id: EdgeId, services: ServicesDep, if_none_match: IfNoneMatch = None) -> Response:
    """The edge's collection config (seed 001); the strong ETag is its version, If-None-Match gives 304."""
    return await _config(services, edge_id, if_none_match)


@router.get("/edge/{edge_id}/config", response_model=EdgeConfig)
async def edge_config_alias(edge_id: EdgeId, services: ServicesDep, if_none_match: IfNoneMatch = None) -> Response:
    """Alias of /api/fleet/v1/edges/{edge_id}/config."""
    return await _config(services, edge_id, if_none_match)


@router.post("/devices/{edge_id}/commands", response_model=CommandOut, status_code=202)
async def post_command(edge_id: EdgeId, body: CommandIn, services: ServicesDep,
                       wait_s: float = Query(0.0, ge=0, le=30, allow_inf_nan=False,
                                            description="Wait up to this long for the answer.")
                       ) -> CommandOut:
    """Send a command (``sync-config``, ``ping``, ``write``); ``id`` makes a retry safe (idempotency key)."""
    commander: Commander = services.ports.commands  # type: ignore[assignment] - fleet provides its own Commander
    return await commander.send(edge_id, body.command, body.params, wait_s, body.id)


@router.get("/commands/{command_id}", response_model=CommandOut)
async def get_command(command_id: CommandId, services: ServicesDep) -> CommandOut:
    return await services.run_db(load_command, command_id)
