"""Composition root of the worker process: runs the requested roles (ingest, fleet) against NATS and the database."""

from __future__ import annotations

import asyncio
import logging

from tagpipe.bus import connect, ensure_stream
from tagpipe.bus.jetstream import close
from tagpipe.contracts import Subjects
from tagpipe.db import make_engine, upgrade
from tagpipe.settings import Settings

log = logging.getLogger(__name__)
ROLES = ("ingest", "fleet")


async def run_workers(settings: Settings, roles: list[str], *, migrate: bool = True) -> None:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown worker role(s) {sorted(unknown)}; expected some of {', '.join(ROLES)}")
    if migrate:  # `tagpipe up` migrates before it starts this process, which then never loads Alembic
        upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    subjects = Subjects(settings.prefix)
    nc = None
    while nc is None:
        try:
            nc = await connect(settings.bus_url, f"tagpipe-worker-{'-'.join(roles)}")
        except Exception as e:  # noqa: BLE001
            log.info("waiting for NATS at %s: %s", settings.bus_url, e)
            await asyncio.sleep(0.5)
    await ensure_stream(nc.jetstream(), subjects, max_age_days=settings.stream_max_age_days)
    from tagpipe.fleet.worker import run_fleet
    from tagpipe.history.worker import run_ingest

    try:
        async with asyncio.TaskGroup() as tg:
            if "ingest" in roles:
                tg.create_task(run_ingest(nc, engine, subjects), name="ingest")
            if "fleet" in roles:
                tg.create_task(run_fleet(nc, engine, subjects), name="fleet")
    finally:
        await close(nc)
