"""The events stream (``{prefix}.events.>``): creating it, publishing typed events, listening to them.

Publishing goes through JetStream and waits for the stored acknowledgement, with a ``Nats-Msg-Id`` so that a
publish repeated after a lost ack is stored once. Listening is a plain core-NATS subscription for processes that only
need what happens from now on (a server's live dashboard); worker roles that must not miss an event consume the
stream with a durable consumer instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from tagpipe.contracts.events import Event
from tagpipe.contracts.subjects import Subjects

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)


async def ensure_events_stream(js: JetStreamContext, subjects: Subjects, *, max_age_hours: float = 24.0,
                               max_bytes: int = 1 << 30) -> str:
    """Create or update the events stream: file storage, its own age and size limits (oldest dropped first)."""
    config = StreamConfig(
        name=subjects.events_stream_name,
        subjects=[subjects.events()],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age_hours * 3600,
        max_bytes=max_bytes,
        duplicate_window=120,
    )
    try:
        await js.stream_info(config.name or "")
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)
    return subjects.events_stream_name


def encode(event: Event) -> bytes:
    return event.model_dump_json().encode()


async def publish(js: JetStreamContext, subjects: Subjects, event: Event, key: str | int, msg_id: str,
                  *, timeout: float = 5.0) -> None:
    """Publish and wait until the events stream stored it; raises if it did not (the caller retries)."""
    await js.publish(subjects.event(event.kind, key), encode(event), timeout=timeout, headers={"Nats-Msg-Id": msg_id})


async def listen(nc: Client, subjects: Subjects, model: type[E], handle: Callable[[E], Awaitable[None] | None],
                 key: str = ">") -> Subscription:
    """Call ``handle`` with every event of ``model`` published from now on; undecodable ones are logged and skipped."""
    subject = subjects.events(model.kind) if key == ">" else subjects.event(model.kind, key)

    async def on_msg(msg: Msg) -> None:
        try:
            event = model.model_validate_json(msg.data)
        except (ValidationError, ValueError) as e:
            log.warning("skipping an undecodable %s event on %s: %s", model.kind, msg.subject, e)
            return
        result = handle(event)
        if result is not None:
            await result

    return await nc.subscribe(subject, cb=on_msg)


def compact(rows: list[tuple[int, int, object, int]], partition: int) -> bytes:
    """A StoredValues event encoded without pydantic: ingest publishes 100,000 values a second. orjson writes 50,000
    rows in 5 ms, the json module in 65 ms. Ints beyond 64 bits take the json module."""
    try:
        values = orjson.dumps(rows)
    except TypeError:
        values = json.dumps(rows, separators=(",", ":")).encode()
    return b'{"v":1,"partition":%d,"values":%s}' % (partition, values)


def shard_subjects(subjects: Subjects, kind: str, shard: int, shards: int, partitions: int) -> list[str]:
    """The subjects copy ``shard`` of ``shards`` consumes of a partitioned event kind: the partitions p with
    p mod shards == shard, so N copies of a stateful role (calc, alarms) each own a share of the tags."""
    if not 0 <= shard < shards <= partitions:
        raise ValueError(f"shard {shard} of {shards}: expected 0 <= shard < shards <= partitions ({partitions})")
    return [subjects.event(kind, p) for p in range(partitions) if p % shards == shard]
