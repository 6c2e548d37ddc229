"""The ingest worker: data messages validated at the boundary, written in batches idempotently, acked after commit.

Consuming is the bus helper's job (``tagpipe.bus.consume``): the next batch is fetched and validated while this one is
written (in a thread; SQLite releases the GIL while it works), a message that fails validation is dead-lettered at
once with its reason, a batch that fails to store is bisected so the rest is stored and the culprit dead-lettered, and
a redelivered message is tried alone. Acks stay explicit: ``AckPolicy.ALL`` would let one copy of the worker ack
messages another copy has fetched but not yet stored.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy import Engine

from tagpipe.bus import DeadLetterSink, consume, stored_ms
from tagpipe.contracts.data import DEFAULT_LIMITS, DataPayload, PayloadLimits, parse_data
from tagpipe.contracts.subjects import Subjects
from tagpipe.db import database_away
from tagpipe.history.store import IngestStore

log = logging.getLogger(__name__)


def _load_trim():  # type: ignore[no-untyped-def]
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_trim()


def _trim() -> None:
    """Give the memory of the batch just written back to the OS (glibc keeps freed arenas otherwise)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def validator(limits: PayloadLimits) -> Callable[[Msg], DataPayload]:
    """A message to its validated payload, or ``InvalidPayload`` (a ValueError: dead-lettered with the reason)."""
    edge_of = Subjects.edge_of

    def prepare(msg: Msg) -> DataPayload:
        return parse_data(edge_of(msg.subject), msg.data, now_ms=int(time.time() * 1000),
                          fallback_ms=lambda: stored_ms(msg), limits=limits)

    return prepare


def _width(payload: DataPayload) -> int:
    return len(payload.tags)


async def run_ingest(nc: Client, engine: Engine, subjects: Subjects, *, dead_letters: DeadLetterSink,
                     limits: PayloadLimits = DEFAULT_LIMITS, max_deliveries: int = 5, batch: int = 5000,
                     durable: str = "ingest") -> None:
    """Fetch, write, then ack: a crash between write and ack only causes a redelivery that changes nothing."""
    store = IngestStore(engine)
    async with consume(nc, stream=subjects.stream_name, durable=durable, filter_subject=subjects.all("data"),
                       prepare=validator(limits), dead_letters=dead_letters, consumer="ingest",
                       max_deliveries=max_deliveries, batch=batch, weigh=_width, max_weight=50_000) as batches:
        async for got in batches:
            try:
                result = await asyncio.to_thread(store.write, got.items)
            except Exception as e:  # noqa: BLE001 - settled by the helper: retried, isolated or dead-lettered
                await (got.retry(e) if database_away(e) else got.fail(e))
                continue
            await got.ack()
            del got
            _trim()
            log.debug("ingested %d messages, %d values (%d new)", result.messages, result.values, result.inserted)
