"""The ingest worker: a durable JetStream consumer on ``*.data`` writing batches idempotently.

Fetching and writing overlap: while one batch is written (in a thread; SQLite releases the GIL while it works) the
next is fetched and parsed. Each message is acked only after the transaction holding it has committed, so a crash
anywhere only causes a redelivery, which the store de-duplicates. Acks stay explicit (``AckPolicy.EXPLICIT``):
``AckPolicy.ALL`` would let one copy of the worker ack messages another copy has fetched but not yet stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import logging
import time
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import Engine

from tagpipe.backoff import Backoff
from tagpipe.bus import events
from tagpipe.bus.jetstream import ack_all
from tagpipe.contracts.subjects import Subjects
from tagpipe.history.ingest import DataMessage, Rejected, parse_data
from tagpipe.history.models import GOOD
from tagpipe.history.store import IngestStore, WriteResult

log = logging.getLogger(__name__)
Parsed = tuple[list, list[DataMessage], list[tuple[str, str]]]  # (nats messages, parsed, (edge id, reason) rejects)


def _received_ms(msg) -> int:  # type: ignore[no-untyped-def]
    """When JetStream stored the message: the timestamp of a payload that has none (parsed only when needed)."""
    try:
        return int(msg.metadata.timestamp.timestamp() * 1000)
    except Exception:  # noqa: BLE001 - not a JetStream message
        return int(time.time() * 1000)


def parse_batch(msgs: list) -> Parsed:  # type: ignore[type-arg]
    good: list[DataMessage] = []
    bad: list[tuple[str, str]] = []
    edge_of = Subjects.edge_of
    for msg in msgs:
        edge_id = edge_of(msg.subject)
        try:
            good.append(parse_data(edge_id, msg.data, lambda m=msg: _received_ms(m)))
        except Rejected as e:
            log.warning("rejected data from edge %s: %s", edge_id, e)
            bad.append((edge_id, str(e)))
    return msgs, good, bad


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


async def _write_loop(store: IngestStore, queue: asyncio.Queue[Parsed], js: JetStreamContext, subjects: Subjects,
                      partitions: int) -> None:
    while True:
        msgs, good, bad = await queue.get()
        for edge_id, reason in bad:
            await asyncio.to_thread(store.reject, edge_id, reason, int(time.time() * 1000))
        result = await asyncio.to_thread(store.write, good)
        if result.values:
            await _publish_events(js, subjects, _events(result, partitions), _batch_id(msgs))
        await ack_all(msgs)
        del msgs, good, bad
        _trim()
        log.debug("ingested %d messages, %d values (%d new)", result.messages, result.values, result.inserted)


class Puller:
    """Pull batches from a durable consumer with plain pull requests on a callback subscription.

    nats-py's ``fetch`` awaits every message with its own timeout task, which costs more CPU than storing the
    message; here messages are appended to a list and a batch ends when it is full or the server says the pull
    request expired (a status message, which has no reply subject)."""

    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self.nc, self.subject = nc, f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self.msgs: list = []  # type: ignore[type-arg]
        self.done = asyncio.Event()
        self.want = 0

    async def start(self) -> None:
        await self.nc.subscribe(self.inbox, cb=self._on_msg, pending_msgs_limit=1_000_000,
                                pending_bytes_limit=512 * 1024 * 1024)

    async def _on_msg(self, msg) -> None:  # type: ignore[no-untyped-def]
        if msg.reply:
            self.msgs.append(msg)
            if len(self.msgs) >= self.want:
                self.done.set()
        else:  # 404 no messages / 408 request expired: this pull is over
            self.done.set()

    async def fetch(self, batch: int, expires: float) -> list:  # type: ignore[type-arg]
        self.want = batch  # messages that arrived after the last batch was taken are kept and lead this one
        self.done.clear()
        await self.nc.publish(self.subject, json.dumps({"batch": batch, "expires": int(expires * 1e9)}).encode(),
                              reply=self.inbox)
        with contextlib.suppress(TimeoutError):  # a pull lost to a reconnect: the next one takes over
            async with asyncio.timeout(expires + 2.0):  # unlike wait_for in 3.11, never swallows a cancellation
                await self.done.wait()
        await asyncio.sleep(0)  # let messages already read be appended
        msgs, self.msgs, self.want = self.msgs, [], 1  # late arrivals of this pull start the next batch
        return msgs


async def _fetch_loop(puller: Puller, queue: asyncio.Queue[Parsed], batch: int, values: int = 50_000) -> None:
    """Batches of at most ``batch`` messages and about ``values`` tag values (bounds memory for wide messages)."""
    want = batch
    while True:
        try:
            msgs = await puller.fetch(want, expires=0.25)
        except Exception as e:  # noqa: BLE001 - the bus is restarting; the consumer is durable
            log.info("ingest fetch failed (%s); retrying", e)
            await asyncio.sleep(0.5)
            continue
        if msgs:
            parsed = parse_batch(msgs)
            width = sum(len(m.tags) for m in parsed[1]) / max(1, len(parsed[1]))
            want = max(10, min(batch, int(values / max(1.0, width))))
            await queue.put(parsed)


async def run_ingest(nc: Client, engine: Engine, subjects: Subjects, *, batch: int = 5000, durable: str = "ingest",
                     partitions: int = 16) -> None:
    """Fetch, write, then ack: a crash between write and ack only causes a redelivery that changes nothing."""
    js = nc.jetstream()
    store = IngestStore(engine)
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                            max_ack_pending=100_000, ack_wait=60, filter_subject=subjects.all("data"))
    try:
        await js.consumer_info(subjects.stream_name, durable)
    except NotFoundError:
        await js.add_consumer(subjects.stream_name, config)
    puller = Puller(nc, subjects.stream_name, durable)
    await puller.start()
    log.info("ingest worker consuming %s", subjects.all("data"))
    queue: asyncio.Queue[Parsed] = asyncio.Queue(maxsize=1)  # one batch parsed ahead while one is written
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_write_loop(store, queue, js, subjects, partitions), name="ingest-write")
        tg.create_task(_fetch_loop(puller, queue, batch), name="ingest-fetch")
