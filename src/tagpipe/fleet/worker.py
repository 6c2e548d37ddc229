"""The fleet worker: heartbeats register edges and keep their metrics; silence marks them offline; responses land."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tagpipe.bus import DeadLetterSink, consume
from tagpipe.contracts import CommandResponse, Heartbeat, Subjects
from tagpipe.db import database_away
from tagpipe.fleet import service

log = logging.getLogger(__name__)
Item = tuple[str, BaseModel]  # (edge id, the validated message)
Handle = Callable[[Session, str, Any], None]


def _heartbeat(session: Session, edge_id: str, hb: Heartbeat) -> None:
    service.record_heartbeat(session, edge_id, hb)


def _response(session: Session, edge_id: str, r: CommandResponse) -> None:
    service.record_response(session, r.id, r.ok, r.result, r.error)


async def _consume(nc: Client, engine: Engine, subjects: Subjects, kind: str, model: type[BaseModel], handle: Handle,
                   dead_letters: DeadLetterSink, max_deliveries: int) -> None:
    """Heartbeats or responses through the bus helper: a malformed one is dead-lettered (pydantic names the field)."""

    def prepare(msg: Msg) -> Item:
        return Subjects.edge_of(msg.subject), model.model_validate_json(msg.data)

    def write(items: list[Item]) -> None:
        with Session(engine) as session, session.begin():
            for edge_id, message in items:
                handle(session, edge_id, message)

    async with consume(nc, stream=subjects.stream_name, durable=f"fleet-{kind}", filter_subject=subjects.all(kind),
                       prepare=prepare, dead_letters=dead_letters, deliver_new=True, batch=200, ack_wait=30.0,
                       max_deliveries=max_deliveries) as batches:
        async for batch in batches:
            try:
                await asyncio.to_thread(write, batch.items)
            except Exception as e:  # noqa: BLE001 - settled by the helper: retried, isolated or dead-lettered
                await (batch.retry(e) if database_away(e) else batch.fail(e))
                continue
            await batch.ack()


async def _sweep(engine: Engine, every_s: float) -> None:
    while True:
        def sweep() -> list[str]:
            with Session(engine) as session, session.begin():
                return service.mark_offline(session)

        for edge_id in await asyncio.to_thread(sweep):
            log.info("edge %s is offline (no heartbeat for 3 intervals)", edge_id)
        await asyncio.sleep(every_s)


async def run_fleet(nc: Client, engine: Engine, subjects: Subjects, *, dead_letters: DeadLetterSink,
                    max_deliveries: int = 5, sweep_every_s: float = 2.0) -> None:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_consume(nc, engine, subjects, "status", Heartbeat, _heartbeat, dead_letters, max_deliveries),
                       name="fleet-heartbeats")
        tg.create_task(_consume(nc, engine, subjects, "responses", CommandResponse, _response, dead_letters,
                                max_deliveries), name="fleet-responses")
        tg.create_task(_sweep(engine, sweep_every_s), name="fleet-offline-sweep")
