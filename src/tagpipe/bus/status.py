"""A worker process's status messages: every few seconds, per role it runs, who runs it and how far its durable
consumers lag (from JetStream consumer info), on ``{prefix}.system.workers.{role}`` (core NATS, not stored).

Whoever reports health (the web server of ``tagpipe up``, or any ``tagpipe server`` in scale-out) learns about the
worker roles from these messages, wherever the workers run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from tagpipe.contracts import WORKER_STATUS_INTERVAL_S, ConsumerLag, Subjects, WorkerStatus

if TYPE_CHECKING:
    from nats.aio.client import Client

    from tagpipe.feature import Durable

log = logging.getLogger(__name__)


def stream_of(subjects: Subjects, durable: Durable) -> str:
    return subjects.events_stream_name if durable.stream == "events" else subjects.stream_name


async def consumer_lag(nc: Client, stream: str, durable: str, timeout: float = 1.0) -> ConsumerLag:
    try:
        info = await nc.jetstream().consumer_info(stream, durable, timeout=timeout)
    except Exception as e:  # noqa: BLE001 - not created yet, or the bus is restarting: the lag is unknown
        log.debug("consumer info %s/%s: %s", stream, durable, e)
        return ConsumerLag(stream=stream, durable=durable)
    return ConsumerLag(stream=stream, durable=durable, pending=info.num_pending, ack_pending=info.num_ack_pending,
                       redelivered=info.num_redelivered)


async def publish_worker_status(nc: Client, subjects: Subjects, roles: Mapping[str, Sequence[Durable]], *,
                                interval_s: float = WORKER_STATUS_INTERVAL_S) -> None:
    """Publish each role's ``WorkerStatus`` every ``interval_s`` until cancelled (skipped while disconnected, so a
    status never arrives late and looks fresh)."""
    host, pid = socket.gethostname(), os.getpid()
    started_at = dt.datetime.now(dt.UTC)
    while True:
        if nc.is_connected:
            for role, durables in roles.items():
                lags = [await consumer_lag(nc, stream_of(subjects, d), d.name) for d in durables]
                status = WorkerStatus(role=role, host=host, pid=pid, started_at=started_at,
                                      sent_at=dt.datetime.now(dt.UTC), interval_s=interval_s, consumers=lags)
                try:
                    await nc.publish(subjects.worker_status(role), status.model_dump_json().encode())
                except Exception as e:  # noqa: BLE001 - the bus went away meanwhile; the next round tries again
                    log.debug("worker status for %s: %s", role, e)
        await asyncio.sleep(interval_s)
