"""Composition root of the central web process: FastAPI with every feature's routes and the NiceGUI pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute

from tagpipe import __version__
from tagpipe.auth import PUBLIC
from tagpipe.auth.access import authorizer, credential_cache
from tagpipe.auth.audit import AuditMiddleware, install_listener
from tagpipe.auth.policy import policy
from tagpipe.bus import close, wait_for_bus
from tagpipe.bus.security import SERVER, central_login
from tagpipe.db import upgrade
from tagpipe.errors import Forbidden, NotAuthenticated
from tagpipe.features import FEATURES
from tagpipe.health import HealthMonitor
from tagpipe.health.api import router as health_router
from tagpipe.services import Services, build_services
from tagpipe.settings import Settings
from tagpipe.web import problem
from tagpipe.web.metrics import prometheus_text

if TYPE_CHECKING:
    from tagpipe.supervisor import ChildStatus

log = logging.getLogger(__name__)
SYSTEM_ACCESS = {"GET /api/health": PUBLIC, "GET /api/metrics": "system.read"}


async def _connect_bus(services: Services) -> None:
    """Connect to NATS in the background, so the API serves even while the bus is still starting. The server does
    not create streams (only the worker may): it publishes to them once the worker has."""
    services.nc = await wait_for_bus(services.settings.bus_url, "tagpipe-server",
                                     **central_login(services.settings, SERVER))


def create_app(settings: Settings | None = None, *, ui: bool = True, migrate: bool = True,
               children: Callable[[], Sequence[ChildStatus]] | None = None) -> FastAPI:
    """The web server's app; ``children`` is the supervisor's snapshot when this process supervises children."""
    settings = settings or Settings()
    if settings.auth == "off" and not settings.loopback:
        raise ValueError(f"TAGPIPE_AUTH=off is only allowed on a loopback address, not host {settings.host}")
    if migrate:
        upgrade(settings.db_url)
    services = build_services(settings, FEATURES)
    services.health = monitor = HealthMonitor(services, children)
    services.state["auth.access"] = SYSTEM_ACCESS
    authorize_request = authorizer(services)
    authorize = Depends(authorize_request)  # every route: who calls, and may they (auth.access)
    install_listener(services.sessions)  # every change a user makes, in the audit log
    credential_cache(services)  # emptied by every change to users, sessions and tokens

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_connect_bus(services), name="bus-connect")
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(monitor.running())
            for feature in services.features:
                if feature.lifespan:
                    await stack.enter_async_context(feature.lifespan(services))
            yield
        task.cancel()
        if services.nc is not None:
            await close(services.nc)

    app = FastAPI(title="tagpipe", version=__version__, lifespan=lifespan,
                  default_response_class=problem.SafeJSONResponse,
                  description="Industrial data platform: equipment, tags, history, fleet of edges.")
    app.state.services = services
    problem.install(app, caller_first=refusal_first(authorize_request))
    app.add_middleware(AuditMiddleware, services=services)
    system = APIRouter(tags=["system"])

    @system.get("/api/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        """This server process's counters in the Prometheus text format."""
        return prometheus_text(services)

    routers = [*(router for feature in services.features for router in (feature.routers() if feature.routers else ())),
               health_router, system]
    for router in routers:
        app.include_router(router, dependencies=[authorize])
    problem.install_api_fallback(app)  # after every API route, before the UI's catch-all
    problem.document(app)  # made on the first request for it: made at start, it kept ~5 MB here for a page few open
    undeclared = undeclared_routes(routers, services)
    if undeclared:
        log.error("routes without a permission, refused to everybody: %s", ", ".join(undeclared))

    if ui:
        from tagpipe.web import pages

        pages.mount(app, services)
    return app


def refusal_first(authorize: Callable[..., Awaitable[None]]) -> Callable[[Request], Awaitable[JSONResponse | None]]:
    """A body that is not even JSON is reported before any dependency runs: check the caller first, so whoever may
    not call the route is refused (401/403) as for any other body, and learns nothing about it."""

    async def check(request: Request) -> JSONResponse | None:
        if request.scope.get("route") is None:
            return None  # no route matched: nothing to authorize against
        try:
            await authorize(request, None)
        except NotAuthenticated as e:
            return problem.problem(401, "Not authenticated", str(e))
        except Forbidden as e:
            return problem.problem(403, "Forbidden", str(e))
        return None

    return check


def undeclared_routes(routers: Sequence[APIRouter], services: Services) -> list[str]:
    """``METHOD /path`` of every API operation (a route the OpenAPI document lists) whose permission no feature
    declares."""
    pol = policy(services)
    return [f"{method} {route.path_format}" for router in routers for route in router.routes
            if isinstance(route, APIRoute) and route.include_in_schema for method in sorted(route.methods or ())
            if pol.permission_of(method, route.path_format) is None]
