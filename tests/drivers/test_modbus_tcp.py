"""Modbus TCP driver against the pymodbus simulator: types x byte orders, address forms, merging, writes, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus.constants import ExcCodes

from tagpipe.codec import register_count
from tagpipe.codec.modbus_address import Table
from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.modbus_tcp import ModbusTcp, ModbusTcpSettings
from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput
from tests.codec.strategies import ORDERS, values
from tests.helpers import free_port

REGISTER_TYPES = [t for t in DataType if t is not DataType.BOOL]


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture(scope="module")
def sim(runner: asyncio.Runner) -> Iterator[ModbusSim]:
    s = ModbusSim()
    runner.run(s.start())
    yield s
    runner.run(s.stop())


@pytest.fixture(scope="module")
def driver(sim: ModbusSim, runner: asyncio.Runner) -> Iterator[ModbusTcp]:
    d = ModbusTcp(ModbusTcpSettings(host="127.0.0.1", port=sim.port))
    runner.run(d.connect())
    yield d
    runner.run(d.close())


@st.composite
def tag_batches(draw: st.DrawFn) -> list[tuple[TagConfig, object, object]]:
    """Up to 10 register tags of random types and byte orders laid out in holding registers."""
    offset, batch = draw(st.integers(0, 200)), []
    for i in range(draw(st.integers(1, 10))):
        data_type = draw(st.sampled_from(REGISTER_TYPES))
        length = draw(st.integers(1, 20)) if data_type is DataType.STRING else None
        tag = TagConfig(name=f"t{i}", address=f"hr:{offset}", data_type=data_type,
                        byte_order=draw(st.sampled_from(ORDERS)), length=length)
        strategy = values(data_type, length=length or 16)
        batch.append((tag, draw(strategy), draw(strategy)))
        offset += register_count(data_type, length) + draw(st.sampled_from([0, 0, 1, 5]))
    return batch


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=tag_batches())
def test_every_type_and_byte_order_round_trips(sim: ModbusSim, driver: ModbusTcp, runner: asyncio.Runner,
                                               batch: list[tuple[TagConfig, object, object]]) -> None:
    tags = [t for t, _, _ in batch]
    for tag, first, _ in batch:
        runner.run(sim.set_value(tag.address, first, tag.data_type, tag.byte_order, tag.length))
    got = runner.run(driver.read(tags))
    assert {t.name: got[t.name].value for t in tags} == {t.name: v for t, v, _ in batch}
    for tag, _, second in batch:
        runner.run(driver.write(tag, second))
    got = runner.run(driver.read(tags))
    assert {t.name: got[t.name].value for t in tags} == {t.name: v for t, _, v in batch}


ADDRESS_FORMS = [  # address, where the simulator stores it, data type
    ("40001", "hr:0", DataType.UINT16), ("400010", "hr:9", DataType.UINT16), ("hr:100", "hr:100", DataType.INT16),
    ("30001", "ir:0", DataType.UINT16), ("300005", "ir:4", DataType.INT16), ("00001", "co:0", DataType.BOOL),
    ("10001", "di:0", DataType.BOOL), ("10003", "di:2", DataType.BOOL),
]


@pytest.mark.parametrize(("address", "stored", "data_type"), ADDRESS_FORMS)
def test_address_forms(sim: ModbusSim, driver: ModbusTcp, runner: asyncio.Runner, address: str, stored: str,
                       data_type: DataType) -> None:
    value = True if data_type is DataType.BOOL else 4242
    runner.run(sim.set_value(stored, value, data_type))
    assert runner.run(driver.read([TagConfig(name="a", address=address, data_type=data_type)]))["a"].value == value


def test_bit_in_a_register(sim: ModbusSim, driver: ModbusTcp, runner: asyncio.Runner) -> None:
    runner.run(sim.set_raw(Table.HOLDING_REGISTER, 500, [0b1000]))
    tags = [TagConfig(name="b3", address="40501.3", data_type="BOOL"),
            TagConfig(name="b0", address="40501.0", data_type="BOOL")]
    got = runner.run(driver.read(tags))
    assert got["b3"].value is True and got["b0"].value is False
    runner.run(driver.write(tags[1], True))
    runner.run(driver.write(tags[0], False))
    assert runner.run(sim.get_raw(Table.HOLDING_REGISTER, 500)) == [0b0001]


@pytest.mark.parametrize("data_type", [DataType.INT64, DataType.UINT64, DataType.FLOAT64, DataType.STRING])
def test_64_bit_and_string_known_values(sim: ModbusSim, driver: ModbusTcp, runner: asyncio.Runner,
                                         data_type: DataType) -> None:
    value = {DataType.INT64: -(2**62), DataType.UINT64: 2**64 - 1, DataType.FLOAT64: 1.0e-300,
             DataType.STRING: "PRESS-7"}[data_type]
    tag = TagConfig(name="v", address="hr:700", data_type=data_type, length=10)
    runner.run(sim.set_value("hr:700", value, data_type, length=10))
    assert runner.run(driver.read([tag]))["v"].value == value
    assert len(runner.run(sim.get_raw(Table.HOLDING_REGISTER, 700, register_count(data_type, 10)))) == \
        register_count(data_type, 10)


def test_thousand_contiguous_registers_in_at_most_eight_requests(sim: ModbusSim, driver: ModbusTcp,
                                                                 runner: asyncio.Runner) -> None:
    runner.run(sim.set_raw(Table.HOLDING_REGISTER, 2000, [(i * 7) & 0xFFFF for i in range(1000)]))
    tags = [TagConfig(name=f"r{i}", address=f"hr:{2000 + i}") for i in range(1000)]
    sim.requests = 0
    got = runner.run(driver.read(tags))
    assert [got[f"r{i}"].value for i in range(1000)] == [(i * 7) & 0xFFFF for i in range(1000)]
    assert sim.requests <= 8


def test_writes_use_fc5_fc6_fc16(sim: ModbusSim, driver: ModbusTcp, runner: asyncio.Runner) -> None:
    runner.run(driver.write(TagConfig(name="c", address="00010", data_type="BOOL"), True))
    runner.run(driver.write(TagConfig(name="w", address="40801", data_type="INT16"), -5))
    runner.run(driver.write(TagConfig(name="f", address="40802", data_type="FLOAT32"), 3.25))
    assert runner.run(sim.get_raw(Table.COIL, 9)) == [True]
    assert runner.run(sim.get_raw(Table.HOLDING_REGISTER, 800, 3)) == [0xFFFB, 0x4050, 0x0000]


def test_exception_response_names_the_tag_and_code(sim: ModbusSim, driver: ModbusTcp, runner: asyncio.Runner) -> None:
    sim.fail_with = ExcCodes.ILLEGAL_ADDRESS
    try:
        got = runner.run(driver.read([TagConfig(name="t", address="40001")]))
        assert got["t"].error == "t at 40001: PLC exception 2 (illegal data address)"
        with pytest.raises(DeviceMisconfigured, match=r"w at 40002: PLC exception 2"):
            runner.run(driver.write(TagConfig(name="w", address="40002"), 1))
    finally:
        sim.fail_with = None


async def test_outage_then_reconnect() -> None:
    port = free_port()
    sim = ModbusSim(port=port)
    await sim.start()
    drv = ModbusTcp(ModbusTcpSettings(host="127.0.0.1", port=port, timeout_s=1))
    tag = TagConfig(name="a", address="40001")
    try:
        await drv.connect()
        await sim.set_value("40001", 9)
        assert (await drv.read([tag]))["a"].value == 9
        await sim.stop()
        with pytest.raises(DeviceUnreachable):
            await drv.read([tag])
        await sim.start()
        await sim.set_value("40001", 10)
        await drv.connect()
        assert (await drv.read([tag]))["a"].value == 10
    finally:
        await drv.close()
        await sim.stop()


@pytest.mark.parametrize(("length", "ok"), [(250, True), (251, False), (1024, False)])
def test_a_string_longer_than_one_read_is_refused_at_save(length: int, ok: bool) -> None:
    """One read returns at most 125 registers; a longer STRING made pymodbus raise inside the driver (a 500)."""
    tag = TagConfig(name="label", address="40001", data_type=DataType.STRING, length=length)
    if ok:
        ModbusTcp.validate_tag(tag)
        return
    with pytest.raises(InvalidInput) as e:
        ModbusTcp.validate_tag(tag)
    assert e.value.field == "length"
