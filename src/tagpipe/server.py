"""Composition root of the central web process: FastAPI with every feature's routes and the NiceGUI pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from tagpipe import __version__
from tagpipe.bus import connect, ensure_stream
from tagpipe.bus.jetstream import close
from tagpipe.db import upgrade
from tagpipe.features import FEATURES
from tagpipe.services import Services, build_services
from tagpipe.settings import Settings
from tagpipe.web import problem

log = logging.getLogger(__name__)


async def _connect_bus(services: Services) -> None:
    """Connect to NATS in the background, so the API serves even while the bus is still starting."""
    while services.nc is None:
        try:
            nc = await connect(services.settings.bus_url, "tagpipe-server")
            await ensure_stream(nc.jetstream(), services.subjects, max_age_days=services.settings.stream_max_age_days)
            services.nc = nc
        except Exception as e:  # noqa: BLE001 - keep trying until the bus is there
            log.debug("waiting for NATS at %s: %s", services.settings.bus_url, e)
            await asyncio.sleep(0.5)


def create_app(settings: Settings | None = None, *, ui: bool = True, migrate: bool = True) -> FastAPI:
    settings = settings or Settings()
    if migrate:
        upgrade(settings.db_url)
    services = build_services(settings, FEATURES)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_connect_bus(services), name="bus-connect")
        async with contextlib.AsyncExitStack() as stack:
            for feature in services.features:
                if feature.lifespan:
                    await stack.enter_async_context(feature.lifespan(services))
            yield
        task.cancel()
        if services.nc is not None:
            await close(services.nc)

    app = FastAPI(title="tagpipe", version=__version__, lifespan=lifespan,
                  default_response_class=problem.SafeJSONResponse, description="Industrial data platform: equipment, tags, history, fleet of edges.")
    app.state.services = services
    problem.install(app)
    for feature in services.features:
        for router in feature.routers() if feature.routers else ():
            app.include_router(router)

    @app.get("/api/health", tags=["system"])
    async def health() -> dict[str, object]:
        return {"status": "ok", "version": __version__, "bus": services.bus_connected}

    problem.install_api_fallback(app)  # after every API route, before the UI's catch-all
    problem.document(app)

    if ui:
        from tagpipe.web import pages

        pages.mount(app, services)
    return app
