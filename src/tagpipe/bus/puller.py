"""Plain pull requests on one callback subscription: the fast way to take batches from a durable consumer."""

from __future__ import annotations

import asyncio
import contextlib
import json

from nats.aio.client import Client
from nats.aio.msg import Msg

STATUS = "Status"


class Puller:
    """Pull batches from a durable consumer with plain pull requests on a callback subscription.

    nats-py's ``fetch`` awaits every message with its own timeout task, which costs more CPU than storing the
    message; here messages are appended to a list and a batch ends when it is full or the server says the pull
    request expired (a status message, which has no reply subject). ``status`` keeps the last status code the server
    answered with: ``503`` (no responders) or ``409`` mean the consumer is gone and must be created again.
    """

    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self.nc, self.subject = nc, f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self.msgs: list[Msg] = []
        self.done = asyncio.Event()
        self.want = 0
        self.status = ""

    async def start(self) -> None:
        await self.nc.subscribe(self.inbox, cb=self._on_msg, pending_msgs_limit=1_000_000,
                                pending_bytes_limit=512 * 1024 * 1024)

    async def _on_msg(self, msg: Msg) -> None:
        if msg.reply:
            self.msgs.append(msg)
            if len(self.msgs) >= self.want:
                self.done.set()
        else:  # 404 no messages / 408 request expired: this pull is over; 503 / 409: the consumer is gone
            self.status = (msg.headers or {}).get(STATUS, "")
            self.done.set()

    async def fetch(self, batch: int, expires: float) -> list[Msg]:
        self.want = batch  # messages that arrived after the last batch was taken are kept and lead this one
        self.done.clear()
        self.status = ""
        await self.nc.publish(self.subject, json.dumps({"batch": batch, "expires": int(expires * 1e9)}).encode(),
                              reply=self.inbox)
        with contextlib.suppress(TimeoutError):  # a pull lost to a reconnect: the next one takes over
            async with asyncio.timeout(expires + 2.0):  # unlike wait_for in 3.11, never swallows a cancellation
                await self.done.wait()
        await asyncio.sleep(0)  # let messages already read be appended
        msgs, self.msgs, self.want = self.msgs, [], 1  # late arrivals of this pull start the next batch
        return msgs

    @property
    def consumer_gone(self) -> bool:
        return self.status in ("503", "409")
