"""*Test connection* and OPC UA browsing: try a connection from the server before it is saved.

Both run on the central server, so they prove the PLC is reachable from the server, not from the edge
that will poll it (the same as ThingsBoard's and Ignition's connection tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel

from tagpipe import drivers
from tagpipe.codec import scale_value
from tagpipe.contracts.config import TagConfig
from tagpipe.drivers import Material
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput
from tagpipe.plant.reach import Network, check_reach
from tagpipe.plant.schemas import BrowseNode, ConnectionTestIn, ConnectionTestOut, TagProbe, TagSpec

log = logging.getLogger(__name__)
TEST_TIMEOUT_S = 3.0  # per answer: a test should fail fast, a poller may wait longer
TOTAL_TIMEOUT_S = 15.0

# What a PLC's error text means for the person looking at it; first match wins.
_TAG_REASONS = [
    ("access denied", ("accessdenied", "notreadable", "notwritable", "access denied", "protected")),
    ("wrong data type", ("typemismatch", " is not ", "wrong type", "data type", "cannot decode")),
    ("unknown address", ("nodeidunknown", "nodeidinvalid", "does not exist", "range exceeded", "illegal data address",
                         "out of range", "unknown", "not found", "exception 2", "address")),
    ("no answer", ("timed out", "timeout", "no response")),
]


def tag_reason(error: str) -> str:
    """Classify a driver's per-tag error into one of a few reasons a user can act on."""
    low = error.lower()
    for reason, needles in _TAG_REASONS:
        if any(n in low for n in needles):
            return reason
    return "failed"


def validated(body: ConnectionTestIn) -> tuple[BaseModel, list[TagConfig]]:
    """The protocol's settings and the tags, checked like a save would check them (InvalidInput names the field)."""
    settings = drivers.validate_settings(body.protocol, body.settings)
    tags = []
    for i, spec in enumerate(body.tags):
        tag = TagConfig.model_validate(spec.model_dump(exclude_unset=True))  # unset stays unset (XGT byte order)
        try:
            drivers.validate_tag(body.protocol, tag)
        except InvalidInput as e:
            raise InvalidInput(f"tags.{i}.{e.field}", e.expected, getattr(tag, e.field, ...)) from None
        tags.append(tag)
    names = [t.name for t in tags]
    if len(set(names)) != len(names):
        raise InvalidInput("tags", "unique tag names", sorted({n for n in names if names.count(n) > 1}))
    return settings, tags


def _quick(settings: BaseModel) -> BaseModel:
    """The settings with a short per-answer timeout, so a dead PLC fails the test in seconds."""
    if "timeout_s" in type(settings).model_fields:
        quick = min(settings.timeout_s, TEST_TIMEOUT_S)  # type: ignore[attr-defined]
        return settings.model_copy(update={"timeout_s": quick})
    return settings


def _endpoint(settings: BaseModel) -> tuple[str, int] | None:
    host, port = getattr(settings, "host", None), getattr(settings, "port", None)
    if host and port:
        return str(host), int(port)
    url = getattr(settings, "endpoint_url", None)
    if url:
        parsed = urlparse(str(url))
        if parsed.hostname:
            return parsed.hostname, parsed.port or 4840
    return None


async def _reach(host: str, port: int, timeout_s: float) -> tuple[str, str] | None:
    """A plain TCP connect first, so the answer can say refused, timed out or unknown host precisely."""
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return "refused", (f"connection refused by {host}:{port}: nothing listens on that port (wrong port, or the "
                           "PLC's protocol service is off)")
    except TimeoutError:
        return "timed out", (f"no answer from {host}:{port} within {timeout_s:g} s (wrong address, PLC off, or a "
                             "firewall drops the traffic)")
    except socket.gaierror:
        return "unknown host", f"the host name {host!r} cannot be resolved"
    except OSError as e:
        return "unreachable", f"{host}:{port} cannot be reached: {e.strerror or e}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def _result(reason: str, error: str, started: float, values: dict[str, TagProbe] | None = None) -> ConnectionTestOut:
    return ConnectionTestOut(ok=False, reason=reason, error=error, values=values or {},
                             elapsed_ms=round((time.perf_counter() - started) * 1000, 1))


async def try_connection(body: ConnectionTestIn, networks: Sequence[Network] = (),
                         material: Material | None = None) -> ConnectionTestOut:
    """Connect through the protocol's driver and read every tag once; bad input (or a device outside ``networks``)
    raises InvalidInput (422). ``material``: the certificates and keys the settings name, from tagpipe's store."""
    started = time.perf_counter()
    settings, tags = validated(body)
    check_reach(settings, networks)
    settings = _quick(settings)
    where = _endpoint(settings)
    if where is not None:
        failed = await _reach(*where, TEST_TIMEOUT_S)
        if failed is not None:
            return _result(failed[0], failed[1], started)
    driver = drivers.driver_for(body.protocol, settings, material)
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT_S):
            await driver.connect()
            try:
                readings = await driver.read(tags) if tags else {}
            finally:
                with contextlib.suppress(Exception):  # the answer is what was read; closing is best effort
                    await driver.close()
    except TimeoutError:
        return _result("timed out", f"the device did not finish answering within {TOTAL_TIMEOUT_S:g} s", started)
    except DeviceUnreachable as e:
        return _result("no answer", f"the port is open but the device did not answer the protocol: {e}", started)
    except DeviceMisconfigured as e:
        return _result("misconfigured", f"the device refused the request: {e}", started)
    except InvalidInput as e:
        return _result("misconfigured", str(e), started)
    except Exception as e:  # noqa: BLE001 - a library error a driver let through is this test's answer, not a 500
        log.warning("test connection: %s driver failed: %r", body.protocol, e)
        return _result("failed", f"the {body.protocol} driver failed: {e}", started)
    values: dict[str, TagProbe] = {}
    for tag in tags:
        r = readings.get(tag.name)
        if r is None:
            values[tag.name] = TagProbe(error=f"{tag.name}: not read", reason="failed")
        elif r.good:
            values[tag.name] = TagProbe(value=scale_value(r.value, tag.scale, tag.offset))
        else:
            values[tag.name] = TagProbe(error=r.error, reason=tag_reason(r.error or ""))
    bad = [n for n, v in values.items() if v.error]
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    if bad:
        return ConnectionTestOut(ok=False, reason="tags failed", values=values, elapsed_ms=elapsed,
                                 error=f"connected, but {len(bad)} of {len(tags)} tags failed: " + "; ".join(
                                     f"{values[n].error} ({values[n].reason})" for n in bad))
    return ConnectionTestOut(ok=True, values=values, elapsed_ms=elapsed)


async def browse(settings: dict[str, Any], node_id: str | None = None,
                 networks: Sequence[Network] = (), material: Material | None = None) -> list[BrowseNode]:
    """The children of an OPC UA node (default Objects); DeviceUnreachable (502) or DeviceMisconfigured (422)
    otherwise."""
    from tagpipe.drivers.opcua import OpcUa

    validated_settings = _quick(drivers.validate_settings("opcua", settings))
    check_reach(validated_settings, networks)
    if node_id is not None:
        try:
            OpcUa.validate_tag(TagConfig(name="browse", address=node_id, data_type="FLOAT64"))  # type: ignore[arg-type]
        except InvalidInput as e:
            raise InvalidInput("node_id", e.expected, node_id) from None
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT_S):
            async with OpcUa(validated_settings, material) as driver:  # type: ignore[arg-type]
                entries = await driver.browse(node_id)
    except TimeoutError:
        raise DeviceUnreachable(f"browsing did not finish within {TOTAL_TIMEOUT_S:g} s") from None
    return [BrowseNode(node_id=e.node_id, browse_name=e.browse_name, display_name=e.display_name,
                       node_class=e.node_class, data_type=e.data_type, unit=e.unit, writable=e.writable)
            for e in entries]


def tag_spec_from_node(node: BrowseNode) -> TagSpec:
    """A tag definition for a browsed variable: its node id as address, the server's data type and unit."""
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in node.display_name or node.browse_name) or "node"
    return TagSpec(name=name[:120], address=node.node_id, data_type=node.data_type or "FLOAT64",  # type: ignore[arg-type]
                   unit=node.unit[:40])
