"""How the edge reaches the central side: NATS (JetStream publish with ack and Nats-Msg-Id) or MQTT QoS 1."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlparse

import aiomqtt
import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError

from tagpipe.backoff import Backoff
from tagpipe.contracts import Subjects

log = logging.getLogger(__name__)
Handler = Callable[[bytes], Awaitable[None]]


class TransportError(Exception):
    """The payload was not acknowledged; it stays in the outbox and is sent again."""


class Transport(Protocol):
    connected: bool
    connections: int  # successful (re)connects so far
    confirms_storage: bool  # an acknowledgement means the broker has stored the payload

    def on(self, kind: str, handler: Handler) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, kind: str, payload: bytes, msg_id: str) -> None:
        """Publish and wait until the broker has stored it; raise TransportError otherwise."""

    async def notify(self, kind: str, payload: bytes) -> None:
        """Best-effort publish (heartbeats, command responses)."""


class NatsTransport:
    """Data to JetStream (acknowledged once stored, de-duplicated by Nats-Msg-Id); the rest over core NATS."""

    confirms_storage = True  # a JetStream publish ack is sent once the stream has stored the message

    def __init__(self, url: str, subjects: Subjects, edge_id: str, *, ack_timeout: float = 5.0) -> None:
        self.url, self.subjects, self.edge_id, self.ack_timeout = url, subjects, edge_id, ack_timeout
        self.connections = 0
        self._nc: Client | None = None
        self._handlers: dict[str, Handler] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    async def _connect(self) -> None:
        backoff = Backoff(base=0.2, cap=5.0)
        while self._nc is None:
            try:
                nc = await nats.connect(self.url, name=f"tagpipe-edge-{self.edge_id}", max_reconnect_attempts=-1,
                                        reconnect_time_wait=0.5, connect_timeout=2, allow_reconnect=True,
                                        error_cb=self._on_error)
            except Exception as e:  # noqa: BLE001 - the server may not be up yet
                log.info("NATS %s not reachable (%s); retrying", self.url, e)
                await asyncio.sleep(backoff.delay())
                continue
            for kind, handler in self._handlers.items():
                await nc.subscribe(self.subjects.device(self.edge_id, kind), cb=self._wrap(handler))
            self._nc = nc
            self.connections += 1
            log.info("connected to NATS %s", self.url)

    @staticmethod
    async def _on_error(e: Exception) -> None:
        log.debug("nats: %s", e)

    @staticmethod
    def _wrap(handler: Handler):  # type: ignore[no-untyped-def]
        async def cb(msg) -> None:  # type: ignore[no-untyped-def]
            await handler(msg.data)
        return cb

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="nats-connect")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 2.0)  # the server may be gone already
            self._nc = None

    async def send(self, kind: str, payload: bytes, msg_id: str) -> None:
        if not self.connected:
            raise TransportError("not connected to NATS")
        assert self._nc is not None
        try:
            await self._nc.jetstream().publish(self.subjects.device(self.edge_id, kind), payload,
                                               timeout=self.ack_timeout, headers={"Nats-Msg-Id": msg_id})
        except (TimeoutError, NatsError, OSError) as e:
            raise TransportError(f"JetStream publish not acknowledged: {e!r}") from None

    async def notify(self, kind: str, payload: bytes) -> None:
        if self.connected:
            assert self._nc is not None
            with contextlib.suppress(NatsError, OSError):
                await self._nc.publish(self.subjects.device(self.edge_id, kind), payload)


class MqttTransport:
    """The seed's MQTT topics with QoS 1, for sites whose broker is not NATS."""

    confirms_storage = False  # NATS's MQTT listener sends PUBACK before a stream has stored the message

    def __init__(self, url: str, subjects: Subjects, edge_id: str, *, ack_timeout: float = 5.0) -> None:
        parsed = urlparse(url if "://" in url else f"mqtt://{url}")
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 1883
        self.username, self.password = parsed.username, parsed.password
        self.subjects, self.edge_id, self.ack_timeout = subjects, edge_id, ack_timeout
        self._client: aiomqtt.Client | None = None
        self._handlers: dict[str, Handler] = {}
        self._task: asyncio.Task[None] | None = None
        self.connections = 0

    @property
    def connected(self) -> bool:
        return self._client is not None

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    async def _run(self) -> None:
        backoff = Backoff(base=0.2, cap=5.0)
        topics = {self.subjects.topic(self.edge_id, kind): h for kind, h in self._handlers.items()}
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, identifier=f"tagpipe-edge-{self.edge_id}",
                                          username=self.username, password=self.password, keepalive=10,
                                          timeout=self.ack_timeout) as client:
                    for topic in topics:
                        await client.subscribe(topic, qos=1)
                    self._client = client
                    self.connections += 1
                    backoff.reset()
                    log.info("connected to MQTT %s:%s", self.host, self.port)
                    async for message in client.messages:
                        handler = topics.get(str(message.topic))
                        if handler is not None:
                            await handler(bytes(message.payload))  # type: ignore[arg-type]
            except aiomqtt.MqttError as e:
                log.info("MQTT %s:%s: %s; reconnecting", self.host, self.port, e)
            finally:
                self._client = None
            await asyncio.sleep(backoff.delay())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mqtt-connection")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def send(self, kind: str, payload: bytes, msg_id: str) -> None:
        client = self._client
        if client is None:
            raise TransportError("not connected to the MQTT broker")
        try:
            await client.publish(self.subjects.topic(self.edge_id, kind), payload, qos=1, timeout=self.ack_timeout)
        except aiomqtt.MqttError as e:
            raise TransportError(f"MQTT publish not acknowledged: {e}") from None

    async def notify(self, kind: str, payload: bytes) -> None:
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(self.subjects.topic(self.edge_id, kind), payload, qos=0)
