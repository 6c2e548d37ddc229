"""The OPC UA driver against the asyncua simulator: every data type, node id forms, batching, errors, browse,
subscriptions."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers import make_driver
from tagpipe.drivers.opcua import OpcUa, OpcUaSettings, browse
from tagpipe.drivers.sims.opcua import GUID_NODE, OpcUaSim
from tagpipe.errors import DeviceMisconfigured, InvalidInput

pytestmark = pytest.mark.asyncio(loop_scope="module")

VALUES: dict[DataType, st.SearchStrategy[Any]] = {
    DataType.BOOL: st.booleans(),
    DataType.INT16: st.integers(-(2**15), 2**15 - 1),
    DataType.UINT16: st.integers(0, 2**16 - 1),
    DataType.INT32: st.integers(-(2**31), 2**31 - 1),
    DataType.UINT32: st.integers(0, 2**32 - 1),
    DataType.INT64: st.integers(-(2**63), 2**63 - 1),
    DataType.UINT64: st.integers(0, 2**64 - 1),
    DataType.FLOAT32: st.floats(width=32),
    DataType.FLOAT64: st.floats(),
    DataType.STRING: st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
}
EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[OpcUaSim]:
    async with OpcUaSim() as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def driver(sim: OpcUaSim) -> AsyncIterator[OpcUa]:
    async with OpcUa(OpcUaSettings(endpoint_url=sim.url, timeout_s=5)) as d:
        yield d


def typed_tags(sim: OpcUaSim) -> list[TagConfig]:
    return [TagConfig(name=dt.value.lower(), address=node, data_type=dt) for dt, node in sim.nodes.items()]


@given(values=st.fixed_dictionaries(VALUES))
@EXAMPLES
async def test_every_data_type_set_at_the_server_reads_back_exactly(sim: OpcUaSim, driver: OpcUa,
                                                                    values: dict[DataType, Any]) -> None:
    for data_type, value in values.items():
        await sim.set_value(sim.nodes[data_type], value, data_type)
    readings = await driver.read(typed_tags(sim))
    for data_type, value in values.items():
        reading = readings[data_type.value.lower()]
        assert reading.good, reading.error
        assert same(reading.value, value), (data_type, value, reading.value)


@given(values=st.fixed_dictionaries(VALUES))
@EXAMPLES
async def test_every_data_type_written_by_the_driver_arrives_exactly(sim: OpcUaSim, driver: OpcUa,
                                                                     values: dict[DataType, Any]) -> None:
    tags = {t.data_type: t for t in typed_tags(sim)}
    for data_type, value in values.items():
        await driver.write(tags[data_type], value)
    for data_type, value in values.items():
        assert same(await sim.get_value(sim.nodes[data_type]), value), (data_type, value)


@pytest.mark.parametrize("address", [
    "ns=2;s=PLC1.Int32", "ns=2;i=1001", f"ns=2;g={GUID_NODE}", "ns=2;b=cHJlc3MB",
    "nsu=urn:tagpipe:sim;s=PLC1.Int32", "nsu=urn:tagpipe:sim;i=1001",
])
async def test_every_node_id_form_reads_and_writes(sim: OpcUaSim, driver: OpcUa, address: str) -> None:
    tag = TagConfig(name="t", address=address, data_type=DataType.INT32)
    await driver.write(tag, 4711)
    assert (await driver.read([tag]))["t"].value == 4711


async def test_namespace_zero_numeric_ids_read_server_nodes(driver: OpcUa) -> None:
    readings = await driver.read([TagConfig(name="now", address="i=2258", data_type=DataType.STRING),
                                  TagConfig(name="state", address="i=2259", data_type=DataType.INT32)])
    assert readings["now"].value.startswith(time.strftime("%Y", time.gmtime()))
    assert readings["state"].value == 0  # ServerState.Running


async def test_all_tags_are_read_in_one_request(sim: OpcUaSim, driver: OpcUa) -> None:
    tags = typed_tags(sim) * 1 + [TagConfig(name=f"n{i}", address="ns=2;i=1001", data_type=DataType.INT32)
                                  for i in range(20)]
    await driver.read(tags)  # builds and caches the request
    before_driver, before_server = driver.requests, len(sim.reads)
    readings = await driver.read(tags)
    assert all(r.good for r in readings.values())
    assert driver.requests - before_driver == 1
    assert [n for n in sim.reads[before_server:] if n > 1] == [len(tags)]  # (1-node reads: the client's watchdog)
    assert await driver.read([]) == {}


async def test_max_nodes_per_read_splits_the_batch(sim: OpcUaSim) -> None:
    tags = typed_tags(sim)
    async with OpcUa(OpcUaSettings(endpoint_url=sim.url, max_nodes_per_read=4)) as d:
        await d.read(tags)
        before = len(sim.reads)
        readings = await d.read(tags)
    assert all(r.good for r in readings.values()) and len(readings) == 10
    assert sorted(n for n in sim.reads[before:] if n > 1) == [2, 4, 4]


async def test_a_bad_node_fails_only_its_tag_and_names_it(sim: OpcUaSim, driver: OpcUa) -> None:
    tags = [TagConfig(name="temp", address=sim.nodes[DataType.FLOAT32], data_type=DataType.FLOAT32),
            TagConfig(name="ghost", address="ns=2;s=PLC1.Missing", data_type=DataType.INT16),
            TagConfig(name="elsewhere", address="nsu=urn:nowhere;s=X", data_type=DataType.INT16),
            TagConfig(name="garbled", address="Press.Temp", data_type=DataType.INT16),
            TagConfig(name="count", address="ns=2;i=1001", data_type=DataType.INT32)]
    readings = await driver.read(tags)
    assert list(readings) == [t.name for t in tags]
    assert readings["temp"].good and readings["count"].good
    assert readings["ghost"].error == "ghost at ns=2;s=PLC1.Missing: BadNodeIdUnknown"
    assert "elsewhere at nsu=urn:nowhere;s=X" in readings["elsewhere"].error
    assert "urn:nowhere" in readings["elsewhere"].error
    assert readings["garbled"].error.startswith("garbled at Press.Temp")


async def test_a_value_of_the_wrong_kind_is_a_tag_error(sim: OpcUaSim, driver: OpcUa) -> None:
    await sim.set_value(sim.nodes[DataType.STRING], "not a number", DataType.STRING)
    tag = TagConfig(name="s", address=sim.nodes[DataType.STRING], data_type=DataType.INT16)
    assert "is not INT16" in (await driver.read([tag]))["s"].error


@pytest.mark.parametrize(("address", "data_type", "value", "status"), [
    ("ns=2;s=PLC1.ReadOnly", DataType.INT32, 1, "BadUserAccessDenied"),
    ("ns=2;s=PLC1.Int16", DataType.INT32, 1, "BadTypeMismatch"),
    ("ns=2;s=PLC1.Nope", DataType.INT32, 1, r"Bad\w+"),  # asyncua checks access before existence
])
async def test_a_refused_write_is_misconfigured_naming_tag_and_status(
        driver: OpcUa, address: str, data_type: DataType, value: Any, status: str) -> None:
    with pytest.raises(DeviceMisconfigured, match=f"^w at {address}: {status}$"):
        await driver.write(TagConfig(name="w", address=address, data_type=data_type), value)


@pytest.mark.parametrize(("data_type", "value"), [
    (DataType.INT16, 40000), (DataType.UINT32, -1), (DataType.FLOAT32, 1e40), (DataType.BOOL, "maybe"),
    (DataType.STRING, 12),
])
async def test_an_out_of_range_write_is_invalid_input_and_sends_nothing(
        sim: OpcUaSim, driver: OpcUa, data_type: DataType, value: Any) -> None:
    before = driver.requests
    with pytest.raises(InvalidInput) as e:
        await driver.write(TagConfig(name="w", address=sim.nodes[data_type], data_type=data_type), value)
    assert e.value.field == "value" and driver.requests == before


async def test_browse_lists_plc1_variables_with_type_unit_and_access(sim: OpcUaSim, driver: OpcUa) -> None:
    top = await driver.browse()
    plc = next(e for e in top if e.display_name == "PLC1")
    assert plc.node_class == "Object" and plc.node_id == "ns=2;s=PLC1"
    entries = {e.display_name: e for e in await driver.browse(plc.node_id)}
    assert {"Bool", "Int16", "UInt64", "Float32", "String", "Motor"} <= set(entries)
    assert entries["Float32"].data_type is DataType.FLOAT32 and entries["Float32"].unit == "°C"
    assert entries["UInt32"].unit == "pcs" and entries["Int16"].unit == ""
    assert entries["Int64"].node_class == "Variable" and entries["Int64"].writable
    assert entries["ReadOnly"].writable is False
    assert entries["Motor"].node_class == "Object" and entries["Motor"].data_type is None
    tag = TagConfig(name="picked", address=entries["Float64"].node_id, data_type=entries["Float64"].data_type)
    assert (await driver.read([tag]))["picked"].good  # a browsed node id works as a tag address


async def test_module_browse_connects_and_closes(sim: OpcUaSim) -> None:
    entries = await browse({"endpoint_url": sim.url}, "nsu=urn:tagpipe:sim;s=PLC1")
    assert any(e.node_id == "ns=2;i=1001" and e.browse_name == "2:Numeric" for e in entries)
    with pytest.raises(DeviceMisconfigured, match=r"^browse ns=2;s=NoSuchFolder: BadNodeId"):
        await browse({"endpoint_url": sim.url}, "ns=2;s=NoSuchFolder")


async def test_the_registry_builds_the_driver_from_a_connection_dict(sim: OpcUaSim) -> None:
    async with make_driver("opcua", {"endpoint_url": sim.url}) as d:  # type: ignore[attr-defined]
        assert (await d.read(typed_tags(sim)[:1]))["bool"].good


async def test_subscription_delivers_server_changes_within_two_intervals(sim: OpcUaSim) -> None:
    interval = 0.3
    tags = [*typed_tags(sim)[:3], TagConfig(name="ghost", address="ns=2;s=Gone", data_type=DataType.INT16)]
    int16 = tags[1]
    async with OpcUa(OpcUaSettings(endpoint_url=sim.url, mode="subscribe",
                                   publishing_interval_ms=int(interval * 1000))) as d:
        first = await d.read(tags)
        assert first["int16"].error == "no value yet"
        assert first["ghost"].error == "ghost at ns=2;s=Gone: BadNodeIdUnknown"
        await wait_for_value(d, tags, "int16", lambda v: v is not None, 5.0)
        requests = d.requests
        for target in (1111, -2222):
            await sim.set_value(int16.address, target, DataType.INT16)
            await wait_for_value(d, tags, "int16", lambda v, t=target: v == t, 3 * interval)
        assert d.requests == requests  # reads are served from the notifications, not from the server
        await d.write(int16, 333)  # the edge's write then read-back of one tag: a fresh read, same subscription
        assert (await d.read([int16]))["int16"].value == 333
        await wait_for_value(d, tags, "int16", lambda v: v == 333, 3 * interval)
        assert d.requests == requests + 2
        other = [TagConfig(name="count", address="ns=2;i=1001", data_type=DataType.INT32)]
        await sim.set_value("ns=2;i=1001", 77, DataType.INT32)
        await wait_for_value(d, other, "count", lambda v: v == 77, 5.0)  # a new tag list resubscribes
        assert await d.read([]) == {}


async def wait_for_value(d: OpcUa, tags: list[TagConfig], name: str, ok: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        reading = (await d.read(tags))[name]
        if ok(reading.value):
            return
        assert time.monotonic() < deadline, f"{name} still {reading} after {timeout} s"
        await asyncio.sleep(0.01)
