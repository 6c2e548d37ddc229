"""The ingest worker: data messages validated at the boundary, written in batches idempotently, acked after commit.

Consuming is the bus helper's job (``tagpipe.bus.consume``): the next batch is fetched and validated while this one is
written (in a thread; SQLite releases the GIL while it works), a message that fails validation is dead-lettered at
once with its reason, a batch that fails to store is bisected so the rest is stored and the culprit dead-lettered, and
a redelivered message is tried alone. Acks stay explicit: ``AckPolicy.ALL`` would let one copy of the worker ack
messages another copy has fetched but not yet stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Engine

from tagpipe.backoff import Backoff
from tagpipe.bus import DeadLetterSink, consume, events, stored_ms
from tagpipe.contracts.data import DEFAULT_LIMITS, DataPayload, PayloadLimits, parse_data
from tagpipe.contracts.events import ConfigChanged
from tagpipe.contracts.subjects import Subjects
from tagpipe.db import database_away
from tagpipe.history.compact import Compactor
from tagpipe.history.merge import Merger
from tagpipe.history.models import GOOD
from tagpipe.history.retention import Retention
from tagpipe.history.store import IngestStore, WriteResult

log = logging.getLogger(__name__)
# A batch held by a worker that died comes back this long after: short, so a restarted worker resumes quickly;
# a write takes well under a second, and a write the database keeps waiting is kept in progress by the helper.
ACK_WAIT_S = 15.0


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


def _events(result: WriteResult, partitions: int) -> dict[int, bytes]:
    """The batch's stored values as one encoded StoredValues event per partition (tag id mod partitions)."""
    parts: dict[int, list[tuple[int, int, Any, int]]] = {}
    n = result.numbers
    for i in range(0, len(n), 3):
        parts.setdefault(n[i] % partitions, []).append((n[i], n[i + 1], n[i + 2], GOOD))
    for row in result.others:
        parts.setdefault(row[0] % partitions, []).append(row)
    return {p: events.compact(rows, p) for p, rows in parts.items()}


async def _publish_events(js: JetStreamContext, subjects: Subjects, encoded: dict[int, bytes], batch_id: str) -> None:
    """Publish after the commit and before the ack: if it fails, the batch is redelivered (its rows are stored
    already, so only the events are sent again); the Nats-Msg-Id keeps a repeat from being stored twice."""
    backoff = Backoff(base=0.2, cap=5.0)
    while True:
        try:
            await asyncio.gather(*(js.publish(subjects.event("values", p), data, timeout=5.0,
                                              headers={"Nats-Msg-Id": f"{batch_id}-{p}"})
                                   for p, data in encoded.items()))
            return
        except Exception as e:  # noqa: BLE001 - the bus is restarting; keep the batch unacknowledged until it is back
            log.info("publishing stored-value events failed (%s); retrying", e)
            await asyncio.sleep(backoff.delay())


def _batch_id(msgs: list) -> str:  # type: ignore[type-arg]
    try:
        return f"values-{msgs[0].metadata.sequence.stream}-{msgs[-1].metadata.sequence.stream}-{len(msgs)}"
    except Exception:  # noqa: BLE001 - not JetStream messages
        return f"values-{time.time_ns()}"


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
                     durable: str = "ingest", partitions: int = 16, merge_s: float = 30.0) -> None:
    """Fetch, write, then ack: a crash between write and ack only causes a redelivery that changes nothing."""
    store = IngestStore(engine)
    # A deleted tag's id must not be written again, nor a newly configured tag's values go to an old collector tag.
    await events.listen(nc, subjects, ConfigChanged, lambda _: store.forget_ids())
    writing = asyncio.Lock()  # the background steps and the batches take turns at the database's one writer
    merger = Merger(engine, interval_s=merge_s)
    wake = asyncio.Event()
    background = asyncio.create_task(_background(merger, Compactor(engine), Retention(engine), writing, wake))
    try:
        await _ingest(nc, store, subjects, writing, merger, wake, dead_letters=dead_letters, limits=limits,
                      max_deliveries=max_deliveries, batch=batch, durable=durable, partitions=partitions)
    finally:
        background.cancel()


async def _background(merger: Merger, compactor: Compactor, retention: Retention, writing: asyncio.Lock,
                      wake: asyncio.Event, *, idle_s: float = 5.0) -> None:
    """Staged values into samples and rollups, samples of hours that are over into compressed blocks, and what
    retention no longer keeps deleted, one short step at a time, between batches (``wake`` is set after a batch)."""
    backoff = Backoff(base=1.0, cap=60.0)
    jobs = [(merger, "merging staged values"), (compactor, "compacting samples"), (retention, "retention")]
    while True:
        due = next((i for i, (j, _) in enumerate(jobs) if j.due()), None)
        if due is None:
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), idle_s)
            continue
        job, name = jobs.pop(due)
        jobs.append((job, name))  # the others go first next time: each gets its turns
        try:
            async with writing:
                await asyncio.to_thread(job.step)
            backoff.reset()
        except Exception:
            log.exception("%s failed; trying again", name)
            await asyncio.sleep(backoff.delay())


async def _ingest(nc: Client, store: IngestStore, subjects: Subjects, writing: asyncio.Lock, merger: Merger,
                  wake: asyncio.Event, *,
                  dead_letters: DeadLetterSink, limits: PayloadLimits, max_deliveries: int, batch: int, durable: str,
                  partitions: int) -> None:
    async with consume(nc, stream=subjects.stream_name, durable=durable, filter_subject=subjects.all("data"),
                       prepare=validator(limits), dead_letters=dead_letters, consumer="ingest",
                       max_deliveries=max_deliveries, batch=batch, weigh=_width, max_weight=50_000,
                       ack_wait=ACK_WAIT_S) as batches:
        settling: asyncio.Task[None] | None = None  # the last batch's events and acks, sent while the next is written
        try:
            async for got in batches:
                try:
                    async with writing:
                        result = await asyncio.to_thread(store.write, got.items)
                except Exception as e:  # noqa: BLE001 - settled by the helper: retried, isolated or dead-lettered
                    await (got.retry(e) if database_away(e) else got.fail(e))
                    continue
                merger.staged(result.staged)
                wake.set()
                if settling is not None:
                    await settling
                settling = asyncio.create_task(_settle(nc, subjects, got, result, partitions))
                del got
                _trim()
        finally:
            if settling is not None:
                settling.cancel()  # not acked: the batch comes again, and the merge keeps its values once


async def _settle(nc: Client, subjects: Subjects, got: Any, result: WriteResult, partitions: int) -> None:
    """After the commit: the stored-value events, then the acks (a failed publish redelivers the batch)."""
    if result.values:
        await _publish_events(nc.jetstream(), subjects, _events(result, partitions), _batch_id(got.msgs))
    await got.ack()
    log.debug("ingested %d messages, %d values (%d staged)", result.messages, result.values, result.staged)
