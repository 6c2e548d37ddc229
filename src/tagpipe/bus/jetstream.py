"""NATS connections and the device stream that captures ``{prefix}.devices.>``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from tagpipe.backoff import Backoff
from tagpipe.contracts.subjects import Subjects

log = logging.getLogger(__name__)


async def connect(url: str, name: str, **options: Any) -> Client:
    """A connection that reconnects forever; callers see publishes fail while the server is away. ``options``: the
    principal's ``user`` and ``password`` and a ``tls`` context (``bus.security.central_login``)."""

    async def on_error(e: Exception) -> None:
        log.debug("nats %s: %s", name, e)

    return await nats.connect(url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                              connect_timeout=2, error_cb=on_error, allow_reconnect=True, **options)


async def wait_for_bus(url: str, name: str, *, setup: Callable[[Client], Awaitable[object]] | None = None,
                       **options: Any) -> Client:
    """A connection once the bus answers and ``setup(nc)`` (e.g. creating the stream) succeeded; until then it tries
    again with a jittered back-off, logging each failure."""
    backoff = Backoff(base=0.2, cap=5.0)
    while True:
        nc: Client | None = None
        try:
            nc = await connect(url, name, **options)
            if setup is not None:
                await setup(nc)
            return nc
        except Exception as e:  # noqa: BLE001 - keep trying until the bus is there
            log.info("waiting for NATS at %s: %s", url, e)
            if nc is not None:
                await close(nc)
            await asyncio.sleep(backoff.delay())


async def ensure_stream(js: JetStreamContext, subjects: Subjects, *, max_age_days: float = 7.0) -> str:
    """Create or update the device stream: file storage, 2-minute de-duplication window on Nats-Msg-Id."""
    config = StreamConfig(
        name=subjects.stream_name,
        subjects=[subjects.stream_subjects],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age_days * 86400,
        duplicate_window=120,
    )
    try:
        await js.stream_info(subjects.stream_name)
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)
    return subjects.stream_name


async def close(nc: Client, timeout: float = 2.0) -> None:
    """Close without hanging when the server is already gone (Ctrl-C reaches nats-server at the same moment)."""
    try:
        async with asyncio.timeout(timeout):
            await nc.close()
    except Exception as e:  # noqa: BLE001 - closing anyway
        log.debug("closing the NATS connection: %s", e)


async def ack_all(msgs: list) -> None:  # type: ignore[type-arg]
    """Ack after the commit; an ack lost to a bus restart only causes a harmless redelivery."""
    try:
        for msg in msgs:
            await msg.ack()
    except Exception as e:  # noqa: BLE001 - a lost ack only means a redelivery
        log.info("ack failed (%s); the batch will be redelivered and de-duplicated", e)
