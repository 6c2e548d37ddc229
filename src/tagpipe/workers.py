"""Composition root of the worker process: runs the requested roles (ingest, fleet) against NATS and the database."""

from __future__ import annotations

import asyncio
import logging

from tagpipe.bus import close, ensure_stream, wait_for_bus
from tagpipe.contracts import PayloadLimits, Subjects
from tagpipe.db import make_engine, upgrade
from tagpipe.db.dead_letters import DeadLetterStore
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
    nc = await wait_for_bus(settings.bus_url, f"tagpipe-worker-{'-'.join(roles)}", setup=lambda nc: ensure_stream(
        nc.jetstream(), subjects, max_age_days=settings.stream_max_age_days))
    dead_letters = DeadLetterStore(engine, keep=settings.dead_letters_keep)
    from tagpipe.fleet.worker import run_fleet
    from tagpipe.history.worker import run_ingest

    try:
        async with asyncio.TaskGroup() as tg:
            if "ingest" in roles:
                limits = PayloadLimits(not_before_ms=int(settings.ingest_not_before.timestamp() * 1000),
                                       max_ahead_ms=int(settings.ingest_max_ahead_s * 1000),
                                       max_tags=settings.ingest_max_tags,
                                       max_value_bytes=settings.ingest_max_value_bytes)
                tg.create_task(run_ingest(nc, engine, subjects, dead_letters=dead_letters, limits=limits,
                                          max_deliveries=settings.max_deliveries), name="ingest")
            if "fleet" in roles:
                tg.create_task(run_fleet(nc, engine, subjects, dead_letters=dead_letters,
                                         max_deliveries=settings.max_deliveries), name="fleet")
    finally:
        await close(nc)
