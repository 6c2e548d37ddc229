"""The one way a worker role consumes a durable JetStream consumer: batches, acks after commit, dead letters.

::

    async with consume(nc, stream=..., durable="ingest", filter_subject=..., prepare=parse,
                       dead_letters=store, consumer="ingest") as batches:
        async for batch in batches:
            try:
                await asyncio.to_thread(write, batch.items)
            except OperationalError as e:   # the database is away: the same batch again after a back-off
                await batch.retry(e)
            except Exception as e:          # something in it cannot be stored: find it, then dead-letter it
                await batch.fail(e)
            else:
                await batch.ack()

The rules, written once here for every role:

- Batches are taken with plain pull requests (``Puller``); the next batch is fetched and prepared while the caller
  works on this one. Acks are explicit, sent by the caller after its commit.
- ``prepare(msg)`` turns a message into the caller's item. A ``ValueError`` is a reject: the message is dead-lettered
  at once with the error as the reason and terminated (``msg.term()``), so it is never delivered again.
- A first delivery comes in a batch. A message JetStream delivers again (its worker died, or did not ack in time)
  comes alone, and nothing else is fetched until it is settled: it cannot take a batch down with it, nor count a
  delivery against another message by dying. Once a message was delivered ``max_deliveries`` times it is
  dead-lettered ("delivered K times without being stored") instead of being tried again. So a message that kills the
  worker process kills it at most K times. A consumer starts with a fetch of one message for the same reason.
- ``batch.fail(error)`` bisects the batch in process (the rest is stored) until the failing message is alone; that
  one is nak'ed with a back-off, comes back as a redelivery, and is dead-lettered with its last error once it was
  tried K times.
- ``batch.retry(error)`` keeps the batch (JetStream is told it is in progress) and yields it again after a jittered
  back-off: for errors of the store itself, which say nothing about the messages.
- The bus being away means a back-off, never an exception; a consumer that disappeared is created again. The durable
  consumer is created with ``max_deliver`` = K + 5 as a backstop (should dead letters not be writable either).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, Self, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from tagpipe.backoff import Backoff
from tagpipe.bus.jetstream import ack_all
from tagpipe.bus.puller import Puller
from tagpipe.contracts.subjects import Subjects
from tagpipe.db.dead_letters import Letter

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKSTOP = 5  # max_deliver = max_deliveries + BACKSTOP


class DeadLetterSink(Protocol):
    """Where dead letters go (``tagpipe.db.dead_letters.DeadLetterStore``); called in a worker thread."""

    def park(self, letters: list[Letter]) -> None: ...


def deliveries(msg: Msg) -> int:
    """How often JetStream has delivered ``msg`` (1 the first time), read from its reply subject."""
    tokens = msg.reply.split(".")
    return int(tokens[4] if len(tokens) == 9 else tokens[6])


def _stream_seq_and_ms(msg: Msg) -> tuple[int | None, int]:
    tokens = msg.reply.split(".")
    try:
        seq, ns = (tokens[5], tokens[7]) if len(tokens) == 9 else (tokens[7], tokens[9])
        return int(seq), int(ns) // 1_000_000
    except (IndexError, ValueError):  # not a JetStream message
        return None, int(time.time() * 1000)


def stored_ms(msg: Msg) -> int:
    """When JetStream stored the message (epoch ms)."""
    return _stream_seq_and_ms(msg)[1]


def _text(text: str) -> str:
    return text.replace("\x00", "\\x00")  # PostgreSQL text cannot hold NUL


def _describe(error: BaseException) -> str:
    """The error's type and message; for a database error the driver's message, without the SQL and its parameters."""
    cause = getattr(error, "orig", None) or error
    return f"{type(error).__name__}: {cause}"[:1000]


class Batch(Generic[T]):
    """Messages and the items ``prepare`` made of them, in the same order; settle it with ack, fail or retry."""

    __slots__ = ("_owner", "items", "msgs")

    def __init__(self, owner: Consumer[T], msgs: list[Msg], items: list[T]) -> None:
        self._owner, self.msgs, self.items = owner, msgs, items

    def __len__(self) -> int:
        return len(self.msgs)

    async def ack(self) -> None:
        """The caller has committed every item: ack them all."""
        await self._owner._settled(self)
        await ack_all(self.msgs)

    async def fail(self, error: BaseException) -> None:
        """Storing the batch raised ``error``: find the message(s) at fault by bisection; the rest come again."""
        await self._owner._failed(self, error)

    async def retry(self, error: BaseException) -> None:
        """The store itself is away: wait (a growing, jittered back-off) and take the same batch again."""
        await self._owner._retry(self, error)


class Consumer(Generic[T]):
    """Batches of the durable consumer ``durable`` on ``stream`` (created or updated first), as an async iterator;
    as an async context manager it also stops its fetch task. See the module docstring for the rules."""

    def __init__(self, nc: Client, *, stream: str, durable: str, filter_subject: str | list[str],
                 prepare: Callable[[Msg], T], dead_letters: DeadLetterSink, consumer: str | None = None,
                 max_deliveries: int = 5, deliver_new: bool = False, batch: int = 5000, expires: float = 0.25,
                 ack_wait: float = 60.0, max_ack_pending: int = 100_000, weigh: Callable[[T], int] | None = None,
                 max_weight: int = 50_000) -> None:
        self.nc, self.stream, self.durable, self.filter_subject = nc, stream, durable, filter_subject
        self.prepare, self.sink, self.name = prepare, dead_letters, consumer or durable
        self.max_deliveries, self.batch, self.expires = max_deliveries, batch, expires
        self.weigh, self.max_weight = weigh, max_weight
        self.config = ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW if deliver_new else DeliverPolicy.ALL,
            # several subjects: a copy of a partitioned role takes only its partitions (bus.events.shard_subjects)
            **({"filter_subject": filter_subject} if isinstance(filter_subject, str)
               else {"filter_subjects": filter_subject}),
            ack_wait=ack_wait, max_ack_pending=max_ack_pending, max_deliver=max_deliveries + BACKSTOP)
        self._ready: asyncio.Queue[Batch[T]] = asyncio.Queue(maxsize=1)  # one batch prepared ahead
        self._front: deque[Batch[T]] = deque()  # halves of a failed batch and retried batches come first
        self._held: set[Batch[T]] = set()  # taken from the bus, not settled yet
        self._idle = asyncio.Event()  # nothing held
        self._idle.set()
        self._retry_backoff = Backoff(base=0.5, cap=10.0)
        self._task: asyncio.Task[None] | None = None
        self._puller: Puller | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})  # unlike awaiting it, never swallows a cancellation of the caller
            self._task = None

    async def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._pull_loop(), name=f"consume-{self.durable}")

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Batch[T]:
        await self._start()
        if self._front:
            return self._front.popleft()
        get = asyncio.ensure_future(self._ready.get())
        assert self._task is not None
        try:
            done, _ = await asyncio.wait({get, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not get.done():
                get.cancel()  # never leave a getter behind that would swallow a batch
        if get in done:
            return get.result()
        self._task.result()  # the fetch task ended: raise what ended it
        raise StopAsyncIteration

    # -- fetching -----------------------------------------------------------------------------------------------

    async def _ensure_consumer(self) -> None:
        js = self.nc.jetstream()
        try:
            info = await js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            await js.add_consumer(self.stream, self.config)
            return
        have = info.config
        if (have.max_deliver, have.ack_wait, have.max_ack_pending) != (
                self.config.max_deliver, self.config.ack_wait, self.config.max_ack_pending):
            await js.add_consumer(self.stream, self.config)  # create-or-update: these fields may change

    async def _pull_loop(self) -> None:
        backoff = Backoff(base=0.2, cap=5.0)
        while True:  # wait for the consumer: the bus may be starting
            try:
                await self._ensure_consumer()
                break
            except Exception as e:  # noqa: BLE001 - the bus is away; the consumer is durable
                log.info("consumer %s not ready (%s); retrying", self.durable, e)
                await asyncio.sleep(backoff.delay())
        self._puller = puller = Puller(self.nc, self.stream, self.durable)
        await puller.start()
        log.info("consuming %s as %s", self.filter_subject, self.durable)
        want = 1  # careful until the first message shows it is not a redelivery
        while True:
            try:
                msgs = await puller.fetch(want, self.expires)
                if puller.consumer_gone and not msgs:
                    await self._ensure_consumer()
            except Exception as e:  # noqa: BLE001 - the bus is restarting; the consumer is durable
                log.info("fetching from %s failed (%s); retrying", self.durable, e)
                await asyncio.sleep(backoff.delay())
                continue
            backoff.reset()
            if msgs:
                want = await self._take(msgs)
                if want == 1:  # redeliveries: hold nothing else while one is tried, or its crash would count for both
                    await self._idle.wait()

    async def _take(self, msgs: list[Msg]) -> int:
        """Prepare and queue what was fetched; returns the next batch size (1 after a redelivery)."""
        k = self.max_deliveries
        first: list[Msg] = []
        again: list[tuple[Msg, int]] = []
        for msg in msgs:
            n = deliveries(msg)
            if n == 1:
                first.append(msg)
            else:
                again.append((msg, n))
        want = self.batch
        if first:
            batch = await self._prepared(first)
            if batch is not None:
                if self.weigh is not None:
                    width = sum(map(self.weigh, batch.items)) / len(batch.items)
                    want = max(10, min(self.batch, int(self.max_weight / max(1.0, width))))
                await self._queue(batch)
        for msg, n in again:
            if n > k:
                await self._park([(msg, f"delivered {k} times without being stored", n - 1)])
                continue
            batch = await self._prepared([msg])
            if batch is not None:
                await self._queue(batch)
        return 1 if again else want

    async def _queue(self, batch: Batch[T]) -> None:
        self._hold(batch)
        await self._ready.put(batch)

    def _hold(self, batch: Batch[T]) -> None:
        self._held.add(batch)
        self._idle.clear()

    def _release(self, batch: Batch[T]) -> None:
        self._held.discard(batch)
        if not self._held:
            self._idle.set()

    async def _prepared(self, msgs: list[Msg]) -> Batch[T] | None:
        prepare = self.prepare
        kept: list[Msg] = []
        items: list[T] = []
        rejects: list[tuple[Msg, str, int]] = []
        broken: list[tuple[Msg, BaseException]] = []
        for msg in msgs:
            try:
                items.append(prepare(msg))
            except ValueError as e:
                rejects.append((msg, str(e), deliveries(msg)))
                continue
            except Exception as e:  # a bug met by one message must not stop the role: tried again, then parked
                log.exception("preparing a message of %s failed", self.durable)
                broken.append((msg, e))
                continue
            kept.append(msg)
        if rejects:
            for _, reason, _ in rejects:
                log.warning("dead letter on %s: %s", self.durable, reason)
            await self._park(rejects)
        for msg, error in broken:
            await self._one_failed(msg, error)
        return Batch(self, kept, items) if kept else None

    # -- settling -----------------------------------------------------------------------------------------------

    async def _settled(self, batch: Batch[T]) -> None:
        self._release(batch)
        self._retry_backoff.reset()

    async def _failed(self, batch: Batch[T], error: BaseException) -> None:
        if len(batch) == 1:
            self._release(batch)
            await self._one_failed(batch.msgs[0], error)
            return
        half = len(batch) // 2
        halves = [Batch(self, batch.msgs[:half], batch.items[:half]),
                  Batch(self, batch.msgs[half:], batch.items[half:])]
        log.info("a batch of %d on %s failed (%s); trying halves", len(batch), self.durable, error)
        for h in halves:
            self._hold(h)
        self._release(batch)
        self._front.extendleft(reversed(halves))

    async def _one_failed(self, msg: Msg, error: BaseException) -> None:
        n = deliveries(msg)
        if n >= self.max_deliveries:
            await self._park([(msg, f"delivered {n} times without being stored; last error: {_describe(error)}", n)])
            return
        log.warning("a message on %s failed (%r, delivery %d of %d); it comes again", self.durable, error, n,
                    self.max_deliveries)
        with contextlib.suppress(Exception):  # lost with the connection: redelivered after ack_wait instead
            await msg.nak(delay=min(30.0, 0.5 * 2 ** (n - 1)))

    async def _retry(self, batch: Batch[T], error: BaseException) -> None:
        delay = self._retry_backoff.delay()
        log.warning("storing a batch of %d on %s failed (%r); again in %.1f s", len(batch), self.durable, error,
                    delay)
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            await self._touch()
            await asyncio.sleep(min(left, self.config.ack_wait / 3))  # type: ignore[operator]
        await self._touch()
        self._front.appendleft(batch)

    async def _touch(self) -> None:
        """Tell JetStream that every message held here is still being worked on (resets its ack_wait)."""
        held = [m for b in self._held for m in b.msgs] + (self._puller.msgs if self._puller else [])
        with contextlib.suppress(Exception):
            for msg in held:
                await msg.in_progress()

    async def _park(self, letters: list[tuple[Msg, str, int]]) -> None:
        """Dead-letter (message, reason, deliveries) and terminate them; if the sink is away, they come again."""
        now = int(time.time() * 1000)
        parked = []
        for msg, reason, n in letters:
            seq, received = _stream_seq_and_ms(msg)
            parked.append(Letter(consumer=self.name, subject=_text(msg.subject), edge_id=_text(Subjects.edge_of(
                msg.subject)), reason=_text(reason), payload=msg.data, received_ms=received, parked_ms=now,
                                 stream_seq=seq, deliveries=n))
        try:
            await asyncio.to_thread(self.sink.park, parked)
        except Exception as e:  # noqa: BLE001 - the database is away: they come again later
            log.warning("could not park %d dead letters of %s (%r); they come again", len(letters), self.durable, e)
            with contextlib.suppress(Exception):
                for msg, _, n in letters:
                    await msg.nak(delay=min(30.0, 0.5 * 2 ** n))
            return
        with contextlib.suppress(Exception):  # a term lost to a bus restart: redelivered, and parked again
            for msg, _, _ in letters:
                await msg.term()


consume = Consumer  # ``async with consume(nc, stream=..., durable=..., ...) as batches``
