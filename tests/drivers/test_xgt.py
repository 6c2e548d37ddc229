"""XGT driver against the FEnet simulator: round trips, merging, NAKs, invoke ids, outages, validation."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagpipe.codec.xgt_address import parse_xgt_address, size_of
from tagpipe.contracts.config import ByteOrder, DataType, TagConfig
from tagpipe.drivers import DRIVERS, driver_class, validate_tag
from tagpipe.drivers.sims.xgt import XgtSim
from tagpipe.drivers.xgt import (
    Xgt,
    XgtSettings,
    continuous_read_request,
    continuous_write_request,
    frame,
    read_request,
    write_request,
)
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput
from tests.codec.strategies import ORDERS, values
from tests.helpers import free_port

KINDS = [  # type letter, data type, one byte?
    ("X", DataType.BOOL, False), ("B", DataType.BOOL, True), ("B", DataType.INT16, True),
    ("B", DataType.UINT16, True), ("W", DataType.INT16, False), ("W", DataType.UINT16, False),
    ("W", DataType.FLOAT32, False), ("W", DataType.INT32, False), ("D", DataType.INT32, False),
    ("D", DataType.UINT32, False), ("D", DataType.FLOAT32, False), ("L", DataType.INT64, False),
    ("L", DataType.UINT64, False), ("L", DataType.FLOAT64, False), ("B", DataType.STRING, False),
    ("W", DataType.FLOAT64, False),
]
UNIT = {"X": 1, "B": 1, "W": 2, "D": 4, "L": 8}


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture(scope="module")
def sim(runner: asyncio.Runner) -> Iterator[XgtSim]:
    s = XgtSim()
    runner.run(s.start())
    yield s
    runner.run(s.stop())


@pytest.fixture(scope="module")
def driver(sim: XgtSim, runner: asyncio.Runner) -> Iterator[Xgt]:
    d = Xgt(XgtSettings(host="127.0.0.1", port=sim.port))
    runner.run(d.connect())
    yield d
    runner.run(d.close())


@st.composite
def tag_batches(draw: st.DrawFn) -> list[tuple[TagConfig, object, object]]:
    """Up to 12 tags of random kinds on one device, spread so that some merge and some are read alone."""
    device = draw(st.sampled_from("MDP"))
    offset, batch = draw(st.integers(0, 64)), []
    for i in range(draw(st.integers(1, 12))):
        kind, data_type, one_byte = draw(st.sampled_from(KINDS))
        offset += (-offset) % UNIT[kind]
        index = offset * 8 + draw(st.integers(0, 7)) if kind == "X" else offset // UNIT[kind]
        address = f"%{device}{kind}{index}"
        length = draw(st.integers(1, 30)) if data_type is DataType.STRING else None
        explicit = {"byte_order": draw(st.sampled_from(ORDERS))} if draw(st.booleans()) else {}
        tag = TagConfig(name=f"t{i}", address=address, data_type=data_type, length=length, **explicit)
        strategy = values(data_type, length=length or 16, one_byte=one_byte)
        batch.append((tag, draw(strategy), draw(strategy)))
        offset += size_of(parse_xgt_address(address), data_type, length) + draw(st.sampled_from([0, 0, 1, 8, 40]))
    return batch


def _order(tag: TagConfig) -> ByteOrder | None:
    return tag.byte_order if "byte_order" in tag.model_fields_set else None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=tag_batches())
def test_every_type_round_trips_both_ways(sim: XgtSim, driver: Xgt, runner: asyncio.Runner,
                                          batch: list[tuple[TagConfig, object, object]]) -> None:
    tags = [t for t, _, _ in batch]
    for tag, first, _ in batch:
        sim.set_value(tag.address, first, tag.data_type, _order(tag), tag.length)
    got = runner.run(driver.read(tags))
    assert {t.name: got[t.name].value for t in tags} == {t.name: v for t, v, _ in batch}
    for tag, _, second in batch:
        runner.run(driver.write(tag, second))
        assert sim.get_value(tag.address, tag.data_type, _order(tag), tag.length) == second


def test_little_endian_is_the_default_and_an_explicit_order_is_obeyed(sim: XgtSim, driver: Xgt,
                                                                      runner: asyncio.Runner) -> None:
    sim.memory["D"][0:4] = bytes.fromhex("00005040")  # 3.25 as the PLC stores a REAL
    sim.memory["D"][4:8] = bytes.fromhex("40500000")
    tags = [TagConfig(name="native", address="%DD0", data_type="FLOAT32"),
            TagConfig(name="be", address="%DD1", data_type="FLOAT32", byte_order="BIG_ENDIAN")]
    got = runner.run(driver.read(tags))
    assert got["native"].value == 3.25 and got["be"].value == 3.25


def test_contiguous_words_are_read_in_continuous_blocks(sim: XgtSim, driver: Xgt, runner: asyncio.Runner) -> None:
    tags = [TagConfig(name=f"w{i}", address=f"%DW{1000 + i}", data_type="INT16") for i in range(1000)]
    for i in range(1000):
        sim.set_value(f"%DW{1000 + i}", i - 500, DataType.INT16)
    sim.requests = 0
    got = runner.run(driver.read(tags))
    assert [got[f"w{i}"].value for i in range(1000)] == [i - 500 for i in range(1000)]
    assert sim.requests == 2  # 2000 bytes in blocks of at most 1400


def test_scattered_tags_go_sixteen_to_an_individual_read(sim: XgtSim, driver: Xgt, runner: asyncio.Runner) -> None:
    tags = [TagConfig(name=f"w{i}", address=f"%DW{5000 + 100 * i}") for i in range(20)]
    tags += [TagConfig(name=f"x{i}", address=f"%MX{1000 + 200 * i}", data_type="BOOL") for i in range(3)]
    sim.set_value("%DW6900", 19, DataType.UINT16)
    sim.set_value("%MX1400", True, DataType.BOOL)
    sim.set_value("%MX1200", False, DataType.BOOL)
    sim.requests = 0
    got = runner.run(driver.read(tags))
    assert sim.requests == 3  # 16 + 4 words, 3 bits
    assert got["w19"].value == 19 and got["x2"].value is True and got["x1"].value is False


def test_a_nak_names_the_tag_and_the_code_and_spares_the_others(sim: XgtSim, driver: Xgt,
                                                                 runner: asyncio.Runner) -> None:
    sim.set_value("%MW10", 7, DataType.UINT16)
    sim.set_value("%MW2047", 9, DataType.UINT16)
    tags = [TagConfig(name="ok", address="%MW10"), TagConfig(name="far", address="%MW5000"),
            TagConfig(name="edge", address="%MW2047"), TagConfig(name="over", address="%MD1024", data_type="INT32"),
            TagConfig(name="blk", address="%MW2046", data_type="UINT16")]
    got = runner.run(driver.read(tags))
    assert got["ok"].value == 7 and got["edge"].value == 9 and got["blk"].good
    assert got["far"].error == "far at %MW5000: PLC NAK 0x0004 (device range exceeded)"
    assert got["over"].error == "over at %MD1024: PLC NAK 0x0004 (device range exceeded)"


def test_write_nak_raises_device_misconfigured(driver: Xgt, runner: asyncio.Runner) -> None:
    with pytest.raises(DeviceMisconfigured, match=r"far at %MW5000: PLC NAK 0x0004 \(device range exceeded\)"):
        runner.run(driver.write(TagConfig(name="far", address="%MW5000"), 1))
    with pytest.raises(InvalidInput) as e:
        runner.run(driver.write(TagConfig(name="v", address="%MW0", data_type="INT16"), 1 << 20))
    assert e.value.field == "value"


def _req(body: bytes, *, invoke: int = 9, head: bytes | None = None) -> tuple[bytes, bytes]:
    raw = frame(body, invoke, 0xA0)
    return (head or raw[:20]), raw[20:]


def _nak(sim: XgtSim, head: bytes, body: bytes) -> int:
    answer = sim.answer(head, body)[20:]
    cmd, _, _, err, code = struct.unpack("<HHHHH", answer)
    assert cmd == int.from_bytes(body[:2], "little") + 1 and err == 0xFFFF
    return code


def _bad_bcc(head: bytes) -> bytes:
    return head[:19] + bytes([(head[19] + 1) & 0xFF])


NAKS = [  # what is wrong, request (head, body), expected code
    ("17 blocks", _req(read_request("W", ["%MW0"] * 17)), 0x0001),
    ("data type 5", _req(struct.pack("<HHHH", 0x54, 5, 0, 1) + b"\x04\x00%MW0"), 0x0002),
    ("name letter differs from type", _req(read_request("W", ["%MD0"])), 0x0002),
    ("word written with 32 bytes", _req(write_request("W", ["%MW0"], [b"\x01" * 32])), 0x0002),
    ("device Y", _req(read_request("W", ["%YW0"])), 0x0003),
    ("beyond M", _req(read_request("W", ["%MW2048"])), 0x0004),
    ("continuous over 1400", _req(continuous_read_request("%DB0", 1401)), 0x0005),
    ("continuous write beyond D", _req(continuous_write_request("%DB65535", b"\x00\x00")), 0x0004),
    ("company id", _req(read_request("W", ["%MW0"]), head=b"LSIS-XXX\x00\x00" + bytes(10)), 0x0075),
    ("source 0x11", _req(read_request("W", ["%MW0"]), head=frame(b"", 1, 0xA0, source=0x11)[:20]), 0x0075),
    ("checksum", (_bad_bcc(_req(read_request("W", ["%MW0"]))[0]), read_request("W", ["%MW0"])), 0x0077),
    ("command 0x60", _req(struct.pack("<HHHH", 0x60, 2, 0, 1) + b"\x04\x00%MW0"), 0x0078),
]


@pytest.mark.parametrize(("what", "request_", "code"), NAKS, ids=[n[0] for n in NAKS])
def test_simulator_naks(what: str, request_: tuple[bytes, bytes], code: int) -> None:
    assert _nak(XgtSim(), *request_) == code


def test_simulator_answers_the_worked_example_byte_for_byte() -> None:
    request = bytes.fromhex("4C5349532D58475400000000A033010010 00003F".replace(" ", "")) + bytes.fromhex(
        "540002000000010006002544573130 30".replace(" ", ""))
    sim = XgtSim()
    sim.set_value("%DW100", 1234, DataType.INT16)
    answer = sim.answer(request[:20], request[20:])
    assert answer.hex().upper() == ("4C5349532D5847540000" "0101" "A0" "11" "0100" "0E00" "00" "1D"
                                    "5500020000000000010002 00D204".replace(" ", ""))


async def test_stale_answers_are_skipped_by_invoke_id() -> None:
    sim = XgtSim()
    sim.set_value("%MW0", 321, DataType.UINT16)

    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readexactly(20)
        body = await reader.readexactly(int.from_bytes(head[16:18], "little"))
        stale = bytearray(head)
        stale[14:16] = (int.from_bytes(head[14:16], "little") + 500).to_bytes(2, "little")
        stale[19] = sum(stale[:19]) & 0xFF
        writer.write(sim.answer(bytes(stale), body) + sim.answer(head, body))
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(late, "127.0.0.1", 0)
    drv = Xgt(XgtSettings(host="127.0.0.1", port=server.sockets[0].getsockname()[1]))
    await drv.connect()
    assert (await drv.read([TagConfig(name="m", address="%MW0")]))["m"].value == 321
    await drv.close()
    server.close()


async def test_hex_bit_numbering() -> None:
    async with XgtSim(bit_index="hex") as sim:
        drv = Xgt(XgtSettings(host="127.0.0.1", port=sim.port, bit_index="hex"))
        await drv.connect()
        tags = [TagConfig(name="a", address="%MX10A", data_type="BOOL"),
                TagConfig(name="b", address="%MX10.11", data_type="BOOL")]
        await drv.write(tags[0], True)
        assert sim.memory["M"][21] == 0b100  # word 10, bit 10: byte 21, bit 2
        await drv.write(tags[1], True)
        got = await drv.read(tags)
        assert got["a"].value is True and got["b"].value is True and sim.memory["M"][21] == 0b1100
        await drv.close()


async def test_outage_then_reconnect_without_a_new_process() -> None:
    port = free_port()
    sim = XgtSim(port=port)
    await sim.start()
    sim.set_value("%DW0", 42, DataType.INT16)
    tag = TagConfig(name="w", address="%DW0", data_type="INT16")
    drv = Xgt(XgtSettings(host="127.0.0.1", port=port, timeout_s=1.0))
    try:
        await drv.connect()
        assert (await drv.read([tag]))["w"].value == 42
        await sim.stop()
        with pytest.raises(DeviceUnreachable):
            await drv.read([tag])
        with pytest.raises(DeviceUnreachable):
            await drv.connect()
        await sim.start()
        await drv.connect()
        assert (await drv.read([tag]))["w"].value == 42
    finally:
        await drv.close()
        await sim.stop()


async def test_a_silent_device_never_stalls_longer_than_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    drv = Xgt(XgtSettings(host="127.0.0.1", port=server.sockets[0].getsockname()[1], timeout_s=0.5))
    await drv.connect()
    t0 = time.monotonic()
    with pytest.raises(DeviceUnreachable):
        await drv.read([TagConfig(name="w", address="%DW0")])
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(DeviceUnreachable, match="not connected"):
        await drv.read([TagConfig(name="w", address="%DW0")])
    server.close()


async def test_several_connections_at_once() -> None:
    async with XgtSim() as sim:
        sim.set_value("%DW7", 70, DataType.UINT16)
        drivers = [Xgt(XgtSettings(host="127.0.0.1", port=sim.port)) for _ in range(3)]
        for d in drivers:
            await d.connect()
        got = await asyncio.gather(*(d.read([TagConfig(name="w", address="%DW7")]) for d in drivers))
        assert [g["w"].value for g in got] == [70, 70, 70]
        for d in drivers:
            await d.close()


GOOD_TAGS = [("%MW100", "INT16"), ("%DW200", "UINT16"), ("%MX10.3", "BOOL"), ("%MX163", "BOOL"), ("%DB0", "UINT16"),
             ("%DD10", "FLOAT32"), ("%ML2", "FLOAT64"), ("%DW20", "FLOAT32"), ("%DB40", "STRING"), ("%PX1F", "BOOL")]
BAD_TAGS = [  # address, data type, field
    ("MW100", "INT16", "address"), ("%MQ1", "INT16", "address"), ("%MX10.16", "BOOL", "address"),
    ("%MW10", "BOOL", "data_type"), ("%MD10", "INT16", "data_type"), ("%MD10", "FLOAT64", "data_type"),
    ("%MX1", "INT16", "data_type"),
]


@pytest.mark.parametrize(("address", "data_type"), GOOD_TAGS)
def test_validation_accepts(address: str, data_type: str) -> None:
    validate_tag("xgt", TagConfig(name="t", address=address, data_type=data_type))


@pytest.mark.parametrize(("address", "data_type", "field"), BAD_TAGS)
def test_validation_rejects(address: str, data_type: str, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_tag("plc_ethernet", TagConfig(name="t", address=address, data_type=data_type))
    assert e.value.field == field
    assert address in str(e.value) or data_type in str(e.value)


def test_registered_under_both_names_with_settings_and_docstring() -> None:
    assert DRIVERS["xgt"] is Xgt and driver_class("plc_ethernet") is Xgt
    assert all(p.get("description") for p in XgtSettings.model_json_schema()["properties"].values())
    assert Xgt.__doc__ and XgtSettings(host="h").port == 2004
