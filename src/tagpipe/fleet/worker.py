"""The fleet worker: heartbeats register edges and keep their metrics; silence marks them offline; responses land."""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tagpipe.bus.jetstream import ack_all
from tagpipe.contracts import CommandResponse, Heartbeat, Subjects
from tagpipe.fleet import service

log = logging.getLogger(__name__)


async def _consume(nc: Client, engine: Engine, subjects: Subjects, kind: str, handle) -> None:  # type: ignore[no-untyped-def]
    js = nc.jetstream()
    durable = f"fleet-{kind}"
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW,
                            filter_subject=subjects.all(kind), ack_wait=30)
    sub = await js.pull_subscribe(subjects.all(kind), durable=durable, stream=subjects.stream_name, config=config)
    while True:
        try:
            msgs = await sub.fetch(200, timeout=1.0)
        except (TimeoutError, NatsTimeout):
            continue
        except Exception as e:  # noqa: BLE001 - the bus is restarting; the consumer is durable
            log.info("fleet fetch failed (%s); retrying", e)
            await asyncio.sleep(0.5)
            continue

        def write(msgs: list) -> None:  # type: ignore[type-arg]
            with Session(engine) as session, session.begin():
                for msg in msgs:
                    try:
                        handle(session, Subjects.edge_of(msg.subject), msg.data)
                    except (ValidationError, ValueError) as e:
                        log.warning("bad %s from edge %s: %s", kind, Subjects.edge_of(msg.subject), e)

        await asyncio.to_thread(write, msgs)
        await ack_all(msgs)


def _heartbeat(session: Session, edge_id: str, data: bytes) -> None:
    service.record_heartbeat(session, edge_id, Heartbeat.model_validate_json(data))


def _response(session: Session, edge_id: str, data: bytes) -> None:
    r = CommandResponse.model_validate_json(data)
    service.record_response(session, r.id, r.ok, r.result, r.error)


async def _sweep(engine: Engine, every_s: float) -> None:
    while True:
        def sweep() -> list[str]:
            with Session(engine) as session, session.begin():
                return service.mark_offline(session)

        for edge_id in await asyncio.to_thread(sweep):
            log.info("edge %s is offline (no heartbeat for 3 intervals)", edge_id)
        await asyncio.sleep(every_s)


async def run_fleet(nc: Client, engine: Engine, subjects: Subjects, *, sweep_every_s: float = 2.0) -> None:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(_consume(nc, engine, subjects, "status", _heartbeat), name="fleet-heartbeats")
        tg.create_task(_consume(nc, engine, subjects, "responses", _response), name="fleet-responses")
        tg.create_task(_sweep(engine, sweep_every_s), name="fleet-offline-sweep")
