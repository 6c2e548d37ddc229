"""The fleet worker: heartbeats of approved edges keep their metrics; silence marks them offline; responses land.

Edges coming online or going offline and answered commands are published as events after their commit. The offline
sweep runs in one elected copy of the role (``bus.election.Lease``), however many copies run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tagpipe.bus import DeadLetterSink, consume, events
from tagpipe.bus.election import Lease
from tagpipe.contracts import CommandResponse, Heartbeat, Subjects
from tagpipe.contracts.events import CommandAnswered, EdgeStatusChanged, Event
from tagpipe.db import database_away
from tagpipe.fleet import service
from tagpipe.fleet.models import Edge

log = logging.getLogger(__name__)
Keyed = tuple[str, str, Event]  # (subject key, message id, event)
Item = tuple[str, BaseModel]  # (edge id, the validated message)
Handle = Callable[[Session, str, Any], list[Keyed]]


def _online(edge_id: str) -> Keyed:
    event_id = uuid.uuid4().hex
    return edge_id, event_id, EdgeStatusChanged(id=event_id, edge_id=edge_id, status="online",
                                                at=dt.datetime.now(dt.UTC))


def _heartbeat(session: Session, edge_id: str, hb: Heartbeat) -> list[Keyed]:
    was = session.get(Edge, edge_id)
    came_online = was is None or was.status != "online"
    if service.record_heartbeat(session, edge_id, hb) is None:
        log.info("ignoring a heartbeat of edge %s, which is not approved", edge_id)
        return []
    return [_online(edge_id)] if came_online else []


def _response(session: Session, edge_id: str, r: CommandResponse) -> list[Keyed]:
    cmd = service.record_response(session, r.id, r.ok, r.result, r.error)
    if cmd is None:
        return []
    return [(edge_id, f"command-{r.id}", CommandAnswered(id=r.id, edge_id=edge_id, command=cmd.command,
                                                         status="ok" if r.ok else "error", result=r.result,
                                                         error=r.error))]


async def _publish(nc: Client, subjects: Subjects, keyed: list[Keyed]) -> None:
    """After the commit, before the ack: a publish that fails leaves the batch to be redelivered."""
    js = nc.jetstream()
    for key, msg_id, event in keyed:
        await events.publish(js, subjects, event, key, msg_id)


async def _consume(nc: Client, engine: Engine, subjects: Subjects, kind: str, model: type[BaseModel], handle: Handle,
                   dead_letters: DeadLetterSink, max_deliveries: int) -> None:
    """Heartbeats or responses through the bus helper: a malformed one is dead-lettered (pydantic names the field)."""

    def prepare(msg: Msg) -> Item:
        return Subjects.edge_of(msg.subject), model.model_validate_json(msg.data)

    def write(items: list[Item]) -> list[Keyed]:
        with Session(engine) as session, session.begin():
            return [e for edge_id, message in items for e in handle(session, edge_id, message)]

    async with consume(nc, stream=subjects.stream_name, durable=f"fleet-{kind}", filter_subject=subjects.all(kind),
                       prepare=prepare, dead_letters=dead_letters, deliver_new=True, batch=200, ack_wait=30.0,
                       max_deliveries=max_deliveries) as batches:
        async for batch in batches:
            try:
                keyed = await asyncio.to_thread(write, batch.items)
            except Exception as e:  # noqa: BLE001 - settled by the helper: retried, isolated or dead-lettered
                await (batch.retry(e) if database_away(e) else batch.fail(e))
                continue
            try:
                await _publish(nc, subjects, keyed)
            except Exception as e:  # noqa: BLE001 - the bus is away: the batch comes again (its writes are idempotent)
                await batch.retry(e)
                continue
            await batch.ack()


async def _sweep(nc: Client, engine: Engine, subjects: Subjects, every_s: float) -> None:
    def sweep() -> list[str]:
        with Session(engine) as session, session.begin():
            return service.mark_offline(session)

    while True:
        gone = await asyncio.to_thread(sweep)
        for edge_id in gone:
            log.info("edge %s is offline (no heartbeat for 3 intervals)", edge_id)
        now = dt.datetime.now(dt.UTC)
        keyed: list[Keyed] = []
        for edge_id in gone:
            event_id = uuid.uuid4().hex
            keyed.append((edge_id, event_id, EdgeStatusChanged(id=event_id, edge_id=edge_id, status="offline", at=now)))
        try:
            await _publish(nc, subjects, keyed)
        except Exception as e:  # noqa: BLE001 - stored already; the event is lost with the bus, and logged
            log.warning("could not publish %d edge-offline events: %s", len(keyed), e)
        await asyncio.sleep(every_s)


async def run_fleet(nc: Client, engine: Engine, subjects: Subjects, *, dead_letters: DeadLetterSink,
                    max_deliveries: int = 5, sweep_every_s: float = 2.0) -> None:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_consume(nc, engine, subjects, "status", Heartbeat, _heartbeat, dead_letters, max_deliveries),
                       name="fleet-heartbeats")
        tg.create_task(_consume(nc, engine, subjects, "responses", CommandResponse, _response, dead_letters,
                                max_deliveries), name="fleet-responses")
        sweep = Lease(nc, f"{subjects.prefix}-fleet-offline-sweep")
        tg.create_task(sweep.run(lambda: _sweep(nc, engine, subjects, sweep_every_s)), name="fleet-offline-sweep")
