"""One elected copy: sweeps that must run once however many copies of a worker role run (offline detection,
schedules) run only in the copy holding a lease in a NATS key-value bucket.

The lease is a key whose value names its holder; the holder renews it every ``ttl / 3`` with a compare-and-set on
the revision it last wrote, and the bucket's age limit drops a lease nobody renews, so another copy takes over at
most ``ttl`` after the holder died. A holder that cannot renew in time stops acting as leader at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from nats.aio.client import Client
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)
BUCKET = "tagpipe_leases"


class Lease:
    """``await lease.run(duty)`` runs ``duty()`` while this copy holds ``name``; it is cancelled when the lease is
    lost and started again when it is won back."""

    def __init__(self, nc: Client, name: str, *, ttl: float = 10.0, holder: str | None = None) -> None:
        self.nc, self.name, self.ttl = nc, name, ttl
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.held = False

    async def _bucket(self) -> KeyValue:
        js = self.nc.jetstream()
        try:
            return await js.key_value(BUCKET)
        except (BucketNotFoundError, NotFoundError):
            return await js.create_key_value(KeyValueConfig(bucket=BUCKET, ttl=self.ttl, history=1,
                                                            storage=StorageType.FILE))

    async def _try(self, revision: int | None) -> int | None:
        """Take the lease (``revision`` None) or renew it; the new revision, or None when someone else holds it."""
        kv = await self._bucket()
        try:
            if revision is None:
                return int(await kv.create(self.name, self.holder.encode()))
            return int(await kv.update(self.name, self.holder.encode(), last=revision))
        except KeyWrongLastSequenceError:
            return None

    async def run(self, duty: Callable[[], Coroutine[Any, Any, None]]) -> None:
        revision: int | None = None
        task: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    revision = await self._try(revision)
                except Exception as e:  # noqa: BLE001 - the bus is away: nobody can be sure to lead
                    log.info("lease %s: %s", self.name, e)
                    revision = None
                if revision is not None and task is None:
                    log.info("this copy now leads %s", self.name)
                    task = asyncio.create_task(duty(), name=f"lease-{self.name}")
                elif revision is None and task is not None:
                    log.info("this copy no longer leads %s", self.name)
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                    task = None
                self.held = task is not None
                await asyncio.sleep(self.ttl / 3)
        finally:
            self.held = False
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
