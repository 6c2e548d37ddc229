"""OPC UA on asyncua: batch reads or a subscription, typed writes, browsing, and Basic256Sha256 security."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import Subscription
from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from tagpipe.contracts.config import TagConfig
from tagpipe.drivers.base import SETTINGS, DriverBase, Material, Reading, material_name
from tagpipe.drivers.opcua_browse import BrowseEntry, browse_children
from tagpipe.drivers.opcua_nodes import from_value, parse_node_id, resolve, to_variant
from tagpipe.drivers.opcua_security import apply_security
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput

log = logging.getLogger(__name__)
logging.getLogger("asyncua").setLevel(logging.CRITICAL)

# Status codes that mean the connection or session is gone rather than the request being wrong.
_CONNECTION_LOST = {
    ua.StatusCodes.BadSessionIdInvalid, ua.StatusCodes.BadSessionClosed, ua.StatusCodes.BadSessionNotActivated,
    ua.StatusCodes.BadSecureChannelIdInvalid, ua.StatusCodes.BadSecureChannelClosed,
    ua.StatusCodes.BadConnectionClosed, ua.StatusCodes.BadServerNotConnected, ua.StatusCodes.BadNotConnected,
    ua.StatusCodes.BadTimeout, ua.StatusCodes.BadCommunicationError, ua.StatusCodes.BadShutdown,
    ua.StatusCodes.BadServerHalted, ua.StatusCodes.BadTooManySessions, ua.StatusCodes.BadTcpInternalError,
}
NO_VALUE_YET = "no value yet"
REFUSED = "Refused: a path was read on the server and the edge; name an entry of tagpipe's store instead."


class OpcUaSettings(BaseModel):
    """Connection to one OPC UA server."""

    model_config = SETTINGS

    endpoint_url: str = Field(..., pattern=r"^opc\.tcp://[^/\s]+", description="Server endpoint url.",
                              examples=["opc.tcp://192.168.1.20:4840/"])
    security_policy: Literal["None", "Basic256Sha256"] = Field(
        "None", description="Message security policy; Basic256Sha256 needs a client certificate (one is generated "
                            "when none is given).")
    security_mode: Literal["Sign", "SignAndEncrypt"] = Field(
        "SignAndEncrypt", description="With Basic256Sha256: sign messages only, or sign and encrypt them.")
    auth: Literal["anonymous", "username", "certificate"] | None = Field(
        None, description="User identity: anonymous, user name and password, or the client certificate. "
                          "Default: username when a user name is set, else anonymous.")
    username: str | None = Field(None, description="User name for a user name login.")
    password: str | None = Field(None, description="Password for a user name login.",
                                 json_schema_extra={"format": "password", "writeOnly": True, "secret": True})
    certificate: str | None = Field(
        None, description="Client certificate: the name of a certificate in tagpipe's store (Configuration → "
                          "Certificates).", json_schema_extra={"material": "certificate"}, examples=["press-client"])
    private_key: str | None = Field(
        None, description="Private key of the client certificate: the name of a key in tagpipe's store.",
        json_schema_extra={"material": "private_key"}, examples=["press-client-key"])
    server_certificate: str | None = Field(
        None, description="Server certificate to trust (a name in tagpipe's store); taken from the server's endpoint "
                          "list when empty.", json_schema_extra={"material": "certificate"})
    # Files named by path are never read (a path named any file of the server): refused with what to do instead.
    certificate_path: SkipJsonSchema[str | None] = Field(None, description=REFUSED, exclude=True)
    private_key_path: SkipJsonSchema[str | None] = Field(None, description=REFUSED, exclude=True)
    server_certificate_path: SkipJsonSchema[str | None] = Field(None, description=REFUSED, exclude=True)
    timeout_s: float = Field(4.0, gt=0, le=60, description="Seconds a connect, read or write may take at most.")
    mode: Literal["poll", "subscribe"] = Field(
        "poll", description="poll: read all tags in one request per cycle; subscribe: the server pushes changes "
                            "and a read returns the latest values.")
    publishing_interval_ms: int = Field(1000, ge=10, le=3_600_000,
                                        description="Subscription publishing interval (subscribe mode).")
    max_nodes_per_read: int = Field(0, ge=0, description="Split a batch read into requests of at most this many "
                                                          "nodes, sent together; 0: one request for all tags.")

    @field_validator("certificate", "private_key", "server_certificate")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        return material_name(value)

    @field_validator("certificate_path", "private_key_path", "server_certificate_path")
    @classmethod
    def _no_paths(cls, value: str | None, info: ValidationInfo) -> None:
        if value is not None:
            field = (info.field_name or "").removesuffix("_path")
            raise ValueError(f"no path (files of the server are not read): upload the file under Configuration → "
                             f"Certificates and name it in {field}")

    @model_validator(mode="after")
    def _check_identity(self) -> OpcUaSettings:
        if self.auth is None:
            self.auth = "username" if self.username else "anonymous"
        if self.auth == "username" and not self.username:
            raise ValueError("username is required for a user name login")
        if self.auth == "certificate" and not self.certificate:
            raise ValueError("certificate is required for a certificate login")
        if bool(self.certificate) != bool(self.private_key):
            raise ValueError("certificate and private_key go together")
        return self


@dataclass(slots=True)
class _Plan:
    """The node ids of one tag list, ready to send: resolved ids, per-tag errors, prebuilt read requests."""

    key: tuple[tuple[str, str, str], ...]
    names: list[str] = field(default_factory=list)
    items: list[tuple[TagConfig, ua.NodeId]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    requests: list[ua.ReadParameters] = field(default_factory=list)


class _Latest:
    """Subscription handler keeping the newest DataValue per node."""

    def __init__(self) -> None:
        self.values: dict[ua.NodeId, ua.DataValue] = {}

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.values[node.nodeid] = data.monitored_item.Value

    def status_change_notification(self, status: Any) -> None:
        log.debug("opcua subscription status %s", status)


class OpcUa(DriverBase):
    """OPC UA client for one server, polling in batch reads or subscribed to data changes."""

    settings_model: ClassVar[type[BaseModel]] = OpcUaSettings

    def __init__(self, settings: OpcUaSettings, material: Material | None = None) -> None:
        self.settings = settings
        self.material = material or {}
        self.requests = 0
        self._client: Client | None = None
        self._namespaces: list[str] | None = None
        self._plans: dict[tuple[tuple[str, str, str], ...], _Plan] = {}
        self._subscription: Subscription | None = None
        self._subscribed: set[ua.NodeId] = set()
        self._subscription_key: tuple[tuple[str, str, str], ...] = ()
        self._latest = _Latest()
        self._sub_errors: dict[ua.NodeId, str] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def validate_tag(cls, tag: TagConfig) -> None:
        parse_node_id(tag.address)

    # -- connection ---------------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.uaclient.state is UaClientState.CONNECTED

    async def connect(self) -> None:
        async with self._lock:
            await self._connect()

    async def _connect(self) -> None:
        await self._drop()
        s = self.settings
        client = Client(s.endpoint_url, timeout=s.timeout_s)
        client.session_timeout = 600_000
        try:
            async with asyncio.timeout(s.timeout_s):
                await apply_security(client, s, self.material)
                await client.connect()
        except BaseException as e:  # every library failure becomes one of ours; a cancel still cleans up
            client.disconnect_socket()
            _stop_tasks(client)
            if not isinstance(e, Exception):
                raise
            raise self._translate(e, "connect") from None
        self._client = client

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        self._plans, self._subscription, self._subscribed, self._namespaces = {}, None, set(), None
        self._latest.values.clear()
        if client is None:
            return
        if client.uaclient.state is not UaClientState.CONNECTED:  # lost: a polite goodbye would only wait
            client.disconnect_socket()
            _stop_tasks(client)
            return
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                await client.disconnect()
        except Exception as e:  # noqa: BLE001 - closing a dead connection may fail in many ways
            log.debug("opcua %s: disconnect: %r", self.settings.endpoint_url, e)
            client.disconnect_socket()
            _stop_tasks(client)

    async def _ready(self) -> Client:
        """The connected client, reconnecting first when the connection was lost."""
        if not self.connected:
            async with self._lock:
                if not self.connected:
                    await self._connect()
        assert self._client is not None
        return self._client

    def _translate(self, e: BaseException, what: str) -> Exception:
        url = self.settings.endpoint_url
        if isinstance(e, (TimeoutError, asyncio.TimeoutError)):
            return DeviceUnreachable(f"opcua {url}: {what} timed out after {self.settings.timeout_s} s")
        if isinstance(e, ua.UaStatusCodeError):
            name = ua.StatusCode(e.code).name
            if e.code in _CONNECTION_LOST:
                return DeviceUnreachable(f"opcua {url}: {what}: {name}")
            return DeviceMisconfigured(f"opcua {url}: {what}: {name}")
        if isinstance(e, (OSError, ConnectionError, EOFError)):
            return DeviceUnreachable(f"opcua {url}: {what}: {e or type(e).__name__}")
        if isinstance(e, (DeviceUnreachable, DeviceMisconfigured, InvalidInput)):
            return e
        return DeviceMisconfigured(f"opcua {url}: {what}: {type(e).__name__}: {e}")

    async def _call(self, what: str, coro: Any) -> Any:
        """Await one service call within timeout_s, translating failures; a lost connection is dropped."""
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await coro
        except Exception as e:  # noqa: BLE001 - every failure is raised, translated to a driver error
            err = self._translate(e, what)
            if isinstance(err, DeviceUnreachable) and self._client is not None:
                self._client.uaclient.notify_transport_lost()
            raise err from None

    # -- reading ------------------------------------------------------------------------------------------------

    async def read(self, tags: Sequence[TagConfig]) -> dict[str, Reading]:
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                client = await self._ready()
                plan = await self._plan_for(client, tags)
                if self.settings.mode == "subscribe":
                    return await self._read_subscribed(client, plan)
                return await self._read_polled(client, plan)
        except TimeoutError as e:
            raise self._translate(e, "read") from None

    async def _read_polled(self, client: Client, plan: _Plan) -> dict[str, Reading]:
        self.requests += len(plan.requests)
        chunks = await self._call("read", asyncio.gather(*(client.uaclient.read(p) for p in plan.requests)))
        values = [dv for chunk in chunks for dv in chunk]
        out = {name: Reading(error=err) for name, err in plan.errors.items()}
        for (tag, _), dv in zip(plan.items, values, strict=False):
            out[tag.name] = _reading(tag, dv)
        return {name: out[name] for name in plan.names}

    async def _read_subscribed(self, client: Client, plan: _Plan) -> dict[str, Reading]:
        nodes = {node for _, node in plan.items}
        if self._subscription is not None and nodes <= self._subscribed and plan.key != self._subscription_key:
            return await self._read_polled(client, plan)  # e.g. a read-back after a write: fresh, one request
        if self._subscription is None or not nodes <= self._subscribed:
            await self._subscribe(client, plan)
        out = {name: Reading(error=err) for name, err in plan.errors.items()}
        for tag, node in plan.items:
            if node in self._sub_errors:
                out[tag.name] = Reading(error=f"{tag.name} at {tag.address}: {self._sub_errors[node]}")
            elif (dv := self._latest.values.get(node)) is None:
                out[tag.name] = Reading(error=NO_VALUE_YET)
            else:
                out[tag.name] = _reading(tag, dv)
        return {name: out[name] for name in plan.names}

    async def _subscribe(self, client: Client, plan: _Plan) -> None:
        """Subscribe to the plan's nodes, replacing the subscription of an earlier tag list."""
        if self._subscription is not None:
            old, self._subscription, self._subscribed = self._subscription, None, set()
            self._latest.values.clear()
            self.requests += 1
            await self._call("unsubscribe", old.delete())
        interval = self.settings.publishing_interval_ms
        self.requests += 2
        sub = await self._call("subscribe", client.create_subscription(interval, self._latest))
        nodes = list(dict.fromkeys(node for _, node in plan.items))
        results = await self._call("subscribe", sub.subscribe_data_change(
            [client.get_node(n) for n in nodes], queuesize=1, sampling_interval=interval)) if nodes else []
        self._sub_errors = {n: r.name for n, r in zip(nodes, results, strict=False) if isinstance(r, ua.StatusCode)}
        self._subscription, self._subscribed, self._subscription_key = sub, set(nodes), plan.key

    async def _plan_for(self, client: Client, tags: Sequence[TagConfig]) -> _Plan:
        key = tuple((t.name, t.address, t.data_type.value) for t in tags)
        if (cached := self._plans.get(key)) is not None:
            return cached
        plan = _Plan(key, [t.name for t in tags])
        for tag in tags:
            try:
                node = parse_node_id(tag.address)
                if getattr(node, "NamespaceUri", None):
                    node = resolve(node, await self._namespace_array(client))
            except (InvalidInput, LookupError) as e:
                plan.errors[tag.name] = f"{tag.name} at {tag.address}: {e}"
                continue
            plan.items.append((tag, node))
        size = self.settings.max_nodes_per_read or max(len(plan.items), 1)
        for start in range(0, len(plan.items), size):
            params = ua.ReadParameters()
            params.TimestampsToReturn = ua.TimestampsToReturn.Neither
            for _, node in plan.items[start:start + size]:
                rv = ua.ReadValueId()
                rv.NodeId, rv.AttributeId = node, ua.AttributeIds.Value
                params.NodesToRead.append(rv)
            plan.requests.append(params)
        if len(self._plans) >= 8:  # a device reads one list per cycle, plus the odd read-back after a write
            self._plans.pop(next(iter(self._plans)))
        self._plans[key] = plan
        return plan

    async def _namespace_array(self, client: Client) -> list[str]:
        if self._namespaces is None:
            self.requests += 1
            self._namespaces = await self._call("read namespaces", client.get_namespace_array())
        return self._namespaces

    # -- writing and browsing -----------------------------------------------------------------------------------

    async def write(self, tag: TagConfig, value: Any) -> None:
        variant = to_variant(value, tag.data_type)
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                client = await self._ready()
                node = parse_node_id(tag.address)
                if getattr(node, "NamespaceUri", None):
                    try:
                        node = resolve(node, await self._namespace_array(client))
                    except LookupError as e:
                        raise DeviceMisconfigured(f"{tag.name} at {tag.address}: {e}") from None
                wv = ua.WriteValue()
                wv.NodeId, wv.AttributeId, wv.Value = node, ua.AttributeIds.Value, ua.DataValue(variant)
                params = ua.WriteParameters()
                params.NodesToWrite = [wv]
                self.requests += 1
                status = (await self._call("write", client.uaclient.write(params)))[0]
        except TimeoutError as e:
            raise self._translate(e, "write") from None
        if status.is_bad():
            raise DeviceMisconfigured(f"{tag.name} at {tag.address}: {status.name}")

    async def browse(self, node_id: str | None = None) -> list[BrowseEntry]:
        """Children of ``node_id`` (default: the Objects folder) with data type, unit and access of variables."""
        start = ua.NodeId(ua.ObjectIds.ObjectsFolder) if node_id is None else parse_node_id(node_id)
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                client = await self._ready()
                if getattr(start, "NamespaceUri", None):
                    try:
                        start = resolve(start, await self._namespace_array(client))
                    except LookupError as e:
                        raise DeviceMisconfigured(f"browse {node_id}: {e}") from None
                entries, sent = await self._call("browse", browse_children(client.uaclient, start))
        except TimeoutError as e:
            raise self._translate(e, "browse") from None
        self.requests += sent
        return entries


def _reading(tag: TagConfig, dv: ua.DataValue) -> Reading:
    if dv.StatusCode is not None and dv.StatusCode.is_bad():
        return Reading(error=f"{tag.name} at {tag.address}: {dv.StatusCode.name}")
    try:
        return Reading(value=from_value(dv.Value.Value if dv.Value is not None else None, tag.data_type))
    except ValueError as e:
        return Reading(error=f"{tag.name} at {tag.address}: {e}")


def _stop_tasks(client: Client) -> None:
    """Stop asyncua's background tasks of a client whose connection is being abandoned."""
    client.uaclient.request_disconnect()
    for name in ("_stale_watchdog_task", "_supervisor_task", "_renew_channel_task"):
        task = getattr(client, name, None)
        if task is not None and not task.done():
            task.cancel()


async def browse(settings: OpcUaSettings | dict[str, Any], node_id: str | None = None,
                 material: Material | None = None) -> list[BrowseEntry]:
    """Connect, browse the children of ``node_id`` (default: Objects) and close."""
    s = settings if isinstance(settings, OpcUaSettings) else OpcUaSettings.model_validate(settings)
    async with OpcUa(s, material) as driver:
        return await driver.browse(node_id)


__all__ = ["BrowseEntry", "OpcUa", "OpcUaSettings", "browse"]
