"""Composition root of the central web process: FastAPI with every feature's routes and the NiceGUI pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from tagpipe import __version__, fleet, scripts
from tagpipe.bus import close, ensure_stream, wait_for_bus
from tagpipe.contracts import Subjects
from tagpipe.db import make_engine, session_factory, upgrade
from tagpipe.settings import Settings
from tagpipe.web import problem
from tagpipe.web.context import AppContext, set_current

log = logging.getLogger(__name__)


async def _connect_bus(ctx: AppContext) -> None:
    """Connect to NATS in the background, so the API serves even while the bus is still starting."""
    ctx.nc = await wait_for_bus(ctx.settings.bus_url, "tagpipe-server", setup=lambda nc: ensure_stream(
        nc.jetstream(), ctx.subjects, max_age_days=ctx.settings.stream_max_age_days))


def _wire_features() -> None:
    """Features talk through small public functions; this is where they are connected."""
    from tagpipe.fleet import service as fleet_service
    from tagpipe.history import service as history_service

    fleet.set_scripts_provider(scripts.scripts_for_edge)
    scripts.set_latest_values_provider(
        lambda session, ids: {k: v.value for k, v in history_service.latest_values(session, ids).items()})
    scripts.set_edge_stats_provider(
        lambda session: {e.id: (e.status, e.scripts or {}) for e in fleet_service.list_edges(session)})


def create_app(settings: Settings | None = None, *, ui: bool = True, migrate: bool = True) -> FastAPI:
    settings = settings or Settings()
    if migrate:
        upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    ctx = AppContext(settings=settings, engine=engine, sessions=session_factory(engine),
                     subjects=Subjects(settings.prefix))
    set_current(ctx)

    _wire_features()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_connect_bus(ctx), name="bus-connect")
        async with scripts.dry_run_pool():
            yield
        task.cancel()
        if ctx.nc is not None:
            await close(ctx.nc)

    app = FastAPI(title="tagpipe", version=__version__, lifespan=lifespan,
                  description="Industrial data platform: equipment, tags, history, fleet of edges.")
    problem.install(app)
    from tagpipe.fleet.api import router as fleet_router
    from tagpipe.fleet.api import tags_router as write_router
    from tagpipe.history.api import router as history_router
    from tagpipe.plant.api import router as plant_router
    from tagpipe.scripts.api import router as scripts_router

    app.include_router(plant_router)
    app.include_router(history_router)
    app.include_router(scripts_router)
    app.include_router(fleet_router)
    app.include_router(write_router)

    @app.get("/api/health", tags=["system"])
    async def health() -> dict[str, object]:
        return {"status": "ok", "version": __version__, "bus": bool(ctx.nc and ctx.nc.is_connected)}

    if ui:
        from tagpipe.web import pages

        pages.mount(app)
    return app
