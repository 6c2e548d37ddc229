"""The bus consumer helper against a real nats-server: rejects, isolation, K deliveries, retries, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tagpipe.bus import EmbeddedNats, consume, deliveries, ensure_stream
from tagpipe.contracts import Subjects
from tagpipe.db import dead_letters, make_engine, upgrade
from tagpipe.db.dead_letters import DeadLetterStore
from tests.helpers import async_wait_until

SUBJECTS = Subjects("tagpipe")
Handler = Callable[[list[dict[str, Any]]], Awaitable[None]]


class Transient(Exception):
    """Stands for the store being away."""


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'letters.db'}"
    upgrade(url)
    return make_engine(url)


@pytest.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    await ensure_stream(client.jetstream(), SUBJECTS)
    yield client
    await client.close()


def prepare(msg: Msg) -> dict[str, Any]:
    body = json.loads(msg.data)  # not JSON: a ValueError, i.e. a reject
    if "n" not in body:
        raise ValueError("n: expected a number")
    return {**body, "deliveries": deliveries(msg)}


async def publish(nc: Client, *bodies: object, edge: str = "e1") -> None:
    js = nc.jetstream()
    for b in bodies:
        await js.publish(SUBJECTS.device(edge, "data"), b if isinstance(b, bytes) else json.dumps(b).encode())


@contextlib.asynccontextmanager
async def worker(nc: Client, engine: Engine, handle: Handler, **options: Any) -> AsyncIterator[list[list[int]]]:
    """A consumer loop like a worker role's: ``handle`` raises Transient (retry) or anything else (fail)."""
    seen: list[list[int]] = []  # the n of each batch handed out

    async def run() -> None:
        async with consume(nc, stream=SUBJECTS.stream_name, durable="test", filter_subject=SUBJECTS.all("data"),
                           prepare=prepare, dead_letters=DeadLetterStore(engine), **options) as batches:
            async for batch in batches:
                seen.append([i["n"] for i in batch.items])
                try:
                    await handle(batch.items)
                except Transient as e:
                    await batch.retry(e)
                except Exception as e:  # noqa: BLE001 - anything else is dead-lettered, as in a worker
                    await batch.fail(e)
                else:
                    await batch.ack()

    task = asyncio.create_task(run())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def letters(engine: Engine) -> list[Any]:
    with Session(engine) as s:
        return [dead_letters.get(s, row.id) for row in dead_letters.page(s, limit=500)[1]]


async def settled(nc: Client) -> bool:
    info = await nc.jetstream().consumer_info(SUBJECTS.stream_name, "test")
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_reject_is_dead_lettered_with_its_payload_and_never_delivered_again(nc: Client, engine: Engine) -> None:
    stored: list[int] = []

    async def handle(items: list[dict[str, Any]]) -> None:
        stored.extend(i["n"] for i in items)

    async with worker(nc, engine, handle, ack_wait=1.0):
        await publish(nc, {"n": 1}, b"\x00 not json", {"x": 2}, {"n": 3}, edge="edge-7")
        await async_wait_until(lambda: len(stored) == 2 and len(letters(engine)) == 2, timeout=10)
        await async_wait_until(lambda: settled(nc), timeout=5, what="nothing pending or unacked")
        await asyncio.sleep(1.5)  # longer than ack_wait: a message that was not terminated would be back
    assert stored == [1, 3]
    got = sorted(letters(engine), key=lambda x: x.id)
    assert [x.payload for x in got] == [b"\x00 not json", b'{"x": 2}']
    assert got[1].reason == "n: expected a number" and ("JSON" in got[0].reason or "Expecting" in got[0].reason)
    assert {(x.edge_id, x.subject, x.consumer, x.deliveries) for x in got} == {
        ("edge-7", "tagpipe.devices.edge-7.data", "test", 1)}
    assert [x.stream_seq for x in got] == [2, 3] and all(x.received_ms > 1e12 for x in got)
    with Session(engine) as s:
        assert [(c.edge_id, c.count) for c in dead_letters.counts(s)] == [("edge-7", 2)]


async def test_a_message_that_fails_is_isolated_and_dead_lettered_after_k_tries(nc: Client, engine: Engine) -> None:
    stored: list[int] = []

    async def handle(items: list[dict[str, Any]]) -> None:
        if any(i["n"] == 13 for i in items):
            raise RuntimeError("cannot store 13")
        stored.extend(i["n"] for i in items)

    await publish(nc, *[{"n": n} for n in range(40)])
    async with worker(nc, engine, handle, max_deliveries=3) as seen:
        await async_wait_until(lambda: len(letters(engine)) == 1, timeout=20, what="13 dead-lettered")
        await async_wait_until(lambda: settled(nc), timeout=5)
    assert sorted(stored) == [n for n in range(40) if n != 13]  # the rest of its batch, each once
    (letter,) = letters(engine)
    assert letter.reason == "delivered 3 times without being stored; last error: RuntimeError: cannot store 13"
    assert letter.deliveries == 3 and json.loads(letter.payload) == {"n": 13}
    assert [b for b in seen if 13 in b][-2:] == [[13], [13]]  # redelivered alone


async def test_a_message_that_kills_the_worker_is_dead_lettered_after_k_deliveries(nats_server: EmbeddedNats,
                                                                                   nc: Client, engine: Engine) -> None:
    """The worker dies before settling anything (as a segfault would): JetStream redelivers after ack_wait, the
    redelivered messages come one by one, and the one that was delivered K times is parked without being tried."""
    await publish(nc, {"n": 1}, {"n": 2}, {"n": 3})
    stored: list[int] = []
    deaths = 0

    async def handle(items: list[dict[str, Any]]) -> None:
        if 2 in [i["n"] for i in items]:
            raise asyncio.CancelledError  # stands for the process dying: nothing is settled
        stored.extend(i["n"] for i in items)

    while not letters(engine):
        assert deaths < 6, "the poison message was never parked"
        other = await nats.connect(nats_server.url)  # a fresh process: its own connection
        async with worker(other, engine, handle, ack_wait=0.5, max_deliveries=3) as seen:
            with contextlib.suppress(AssertionError):
                await async_wait_until(lambda: any(2 in b for b in seen) or letters(engine), timeout=5)
            await asyncio.sleep(0.1)
        await other.close()
        deaths += 1
        if deaths == 1:
            assert seen == [[1], [2, 3]]  # first deliveries come in a batch (after one to look)
        else:
            assert all(len(b) == 1 for b in seen)  # redeliveries come alone
    assert deaths == 4  # three deliveries killed it, the fourth was parked unseen
    async with worker(nc, engine, handle, ack_wait=0.5, max_deliveries=3):
        await publish(nc, {"n": 4})
        await async_wait_until(lambda: {1, 3, 4} <= set(stored), timeout=10, what="the others stored")
        await async_wait_until(lambda: settled(nc), timeout=5)
    (letter,) = letters(engine)
    assert letter.reason == "delivered 3 times without being stored" and json.loads(letter.payload) == {"n": 2}


async def test_the_store_being_away_retries_the_batch_without_a_redelivery(nc: Client, engine: Engine) -> None:
    calls: list[list[dict[str, Any]]] = []

    async def handle(items: list[dict[str, Any]]) -> None:
        calls.append(items)
        if len(calls) < 3:
            raise Transient("database is locked")

    await publish(nc, *[{"n": n} for n in range(5)])
    async with worker(nc, engine, handle, ack_wait=1.0, max_deliveries=1):
        await async_wait_until(lambda: len(calls) >= 3 and sum(map(len, calls[2:])) == 5, timeout=15)
        await async_wait_until(lambda: settled(nc), timeout=5)
    assert calls[0] == calls[1] == calls[2]  # the same batch again, in process
    assert sorted(i["n"] for c in calls[2:] for i in c) == list(range(5))  # then each stored once
    assert {i["deliveries"] for c in calls for i in c} == {1} and letters(engine) == []


async def test_the_durable_consumer_gets_max_deliver_as_a_backstop_updated_with_the_setting(
        nc: Client, engine: Engine) -> None:
    js = nc.jetstream()

    async def max_deliver() -> bool:
        return (await js.consumer_info(SUBJECTS.stream_name, "test")).config.max_deliver

    async def nothing(items: list[dict[str, Any]]) -> None:
        pass

    async with worker(nc, engine, nothing, max_deliveries=4):
        await async_wait_until(lambda: _equals(max_deliver(), 9), timeout=5)
    async with worker(nc, engine, nothing, max_deliveries=7):
        await async_wait_until(lambda: _equals(max_deliver(), 12), timeout=5)


async def test_a_deleted_consumer_is_created_again(nc: Client, engine: Engine) -> None:
    js = nc.jetstream()
    stored: list[int] = []

    async def handle(items: list[dict[str, Any]]) -> None:
        stored.extend(i["n"] for i in items)

    async with worker(nc, engine, handle):
        await publish(nc, {"n": 1})
        await async_wait_until(lambda: stored == [1], timeout=10)
        await js.delete_consumer(SUBJECTS.stream_name, "test")
        await publish(nc, {"n": 2})
        await async_wait_until(lambda: 2 in stored, timeout=15, what="the consumer created again")


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_copies_of_a_partitioned_role_each_own_their_share_of_the_events(nc: Client, engine: Engine) -> None:
    from tagpipe.bus.events import ensure_events_stream, shard_subjects

    js = nc.jetstream()
    await ensure_events_stream(js, SUBJECTS)
    for partition in range(8):
        await js.publish(SUBJECTS.event("values", partition), json.dumps({"n": partition}).encode())
    seen: dict[int, list[int]] = {0: [], 1: []}
    store = DeadLetterStore(engine)

    async def copy(shard: int) -> None:
        async with consume(nc, stream=SUBJECTS.events_stream_name, durable=f"calc-{shard}",
                           filter_subject=shard_subjects(SUBJECTS, "values", shard, 2, 8), prepare=prepare,
                           dead_letters=store) as batches:
            async for batch in batches:
                seen[shard] += [item["n"] for item in batch.items]
                await batch.ack()

    tasks = [asyncio.create_task(copy(k)) for k in (0, 1)]
    await async_wait_until(lambda: len(seen[0]) + len(seen[1]) == 8, timeout=10)
    for t in tasks:
        t.cancel()
        with contextlib.suppress(BaseException):
            await t
    assert sorted(seen[0]) == [0, 2, 4, 6] and sorted(seen[1]) == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="shard 2 of 2"):
        shard_subjects(SUBJECTS, "values", 2, 2, 8)
