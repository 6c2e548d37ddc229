"""Composition root of the worker process: runs the requested roles of the FEATURES table against NATS and the
database, each as a named task with the process's services object."""

from __future__ import annotations

import asyncio
import logging

from tagpipe.bus import connect, ensure_stream
from tagpipe.bus.events import ensure_events_stream
from tagpipe.bus.jetstream import close
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
    while services.nc is None:
        try:
            services.nc = await connect(settings.bus_url, f"tagpipe-worker-{'-'.join(roles)}")
        except Exception as e:  # noqa: BLE001
            log.info("waiting for NATS at %s: %s", settings.bus_url, e)
            await asyncio.sleep(0.5)
    await ensure_stream(services.nc.jetstream(), services.subjects, max_age_days=settings.stream_max_age_days)
    await ensure_events_stream(services.nc.jetstream(), services.subjects, max_age_hours=settings.events_max_age_hours,
                               max_bytes=settings.events_max_mb << 20)
    try:
        async with asyncio.TaskGroup() as tg:
            for role in roles:
                tg.create_task(available[role]()(services), name=role)
            consumers = consumers_of(FEATURES)
            tg.create_task(publish_worker_status(services.nc, services.subjects, {r: consumers[r] for r in roles}),
                           name="worker-status")
    finally:
        await close(services.nc)
