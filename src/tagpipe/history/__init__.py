"""History: the time-series store, the ingest worker, rollups, retention, the dashboard, trends, CSV and disk usage.

Other features reach it through the ``latest_values`` and ``forget_tags`` ports and the events it publishes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from tagpipe.feature import Durable, Feature, Nav, Page, Role

if TYPE_CHECKING:
    from fastapi import APIRouter

    from tagpipe.services import Services


def _routers() -> Sequence[APIRouter]:
    from tagpipe.history import api, rejects, retention_api, storage_api

    return [api.router, rejects.router, retention_api.router, storage_api.router]


def _pages() -> Sequence[Page]:
    from tagpipe.history import letters_ui, retention_ui, ui

    return [*ui.PAGES, *letters_ui.PAGES, *retention_ui.PAGES]


def _ingest() -> Role:
    from tagpipe.contracts.data import PayloadLimits
    from tagpipe.history.worker import run_ingest

    async def ingest(services: Services) -> None:
        assert services.nc is not None, "worker roles start once the bus is connected"
        st = services.settings
        limits = PayloadLimits(not_before_ms=int(st.ingest_not_before.timestamp() * 1000),
                               max_ahead_ms=int(st.ingest_max_ahead_s * 1000), max_tags=st.ingest_max_tags,
                               max_value_bytes=st.ingest_max_value_bytes)
        await run_ingest(services.nc, services.engine, services.subjects, dead_letters=services.dead_letters,
                         limits=limits, max_deliveries=st.max_deliveries, partitions=st.event_partitions,
                         merge_s=st.ingest_merge_s)

    return ingest


def _provides(_: Services) -> Mapping[str, Any]:
    from tagpipe.history.service import forget_tags, latest_values

    return {"latest_values": latest_values, "forget_tags": forget_tags}


def _lifespan(services: Services) -> AbstractAsyncContextManager[None]:
    from tagpipe.history.live import live_feed

    return live_feed(services)


FEATURE = Feature(
    name="history",
    models=("tagpipe.history.models",),
    routers=_routers,
    pages=_pages,
    nav=(Nav(label="Dashboard", path="/", order=10), Nav(label="Trends", path="/trends", order=20),
         Nav(label="Dead letters", path="/dead-letters", order=70),
         Nav(label="Storage", path="/admin/storage", order=905)),
    roles={"ingest": _ingest},
    consumers={"ingest": (Durable(stream="devices", name="ingest"),)},
    permissions={
        "history.read": "See trends, history and CSV exports of every tag; see ingest rejects and dead letters; see "
                        "disk usage, retention policies and how each tag's values are stored.",
        "history.configure": "Republish or delete dead letters; change retention policies; choose how a tag's values "
                             "are stored (deadband, swinging door).",
    },
    access={
        "GET /api/tags/{tag_id}/history": "history.read",
        "GET /api/history.csv": "history.read",
        "GET /api/tags/{tag_id}/storage": "history.read",
        "PUT /api/tags/{tag_id}/storage": "history.configure",
        "GET /api/history/raw.csv": "history.read",
        "GET /api/ingest/rejects": "history.read",
        "GET /api/ingest/dead-letters": "history.read",
        "GET /api/ingest/dead-letters/{letter_id}": "history.read",
        "GET /api/ingest/dead-letters/{letter_id}/payload": "history.read",
        "DELETE /api/ingest/dead-letters/{letter_id}": "history.configure",
        "POST /api/ingest/dead-letters/{letter_id}/republish": "history.configure",
        "GET /api/storage": "history.read",
        "GET /api/retention": "history.read",
        "GET /api/retention/tags/{tag_id}": "history.read",
        "PUT /api/retention/default": "history.configure",
        "DELETE /api/retention/default": "history.configure",
        "PUT /api/retention/equipment/{equipment_id}": "history.configure",
        "DELETE /api/retention/equipment/{equipment_id}": "history.configure",
        "PUT /api/retention/tags/{tag_id}": "history.configure",
        "DELETE /api/retention/tags/{tag_id}": "history.configure",
    },
    provides=_provides,
    lifespan=_lifespan,
)

__all__ = ["FEATURE"]
