"""Composition root of the central web process: FastAPI with every feature's routes and the NiceGUI pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import PlainTextResponse

from tagpipe import __version__
from tagpipe.auth import PUBLIC
from tagpipe.auth.access import authorizer, credential_cache
from tagpipe.auth.audit import AuditMiddleware, install_listener
from tagpipe.auth.policy import policy
from tagpipe.bus import connect, ensure_stream
from tagpipe.bus.events import ensure_events_stream
from tagpipe.bus.jetstream import close
from tagpipe.db import upgrade
from tagpipe.features import FEATURES
from tagpipe.services import Services, build_services
from tagpipe.settings import Settings
from tagpipe.web import problem
from tagpipe.web.metrics import prometheus_text

log = logging.getLogger(__name__)
SYSTEM_ACCESS = {"GET /api/health": PUBLIC, "GET /api/metrics": "system.read"}


async def _connect_bus(services: Services) -> None:
    """Connect to NATS in the background, so the API serves even while the bus is still starting."""
    while services.nc is None:
        try:
            nc = await connect(services.settings.bus_url, "tagpipe-server")
            settings = services.settings
            await ensure_stream(nc.jetstream(), services.subjects, max_age_days=settings.stream_max_age_days)
            await ensure_events_stream(nc.jetstream(), services.subjects, max_age_hours=settings.events_max_age_hours,
                                       max_bytes=settings.events_max_mb << 20)
            services.nc = nc
        except Exception as e:  # noqa: BLE001 - keep trying until the bus is there
            log.debug("waiting for NATS at %s: %s", services.settings.bus_url, e)
            await asyncio.sleep(0.5)


def create_app(settings: Settings | None = None, *, ui: bool = True, migrate: bool = True) -> FastAPI:
    settings = settings or Settings()
    if settings.auth == "off" and not settings.loopback:
        raise ValueError(f"TAGPIPE_AUTH=off is only allowed on a loopback address, not host {settings.host}")
    if migrate:
        upgrade(settings.db_url)
    services = build_services(settings, FEATURES)
    services.state["auth.access"] = SYSTEM_ACCESS
    authorize = Depends(authorizer(services))  # every route: who calls, and may they (auth.access)
    install_listener(services.sessions)  # every change a user makes, in the audit log
    credential_cache(services)  # emptied by every change to users, sessions and tokens

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
                  description="Industrial data platform: equipment, tags, history, fleet of edges.")
    app.state.services = services
    problem.install(app)
    app.add_middleware(AuditMiddleware, services=services)
    for feature in services.features:
        for router in feature.routers() if feature.routers else ():
            app.include_router(router, dependencies=[authorize])
    system = APIRouter(tags=["system"])

    @system.get("/api/health")
    async def health() -> dict[str, object]:
        return {"status": "ok", "version": __version__, "bus": services.bus_connected}

    @system.get("/api/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        """This server process's counters in the Prometheus text format."""
        return prometheus_text(services)

    app.include_router(system, dependencies=[authorize])
    undeclared = undeclared_routes(app, services)
    if undeclared:
        log.error("routes without a permission, refused to everybody: %s", ", ".join(undeclared))

    if ui:
        from tagpipe.web import pages

        pages.mount(app, services)
    return app


def undeclared_routes(app: FastAPI, services: Services) -> list[str]:
    """``METHOD /path`` of every API operation whose permission no feature declares."""
    pol = policy(services)
    return [f"{method.upper()} {path}" for path, ops in app.openapi().get("paths", {}).items() for method in ops
            if pol.permission_of(method.upper(), path) is None]
