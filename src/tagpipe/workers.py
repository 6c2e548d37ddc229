"""Composition root of the worker process: runs the requested roles of the FEATURES table against NATS and the
database, each as a named task with the process's services object."""

from __future__ import annotations

import asyncio
import logging

from tagpipe.bus import close, wait_for_bus
from tagpipe.bus.security import WORKER, central_login
from tagpipe.bus.status import publish_worker_status
from tagpipe.db import upgrade
from tagpipe.feature import consumers_of, roles_of
from tagpipe.features import FEATURES
from tagpipe.services import build_services
from tagpipe.settings import Settings

log = logging.getLogger(__name__)


def known_roles() -> list[str]:
    return list(roles_of(FEATURES))


async def run_workers(settings: Settings, roles: list[str], *, migrate: bool = True) -> None:
    available = roles_of(FEATURES)
    unknown = set(roles) - set(available)
    if unknown:
        raise ValueError(f"unknown worker role(s) {sorted(unknown)}; expected some of {', '.join(available)}")
    if migrate:  # `tagpipe up` migrates before it starts this process, which then never loads Alembic
        upgrade(settings.db_url)
    services = build_services(settings, FEATURES)
    # The worker is the one principal allowed to create streams (bus.security): it makes them before consuming.
    services.nc = await wait_for_bus(settings.bus_url, f"tagpipe-worker-{'-'.join(roles)}",
                                     setup=services.ensure_streams, **central_login(settings, WORKER))
    try:
        async with asyncio.TaskGroup() as tg:
            for role in roles:
                tg.create_task(available[role]()(services), name=role)
            consumers = consumers_of(FEATURES)
            tg.create_task(publish_worker_status(services.nc, services.subjects, {r: consumers[r] for r in roles}),
                           name="worker-status")
    finally:
        await close(services.nc)
