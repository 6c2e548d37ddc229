"""The ingest worker: a durable JetStream consumer on ``*.data`` writing batches idempotently."""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Engine

from tagpipe.bus.jetstream import ack_all
from tagpipe.contracts.subjects import Subjects
from tagpipe.history.ingest import DataMessage, Rejected, parse_data
from tagpipe.history.store import IngestStore

log = logging.getLogger(__name__)


async def run_ingest(nc: Client, engine: Engine, subjects: Subjects, *, batch: int = 2000, durable: str = "ingest") -> None:
    """Fetch, write, then ack: a crash between write and ack only causes a redelivery that changes nothing."""
    js = nc.jetstream()
    store = IngestStore(engine)
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                            max_ack_pending=100_000, ack_wait=60, filter_subject=subjects.all("data"))
    sub = await js.pull_subscribe(subjects.all("data"), durable=durable, stream=subjects.stream_name, config=config)
    log.info("ingest worker consuming %s", subjects.all("data"))
    stored = 0
    while True:
        try:
            msgs = await sub.fetch(batch, timeout=1.0)
        except (NatsTimeout, asyncio.TimeoutError):
            continue
        except Exception as e:  # noqa: BLE001 - the bus is restarting; the consumer is durable
            log.info("ingest fetch failed (%s); retrying", e)
            await asyncio.sleep(0.5)
            continue
        good: list[DataMessage] = []
        for msg in msgs:
            edge_id = Subjects.edge_of(msg.subject)
            try:
                fallback = int(msg.metadata.timestamp.timestamp() * 1000) if msg.metadata else int(time.time() * 1000)
                good.append(parse_data(edge_id, msg.data, fallback))
            except Rejected as e:
                log.warning("rejected data from edge %s: %s", edge_id, e)
                await asyncio.to_thread(store.reject, edge_id, str(e), int(time.time() * 1000))
        result = await asyncio.to_thread(store.write, good)
        stored += result.inserted
        await ack_all(msgs)
        log.debug("ingested %d messages, %d values (%d new)", result.messages, result.values, result.inserted)

