"""S7 driver against the snap7-based simulator: every type round trips, merging, per-tag errors, outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagpipe.codec.s7_address import parse_s7_address, size_of
from tagpipe.contracts.config import ByteOrder, DataType, TagConfig
from tagpipe.drivers import DRIVERS, validate_tag
from tagpipe.drivers.s7 import S7, S7Settings
from tagpipe.drivers.sims.s7 import S7Sim
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput
from tests.codec.strategies import ORDERS, values
from tests.helpers import free_port

# (width letter, data type, one byte?) combinations the driver supports, with their size in bytes.
KINDS = [
    ("X", DataType.BOOL, False), ("B", DataType.BOOL, True), ("B", DataType.INT16, True),
    ("B", DataType.UINT16, True), ("W", DataType.INT16, False), ("W", DataType.UINT16, False),
    ("D", DataType.INT32, False), ("D", DataType.UINT32, False), ("D", DataType.FLOAT32, False),
    ("B", DataType.INT64, False), ("B", DataType.UINT64, False), ("B", DataType.FLOAT64, False),
    ("B", DataType.STRING, False),
]


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture(scope="module")
def sim() -> Iterator[S7Sim]:
    s = S7Sim()
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def driver(sim: S7Sim, runner: asyncio.Runner) -> Iterator[S7]:
    d = S7(S7Settings(host="127.0.0.1", port=sim.port))
    runner.run(d.connect())
    yield d
    runner.run(d.close())


@st.composite
def tag_batches(draw: st.DrawFn) -> list[tuple[TagConfig, object, object]]:
    """Up to 12 tags of random kinds laid out one after another in DB1, M or Q, with two values each."""
    area = draw(st.sampled_from(["DB1.DB", "M", "Q"]))
    offset, batch = draw(st.integers(0, 64)), []
    for i in range(draw(st.integers(1, 12))):
        letter, data_type, one_byte = draw(st.sampled_from(KINDS))
        order = draw(st.sampled_from(ORDERS))
        length = draw(st.integers(1, 30)) if data_type is DataType.STRING else None
        bit = f".{draw(st.integers(0, 7))}" if letter == "X" else ""
        address = f"{area}{letter}{offset}{bit}"
        tag = TagConfig(name=f"t{i}", address=address, data_type=data_type, byte_order=order, length=length,
                        writable=True)
        strategy = values(data_type, length=length or 16, one_byte=one_byte)
        batch.append((tag, draw(strategy), draw(strategy)))
        offset += size_of(parse_s7_address(address), data_type, length) + draw(st.integers(0, 40))
    return batch


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=tag_batches())
def test_every_type_round_trips_both_ways(sim: S7Sim, driver: S7, runner: asyncio.Runner,
                                          batch: list[tuple[TagConfig, object, object]]) -> None:
    tags = [t for t, _, _ in batch]
    for tag, first, _ in batch:
        sim.set_value(tag.address, first, tag.data_type, tag.byte_order, tag.length)
    got = runner.run(driver.read(tags))
    assert {t.name: got[t.name].value for t in tags} == {t.name: v for t, v, _ in batch}
    for tag, _, second in batch:
        runner.run(driver.write(tag, second))
        assert sim.get_value(tag.address, tag.data_type, tag.byte_order, tag.length) == second


@pytest.mark.parametrize("order", list(ByteOrder))
def test_byte_orders(sim: S7Sim, driver: S7, runner: asyncio.Runner, order: ByteOrder) -> None:
    sim.areas[(parse_s7_address("DB2.DBB0").area, 2)][0:4] = {
        ByteOrder.BIG_ENDIAN: b"\x40\x50\x00\x00", ByteOrder.LITTLE_ENDIAN: b"\x00\x00\x50\x40",
        ByteOrder.BIG_ENDIAN_BYTE_SWAP: b"\x50\x40\x00\x00", ByteOrder.LITTLE_ENDIAN_BYTE_SWAP: b"\x00\x00\x40\x50",
    }[order]
    tag = TagConfig(name="f", address="DB2.DBD0", data_type="FLOAT32", byte_order=order)
    assert runner.run(driver.read([tag]))["f"].value == 3.25


def test_big_endian_is_the_default(sim: S7Sim, driver: S7, runner: asyncio.Runner) -> None:
    sim.areas[(parse_s7_address("DB2.DBB0").area, 2)][8:10] = b"\xfb\x2e"
    assert runner.run(driver.read([TagConfig(name="i", address="DB2.DBW8", data_type="INT16")]))["i"].value == -1234


def test_one_area_is_merged_into_as_few_requests_as_the_pdu_allows(sim: S7Sim, driver: S7,
                                                                  runner: asyncio.Runner) -> None:
    tags = [TagConfig(name=f"w{i}", address=f"DB3.DBW{2 * i}", data_type="INT16") for i in range(1000)]
    for i in range(1000):
        sim.set_value(f"DB3.DBW{2 * i}", i - 500, DataType.INT16)
    payload = driver.pdu - 18  # the answer's header and one item header
    sim.requests = 0
    got = runner.run(driver.read(tags))
    assert [got[f"w{i}"].value for i in range(1000)] == [i - 500 for i in range(1000)]
    assert sim.requests == -(-2000 // payload)  # 480-byte PDU: 462 bytes per request, 5 requests
    assert driver.pdu == 480


def test_several_areas_share_one_request(sim: S7Sim, driver: S7, runner: asyncio.Runner) -> None:
    tags = [TagConfig(name="a", address="DB1.DBW0"), TagConfig(name="b", address="DB2.DBW100"),
            TagConfig(name="c", address="MW10"), TagConfig(name="d", address="QB2", data_type="UINT16"),
            TagConfig(name="e", address="I0.1", data_type="BOOL"), TagConfig(name="f", address="MW300")]
    sim.requests = 0
    got = runner.run(driver.read(tags))
    assert all(r.good for r in got.values()) and len(got) == 6
    assert sim.requests == 1


def test_a_missing_db_fails_only_its_tags(sim: S7Sim, driver: S7, runner: asyncio.Runner) -> None:
    sim.set_value("DB1.DBW40", 77, DataType.INT16)
    tags = [TagConfig(name="good", address="DB1.DBW40"), TagConfig(name="nodb", address="DB9.DBW0"),
            TagConfig(name="far", address="DB1.DBW8192"), TagConfig(name="m", address="MW0")]
    got = runner.run(driver.read(tags))
    assert got["good"].value == 77 and got["m"].good
    assert got["nodb"].error == "nodb at DB9.DBW0: PLC return code 0x0A (object does not exist)"
    assert got["far"].error is not None and got["far"].error.startswith("far at DB1.DBW8192: PLC return code 0x05")


def test_a_bad_tag_merged_with_good_ones_is_isolated(sim: S7Sim, driver: S7, runner: asyncio.Runner) -> None:
    sim.set_value("DB1.DBW8186", 5, DataType.INT16)
    tags = [TagConfig(name="ok", address="DB1.DBW8186"), TagConfig(name="over", address="DB1.DBD8190",
                                                                     data_type="INT32")]
    got = runner.run(driver.read(tags))
    assert got["ok"].value == 5
    assert got["over"].error is not None and "0x05" in got["over"].error


def test_write_errors(driver: S7, runner: asyncio.Runner) -> None:
    with pytest.raises(DeviceMisconfigured, match=r"nodb at DB9\.DBW0: PLC refused the write"):
        runner.run(driver.write(TagConfig(name="nodb", address="DB9.DBW0"), 1))
    with pytest.raises(InvalidInput) as e:
        runner.run(driver.write(TagConfig(name="big", address="DB1.DBW0", data_type="INT16"), 40000))
    assert e.value.field == "value"
    with pytest.raises(InvalidInput) as e:
        runner.run(driver.write(TagConfig(name="in", address="IW0"), 1))
    assert e.value.field == "address"
    with pytest.raises(InvalidInput) as e:
        runner.run(driver.write(TagConfig(name="sb", address="MB0", data_type="INT16"), 128))
    assert e.value.field == "value"


def test_bit_write_leaves_the_other_bits(sim: S7Sim, driver: S7, runner: asyncio.Runner) -> None:
    sim.areas[(parse_s7_address("MB0").area, 0)][100] = 0b1010_0101
    runner.run(driver.write(TagConfig(name="b", address="M100.1", data_type="BOOL"), True))
    runner.run(driver.write(TagConfig(name="b", address="M100.7", data_type="BOOL"), False))
    assert sim.areas[(parse_s7_address("MB0").area, 0)][100] == 0b0010_0111


async def test_outage_then_reconnect_without_a_new_process() -> None:
    port = free_port()
    sim = S7Sim(port=port)
    sim.start()
    sim.set_value("DB1.DBW0", 42, DataType.INT16)
    tag = TagConfig(name="w", address="DB1.DBW0")
    drv = S7(S7Settings(host="127.0.0.1", port=port, timeout_s=1.0))
    try:
        await drv.connect()
        assert (await drv.read([tag]))["w"].value == 42
        await asyncio.to_thread(sim.stop)
        with pytest.raises(DeviceUnreachable):
            await drv.read([tag])
        with pytest.raises(DeviceUnreachable):
            await drv.connect()
        sim.start()
        await drv.connect()
        assert (await drv.read([tag]))["w"].value == 42
    finally:
        await drv.close()
        await asyncio.to_thread(sim.stop)


async def test_refused_connection() -> None:
    with pytest.raises(DeviceUnreachable, match=r"s7 127\.0\.0\.1"):
        await S7(S7Settings(host="127.0.0.1", port=free_port(), timeout_s=1)).connect()


async def test_a_silent_device_never_stalls_longer_than_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(DeviceUnreachable):
        await S7(S7Settings(host="127.0.0.1", port=port, timeout_s=0.5)).connect()
    assert time.monotonic() - t0 < 1.5
    server.close()


GOOD_TAGS = [
    ("DB1.DBX0.0", "BOOL"), ("DB1.DBB1", "UINT16"), ("DB1.DBW2", "INT16"), ("DB1.DBD4", "FLOAT32"),
    ("DB1.DBD4", "INT32"), ("MW10", "UINT16"), ("MB3", "INT16"), ("MD4", "UINT32"), ("MX0.1", "BOOL"),
    ("M0.1", "BOOL"), ("IX0.1", "BOOL"), ("I0.1", "BOOL"), ("IB0", "UINT16"), ("IW2", "INT16"),
    ("QX0.0", "BOOL"), ("QB2", "UINT16"), ("QW4", "UINT16"), ("DB1.DBB10", "STRING"), ("DB1.DBB20", "FLOAT64"),
]
BAD_TAGS = [  # address, data type, writable, field, message start
    ("DB1.DBQ4", "INT16", False, "address", "address: expected DB<n>.DB<X|B|W|D><offset>[.bit], got 'DB1.DBQ4'"),
    ("DB1.DBW2", "FLOAT64", False, "data_type", "data_type: expected one of INT16, UINT16 for a WORD address"),
    ("DB1.DBX0.0", "INT16", False, "data_type", "data_type: expected one of BOOL"),
    ("DB1.DBD0", "INT16", False, "data_type", "data_type: expected one of FLOAT32"),
    ("IW2", "INT16", True, "writable", "writable: expected false: inputs (I) are read-only"),
    ("W10", "INT16", False, "address", "address: expected DB<n>"),
    ("M0.8", "BOOL", False, "address", "address: expected a bit number 0-7"),
]


@pytest.mark.parametrize(("address", "data_type"), GOOD_TAGS)
def test_validation_accepts(address: str, data_type: str) -> None:
    validate_tag("s7", TagConfig(name="t", address=address, data_type=data_type, writable=address[0] not in "IE"))


@pytest.mark.parametrize(("address", "data_type", "writable", "field", "message"), BAD_TAGS)
def test_validation_rejects(address: str, data_type: str, writable: bool, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_tag("s7", TagConfig(name="t", address=address, data_type=data_type, writable=writable))
    assert e.value.field == field
    assert str(e.value).startswith(message)


def test_string_length_is_checked() -> None:
    with pytest.raises(InvalidInput) as e:
        validate_tag("s7", TagConfig(name="s", address="DB1.DBB0", data_type="STRING", length=300))
    assert e.value.field == "length"


def test_registered_with_settings_and_docstring() -> None:
    assert DRIVERS["s7"] is S7
    schema = S7Settings.model_json_schema()
    assert all(p.get("description") for p in schema["properties"].values())
    assert S7.__doc__ and S7Settings(host="h").port == 102


async def test_a_hung_connection_fails_within_the_timeout_and_recovers() -> None:
    async with S7Sim() as sim:
        drv = S7(S7Settings(host="127.0.0.1", port=sim.port, timeout_s=0.5))
        await drv.connect()
        sim.silent = True
        t0 = time.monotonic()
        with pytest.raises(DeviceUnreachable):
            await drv.read([TagConfig(name="w", address="DB1.DBW0")])
        assert time.monotonic() - t0 < 1.0
        sim.silent = False
        await drv.connect()
        assert (await drv.read([TagConfig(name="w", address="DB1.DBW0")]))["w"].good
        await drv.close()
