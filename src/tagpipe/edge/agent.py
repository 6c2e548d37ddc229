"""The edge agent: keeps its config in sync, runs a poller per device, and forwards every payload exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tagpipe import __version__
from tagpipe.backoff import Backoff
from tagpipe.contracts import (
    Command,
    CommandResponse,
    DataPayload,
    DeviceConfig,
    EdgeConfig,
    Subjects,
)
from tagpipe.edge import credentials
from tagpipe.edge.heartbeat import system_metrics
from tagpipe.edge.material import MaterialDir
from tagpipe.edge.outbox import Outbox
from tagpipe.edge.poller import DevicePoller
from tagpipe.edge.sync import ConfigClient, Unauthorized
from tagpipe.edge.transport import MqttTransport, NatsTransport, Transport, TransportError

if TYPE_CHECKING:
    from tagpipe.sandbox import SandboxPool

log = logging.getLogger(__name__)
UNCONFIRMED_GRACE_S = 30.0
ANSWERS_KEPT = 1000  # longer than it takes to notice a dropped MQTT connection (keepalive 10 s)


@dataclass
class EdgeSettings:
    server: str
    edge_id: str
    data_dir: Path = Path("tagpipe-edge")
    transport: str = "nats"
    nats_url: str | None = None
    mqtt_url: str | None = None
    prefix: str = "tagpipe"
    company_code: str = ""
    heartbeat_s: float = 30.0
    config_poll_s: float = 30.0
    outbox_max_rows: int = 1_000_000
    sandbox: bool = True
    provisioning_key: str | None = None  # asks for credentials with it when the data directory holds none
    ca: Path | None = None  # verifies the server's TLS (HTTP, NATS, MQTT) against this CA file, else the system's
    name: str = ""  # what the edge asks to be called
    enroll_poll_s: float = 2.0  # how often a pending edge asks whether it was approved

    def __post_init__(self) -> None:
        from urllib.parse import urlparse

        host = urlparse(self.server).hostname or "127.0.0.1"
        self.nats_url = self.nats_url or f"nats://{host}:4222"
        self.mqtt_url = self.mqtt_url or f"mqtt://{host}:1883"


@dataclass
class EdgeAgent:
    settings: EdgeSettings
    config: EdgeConfig | None = None
    pollers: dict[str, tuple[DeviceConfig, DevicePoller, asyncio.Task[None]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        self.subjects = Subjects(s.prefix)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(s.data_dir / "outbox.db", max_rows=s.outbox_max_rows)
        self.creds = credentials.load(s.data_dir, s.edge_id)
        # One TLS context verifies the server everywhere (ValueError for an unreadable --ca); NATS and MQTT speak TLS
        # when a CA is given.
        self.client = ConfigClient(s.server, s.edge_id, cache=s.data_dir / "config.json",
                                   token=lambda: self.creds.token if self.creds else None, ca=s.ca)
        self.tls = self.client.verify if s.ca else None
        self.enroller = credentials.Enroller(s.server, s.edge_id, s.data_dir, verify=self.client.verify)
        login, refused = self._login, self._refresh_credentials
        self.transport: Transport = (
            MqttTransport(s.mqtt_url or "", self.subjects, s.edge_id, login=login, refused=refused, tls=self.tls)
            if s.transport == "mqtt" else
            NatsTransport(s.nats_url or "", self.subjects, s.edge_id, login=login, refused=refused, tls=self.tls))
        self.material = MaterialDir(s.data_dir / "certs")  # the devices' certificates and keys, mode 0600
        self._refreshed_at = -1e9
        self._refresh_lock = asyncio.Lock()
        self.hooks: SandboxPool | None = None  # started when scripts are first configured
        self._wake = asyncio.Event()
        self._sync_now = asyncio.Event()
        self._answered: OrderedDict[str, CommandResponse] = OrderedDict()  # recent command ids: executed once

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.ensure_credentials()
        self.transport.on("commands", self._on_command)
        self.transport.on("config-changed", self._on_config_changed)
        self.transport.connected_cb = self._sync_now.set  # config pushed while we were away is fetched now
        await self.transport.start()
        cached = self.client.cached()
        if cached is not None:
            await self.apply(cached)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._sync_loop(), name="config-sync")
                tg.create_task(self._publish_loop(), name="outbox-publisher")
                tg.create_task(self._heartbeat_loop(), name="heartbeat")
                tg.create_task(self._expire_loop(), name="outbox-retention")
        finally:
            await self.close()

    async def close(self) -> None:
        for _, poller, task in self.pollers.values():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            await poller.close()
        self.pollers.clear()
        if self.hooks is not None:
            await self.hooks.__aexit__(None, None, None)
            self.hooks = None
        await self.transport.stop()
        self.outbox.close()

    # -- credentials -----------------------------------------------------------------------------

    def _login(self) -> tuple[str, str] | None:
        return (self.settings.edge_id, self.creds.token) if self.creds else None

    async def ensure_credentials(self) -> None:
        """Have a credential before connecting: the one kept in the data directory, or one asked for with the
        provisioning key and collected once an admin approved the edge (asking every ``enroll_poll_s``)."""
        s = self.settings
        backoff = Backoff(base=1.0, cap=30.0)
        announced = False
        while self.creds is None:
            try:
                pending = self.enroller.pending()
                if pending:
                    self.creds = await self.enroller.collect(pending)
                elif s.provisioning_key:
                    self.creds = await self.enroller.enroll(s.provisioning_key, s.name)
                else:
                    log.warning("edge %s has no credentials in %s and no provisioning key: connecting without "
                                "(a tagpipe server refuses that)", s.edge_id, s.data_dir)
                    return
                if self.creds is None and not announced:
                    log.warning("edge %s asked for credentials; waiting for an admin to approve it on the Fleet page",
                                s.edge_id)
                    announced = True
                backoff.reset()
                wait = s.enroll_poll_s
            except credentials.NotAdmitted as e:
                log.error("edge %s: %s", s.edge_id, e)
                (s.data_dir / credentials.ENROLLMENT).unlink(missing_ok=True)
                wait = backoff.delay()
            except Exception as e:  # noqa: BLE001 - the server is away: ask again
                log.info("asking %s for credentials: %s", s.server, e)
                wait = backoff.delay()
            if self.creds is None:
                await asyncio.sleep(wait)
        log.info("edge %s has its credentials", s.edge_id)

    async def _refresh_credentials(self) -> None:
        """The bus or the server refused our credential: after a rotation, collect the new one with it."""
        async with self._refresh_lock:
            loop = asyncio.get_running_loop()
            if self.creds is None or loop.time() - self._refreshed_at < 5.0:
                return
            self._refreshed_at = loop.time()
            try:
                fresh = await self.enroller.collect(self.creds.token)
            except credentials.NotAdmitted as e:
                log.error("edge %s was refused: %s; an admin must approve it again", self.settings.edge_id, e)
                return
            except Exception as e:  # noqa: BLE001 - the server is away: the next refusal asks again
                log.info("collecting new credentials: %s", e)
                return
            if fresh is not None:
                self.creds = fresh
                log.info("edge %s collected its new credentials", self.settings.edge_id)

    # -- config ----------------------------------------------------------------------------------

    async def _on_config_changed(self, _: bytes) -> None:
        self._sync_now.set()

    async def _sync_loop(self) -> None:
        backoff = Backoff(base=1.0, cap=self.settings.config_poll_s)
        while True:
            try:
                config = await self.client.fetch()
                backoff.reset()
                if config is not None:
                    await self.apply(config)
                wait = self.settings.config_poll_s
            except Unauthorized as e:
                log.warning("config sync: %s", e)
                await self._refresh_credentials()
                wait = backoff.delay()
            except Exception as e:  # noqa: BLE001 - keep collecting with the config we have
                log.warning("config sync from %s failed: %s", self.settings.server, e)
                wait = backoff.delay()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):  # unlike wait_for in 3.11, never swallows a cancellation
                    await self._sync_now.wait()
            self._sync_now.clear()

    async def apply(self, config: EdgeConfig) -> None:
        """Apply a config live: restart only the devices whose config changed, reload hooks."""
        await self._apply_scripts(config)
        wanted = {d.id: d for d in config.devices if d.enabled}
        self.material.keep(wanted.values())
        for device_id in list(self.pollers):
            device, poller, task = self.pollers[device_id]
            if wanted.get(device_id) != device:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                await poller.close()
                del self.pollers[device_id]
        for device_id, device in wanted.items():
            if device_id not in self.pollers:
                poller = DevicePoller(device, self._emit, material=self.material)
                task = asyncio.create_task(poller.run(), name=f"device-{device_id}")
                self.pollers[device_id] = (device, poller, task)
        self.config = config
        log.info("config %s applied: %d devices, %d scripts", config.version, len(wanted), len(config.scripts))

    async def _apply_scripts(self, config: EdgeConfig) -> None:
        if not self.settings.sandbox or (not config.scripts and self.hooks is None):
            return
        if self.hooks is None:
            from tagpipe.sandbox import SandboxPool

            self.hooks = SandboxPool(workers=1, name=f"edge-{self.settings.edge_id}")
            await self.hooks.__aenter__()
        errors = await self.hooks.load(config.scripts)
        for script_id, err in errors.items():
            log.warning("script %s rejected: %s", script_id, err)

    # -- data path -------------------------------------------------------------------------------

    async def _emit(self, device: DeviceConfig, data: DataPayload) -> None:
        """Run the hooks on the seed's JSON form of ``data`` (they may reshape it) and queue what they return."""
        alarms: list[dict[str, Any]] = []
        body: bytes | None
        if self.hooks is not None and self.config is not None and self.config.scripts:
            payload = data.to_wire()
            context = {"device_id": self.settings.edge_id, "equipment_id": device.equipment_id,
                       "connection_id": payload.get("connection_id"), "company_code": self.settings.company_code}
            result = await self.hooks.run_cycle(payload, context)
            alarms = result.alarms
            body = None if result.payload is None else json.dumps(result.payload, default=str).encode()
        else:
            body = data.encode()
        for alarm in alarms:
            self.outbox.append("alarms", uuid.uuid4().hex, json.dumps(alarm, default=str).encode())
        if body is not None:
            self.outbox.append("data", uuid.uuid4().hex, body)
        self._wake.set()

    async def _publish_loop(self) -> None:
        """Drain the outbox in order; an entry leaves it only once the broker acknowledged it.

        Over a transport whose acknowledgement does not mean "stored" (MQTT to NATS), acknowledged entries are kept
        for ``UNCONFIRMED_GRACE_S`` and sent again after a reconnect; ingest drops the duplicates.
        """
        backoff = Backoff(base=0.2, cap=5.0)
        confirmed = self.transport.confirms_storage
        connections = self.transport.connections
        if not confirmed:
            self.outbox.resend_unconfirmed()  # acknowledged before the last stop, perhaps never stored
        while True:
            if not confirmed:
                if self.transport.connections > connections > 0:
                    n = self.outbox.resend_unconfirmed()
                    if n:
                        log.info("sending again %d payloads acknowledged just before the connection dropped", n)
                connections = self.transport.connections
                self.outbox.forget_sent(UNCONFIRMED_GRACE_S)
            entries = self.outbox.peek(200)
            if not entries:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                continue
            for entry in entries:
                try:
                    await self.transport.send(entry.kind, entry.payload, entry.msg_id)
                except TransportError as e:
                    log.debug("outbox entry %s not sent: %s", entry.seq, e)
                    await asyncio.sleep(backoff.delay())
                    break
                backoff.reset()
                if confirmed:
                    self.outbox.remove(entry.seq)
                else:
                    self.outbox.mark_sent(entry.seq)

    async def _expire_loop(self) -> None:
        while True:
            if self.config is not None:
                self.outbox.retention_days = self.config.local_retention_days
            dropped = self.outbox.expire()
            if dropped:
                log.warning("dropped %d outbox entries older than %s days", dropped, self.outbox.retention_days)
            await asyncio.sleep(60)

    # -- heartbeat and commands ------------------------------------------------------------------

    def heartbeat(self) -> dict[str, Any]:
        hb = system_metrics(self.settings.data_dir)
        hb.update(status="online", agent_version=__version__, heartbeat_interval_s=self.settings.heartbeat_s,
                  config_version=self.config.version if self.config else None,
                  edge_name=self.config.edge_name if self.config else None,
                  outbox_depth=self.outbox.depth, outbox_dropped=self.outbox.dropped,
                  devices={device_id: p.stats.as_dict() for device_id, (_, p, _) in self.pollers.items()},
                  scripts={str(k): v for k, v in (self.hooks.stats() if self.hooks else {}).items()})
        return hb

    async def _heartbeat_loop(self) -> None:
        while True:
            await self.transport.notify("status", json.dumps(self.heartbeat()).encode())
            await asyncio.sleep(self.settings.heartbeat_s)

    async def _on_command(self, data: bytes) -> None:
        try:
            cmd = Command.model_validate_json(data)
        except ValidationError as e:
            log.warning("malformed command: %s", e)
            return
        response = self._answered.get(cmd.id)
        if response is None:  # a command id is its idempotency key: a repeat gets the first answer, never a rerun
            try:
                result = await self._execute(cmd)
                response = CommandResponse(id=cmd.id, ok=True, result=result)
            except Exception as e:  # noqa: BLE001 - every failure becomes an answer
                response = CommandResponse(id=cmd.id, ok=False, error=str(e))
            self._answered[cmd.id] = response
            while len(self._answered) > ANSWERS_KEPT:
                self._answered.popitem(last=False)
        await self.transport.notify("responses", response.model_dump_json().encode())

    async def _execute(self, cmd: Command) -> Any:
        if cmd.command == "ping":
            return {"version": __version__}
        if cmd.command == "sync-config":
            self._sync_now.set()
            return {"config_version": self.config.version if self.config else None}
        if cmd.command == "write":
            device_id = str(cmd.params.get("device_id"))
            if device_id not in self.pollers:
                raise ValueError(f"device {device_id} is not polled by edge {self.settings.edge_id}")
            _, poller, _ = self.pollers[device_id]
            value = await poller.write(str(cmd.params.get("tag")), cmd.params.get("value"))
            return {"value": value}
        raise ValueError(f"unknown command {cmd.command!r}; expected ping, sync-config or write")
