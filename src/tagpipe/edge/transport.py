"""How the edge reaches the central side: NATS (JetStream publish with ack and Nats-Msg-Id) or MQTT QoS 1.

Both log in as the edge (user: its id, password: its credential) over TLS when given a CA, and may only use the
edge's own subjects (nats-server enforces it). A refused log in (a rotated or revoked credential) calls ``refused``,
which may collect new credentials; the transport then connects again with whatever ``login`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlparse

import aiomqtt
import nats
import nats.errors
from nats.aio.client import Client
from nats.errors import Error as NatsError

from tagpipe.backoff import Backoff
from tagpipe.contracts import Subjects

log = logging.getLogger(__name__)
Handler = Callable[[bytes], Awaitable[None]]
Login = Callable[[], tuple[str, str] | None]  # (user, password), or None: anonymous
Refused = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


def refused_login(error: BaseException) -> bool:
    """Whether ``error`` says the broker refused our credentials."""
    text = str(error).lower()
    return isinstance(error, nats.errors.AuthorizationError) or "authorization violation" in text \
        or "not authorized" in text or "bad user name or password" in text


class TransportError(Exception):
    """The payload was not acknowledged; it stays in the outbox and is sent again."""


class Transport(Protocol):
    connected: bool
    connected_cb: Callable[[], None]  # called after each (re)connect
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

    def __init__(self, url: str, subjects: Subjects, edge_id: str, *, ack_timeout: float = 5.0,
                 login: Login = lambda: None, refused: Refused = _nothing, tls: ssl.SSLContext | None = None) -> None:
        self.url, self.subjects, self.edge_id, self.ack_timeout = url, subjects, edge_id, ack_timeout
        self.login, self.refused, self.tls = login, refused, tls
        self.connected_cb: Callable[[], None] = lambda: None  # after each (re)connect: a config push may be missed
        self.connections = 0
        self._nc: Client | None = None
        self._handlers: dict[str, Handler] = {}
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    async def _open(self) -> Client:
        login = self.login()
        credentials = {"user": login[0], "password": login[1]} if login else {}
        return await nats.connect(self.url, name=f"tagpipe-edge-{self.edge_id}", max_reconnect_attempts=-1,
                                  reconnect_time_wait=0.5, connect_timeout=2, allow_reconnect=True,
                                  error_cb=self._on_error, closed_cb=self._on_closed, tls=self.tls,
                                  inbox_prefix=self.subjects.edge_inbox(self.edge_id), **credentials)

    async def _run(self) -> None:
        """Connect, and connect again from scratch when the connection is closed or its log in is refused (a
        reconnecting nats-py client would repeat the old credentials forever)."""
        backoff = Backoff(base=0.2, cap=5.0)
        while True:
            try:
                nc = await self._open()
            except Exception as e:  # noqa: BLE001 - the server may not be up yet, or refuse us
                log.info("NATS %s: %s; retrying", self.url, e)
                if refused_login(e):
                    await self.refused()
                await asyncio.sleep(backoff.delay())
                continue
            self._lost.clear()
            for kind, handler in self._handlers.items():
                await nc.subscribe(self.subjects.device(self.edge_id, kind), cb=self._wrap(handler))
            self._nc = nc
            self.connections += 1
            backoff.reset()
            log.info("connected to NATS %s", self.url)
            self.connected_cb()
            await self._lost.wait()
            self._nc = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 2.0)
            if self._refused_now:
                self._refused_now = False
                await self.refused()
            await asyncio.sleep(backoff.delay())

    _refused_now = False

    async def _on_error(self, e: Exception) -> None:
        log.debug("nats: %s", e)
        if refused_login(e):  # while reconnecting: our credential no longer works
            log.warning("NATS refused this edge's credentials")
            self._refused_now = True
            self._lost.set()
        elif "permissions violation" in str(e).lower():
            log.warning("NATS: %s", e)

    async def _on_closed(self) -> None:
        self._lost.set()

    @staticmethod
    def _wrap(handler: Handler):  # type: ignore[no-untyped-def]
        async def cb(msg) -> None:  # type: ignore[no-untyped-def]
            await handler(msg.data)
        return cb

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="nats-connection")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), 2.0)  # the server may be gone already
            self._nc = None

    async def send(self, kind: str, payload: bytes, msg_id: str) -> None:
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise TransportError("not connected to NATS")
        try:
            await nc.jetstream().publish(self.subjects.device(self.edge_id, kind), payload,
                                         timeout=self.ack_timeout, headers={"Nats-Msg-Id": msg_id})
        except (TimeoutError, NatsError, OSError) as e:
            raise TransportError(f"JetStream publish not acknowledged: {e!r}") from None

    async def notify(self, kind: str, payload: bytes) -> None:
        nc = self._nc
        if nc is not None and nc.is_connected:
            with contextlib.suppress(NatsError, OSError):
                await nc.publish(self.subjects.device(self.edge_id, kind), payload)


class MqttTransport:
    """The seed's MQTT topics with QoS 1, for sites whose broker is not NATS."""

    confirms_storage = False  # NATS's MQTT listener sends PUBACK before a stream has stored the message

    def __init__(self, url: str, subjects: Subjects, edge_id: str, *, ack_timeout: float = 5.0,
                 login: Login = lambda: None, refused: Refused = _nothing, tls: ssl.SSLContext | None = None) -> None:
        parsed = urlparse(url if "://" in url else f"mqtt://{url}")
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 1883
        given = (parsed.username, parsed.password or "") if parsed.username else None
        self.login = (lambda: login() or given)
        self.refused, self.tls = refused, tls
        self.connected_cb: Callable[[], None] = lambda: None
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
            login = self.login()
            try:
                async with aiomqtt.Client(self.host, self.port, identifier=f"tagpipe-edge-{self.edge_id}",
                                          username=login[0] if login else None,
                                          password=login[1] if login else None, keepalive=10,
                                          timeout=self.ack_timeout, tls_context=self.tls) as client:
                    for topic in topics:
                        await client.subscribe(topic, qos=1)
                    self._client = client
                    self.connections += 1
                    backoff.reset()
                    log.info("connected to MQTT %s:%s", self.host, self.port)
                    self.connected_cb()
                    async for message in client.messages:
                        handler = topics.get(str(message.topic))
                        if handler is not None:
                            await handler(bytes(message.payload))  # type: ignore[arg-type]
            except aiomqtt.MqttError as e:
                log.info("MQTT %s:%s: %s; reconnecting", self.host, self.port, e)
                if refused_login(e):
                    await self.refused()
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
