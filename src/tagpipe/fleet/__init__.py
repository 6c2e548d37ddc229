"""Fleet: edges, heartbeats, online/offline, commands (request/reply), metric history and the edge config endpoint.

Other features reach it through the ``edge_states`` and ``commands`` ports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tagpipe.auth import EDGE, PUBLIC
from tagpipe.feature import Durable, Feature, Nav, Page, Role

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    import typer
    from fastapi import APIRouter

    from tagpipe.services import Services


def _routers() -> Sequence[APIRouter]:
    from tagpipe.fleet.admission_api import router as admission
    from tagpipe.fleet.api import router

    return [router, admission]


def _pages() -> Sequence[Page]:
    from tagpipe.fleet.ui import PAGES

    return PAGES


def _fleet() -> Role:
    from tagpipe.fleet.worker import run_fleet

    async def fleet(services: Services) -> None:
        assert services.nc is not None, "worker roles start once the bus is connected"
        await run_fleet(services.nc, services.engine, services.subjects, dead_letters=services.dead_letters,
                        max_deliveries=services.settings.max_deliveries)

    return fleet


def _provides(services: Services) -> Mapping[str, Any]:
    from tagpipe.fleet.commands import Commander
    from tagpipe.fleet.service import edge_states

    return {"edge_states": edge_states, "commands": Commander(services)}


def _lifespan(services: Services) -> AbstractAsyncContextManager[None]:
    from tagpipe.fleet.gate import running

    return running(services)


def _cli() -> typer.Typer:
    from tagpipe.fleet.cli import app

    return app


MANAGE = "fleet.manage"

FEATURE = Feature(
    name="fleet",
    models=("tagpipe.fleet.models",),
    routers=_routers,
    pages=_pages,
    nav=(Nav(label="Fleet", path="/fleet", order=30),),
    roles={"fleet": _fleet},
    consumers={"fleet": (Durable(stream="devices", name="fleet-status"),
                         Durable(stream="devices", name="fleet-responses"))},
    permissions={
        "fleet.read": "See edges, their status, metrics, commands and what the bus refused them.",
        "fleet.command": "Send commands to edges.",
        MANAGE: "Provisioning keys; approve, add, rotate and revoke edges and collectors (their credentials).",
    },
    access={
        "GET /api/fleet/devices": "fleet.read",
        "GET /api/fleet/devices/{edge_id}": "fleet.read",
        # The edge's own credential only (auth.access): another edge's, or a user's, is refused.
        "GET /api/fleet/v1/edges/{edge_id}/config": EDGE,
        "GET /api/fleet/edge/{edge_id}/config": EDGE,
        "POST /api/fleet/devices/{edge_id}/commands": "fleet.command",
        "GET /api/fleet/commands/{command_id}": "fleet.read",
        # An edge asking for credentials has none yet: its provisioning key or enrollment secret is checked inside.
        "POST /api/fleet/v1/edges/{edge_id}/enroll": PUBLIC,
        "POST /api/fleet/v1/edges/{edge_id}/credentials": PUBLIC,
        "GET /api/fleet/provisioning-keys": MANAGE,
        "POST /api/fleet/provisioning-keys": MANAGE,
        "DELETE /api/fleet/provisioning-keys/{key_id}": MANAGE,
        "POST /api/fleet/devices": MANAGE,
        "POST /api/fleet/devices/{edge_id}/approve": MANAGE,
        "POST /api/fleet/devices/{edge_id}/credentials": MANAGE,
        "DELETE /api/fleet/devices/{edge_id}/credentials": MANAGE,
        "GET /api/fleet/refusals": "fleet.read",
    },
    provides=_provides,
    lifespan=_lifespan,
    cli=_cli,
)

__all__ = ["FEATURE"]
