"""History: the time-series store, the ingest worker, rollups, the dashboard, trends and CSV.

Other features reach it through the ``latest_values`` port and the events it publishes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from tagpipe.feature import Feature, Nav, Page, Role

if TYPE_CHECKING:
    from fastapi import APIRouter

    from tagpipe.services import Services


def _routers() -> Sequence[APIRouter]:
    from tagpipe.history.api import router

    return [router]


def _pages() -> Sequence[Page]:
    from tagpipe.history.ui import PAGES

    return PAGES


def _ingest() -> Role:
    from tagpipe.history.worker import run_ingest

    async def ingest(services: Services) -> None:
        assert services.nc is not None, "worker roles start once the bus is connected"
        await run_ingest(services.nc, services.engine, services.subjects,
                         partitions=services.settings.event_partitions)

    return ingest


def _provides(_: Services) -> Mapping[str, Any]:
    from tagpipe.history.service import latest_values

    return {"latest_values": latest_values}


def _lifespan(services: Services) -> AbstractAsyncContextManager[None]:
    from tagpipe.history.live import live_feed

    return live_feed(services)


FEATURE = Feature(
    name="history",
    models=("tagpipe.history.models",),
    routers=_routers,
    pages=_pages,
    nav=(Nav(label="Dashboard", path="/", order=10), Nav(label="Trends", path="/trends", order=20)),
    roles={"ingest": _ingest},
    permissions={"history.read": "See trends, history and CSV exports of every tag; see ingest rejects."},
    access={
        "GET /api/tags/{tag_id}/history": "history.read",
        "GET /api/history.csv": "history.read",
        "GET /api/ingest/rejects": "history.read",
    },
    provides=_provides,
    lifespan=_lifespan,
)

__all__ = ["FEATURE"]
