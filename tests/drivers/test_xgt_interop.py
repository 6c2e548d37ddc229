"""Our XGT simulator and driver against the independent pyXGTClient, so neither side can share our misreading."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pyXGTClient.client import XGTClient

from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.sims.xgt import XgtSim
from tagpipe.drivers.xgt import Xgt, XgtSettings


@pytest.fixture
async def sim() -> AsyncIterator[XgtSim]:
    async with XgtSim() as s:
        yield s


async def _client(port: int) -> XGTClient:
    client = XGTClient("127.0.0.1", port, timeout=2.0)
    assert await asyncio.to_thread(client.open)
    return client


async def test_pyxgtclient_reads_what_the_simulator_holds(sim: XgtSim) -> None:
    sim.set_value("%MW100", 1234, DataType.UINT16)
    sim.set_value("%MW101", 4321, DataType.UINT16)
    sim.set_value("%DD10", 0x12345678, DataType.UINT32)
    sim.set_value("%MX163", True, DataType.BOOL)
    client = await _client(sim.port)
    assert await asyncio.to_thread(client.readData, ["%MW100", "%MW101"]) == [1234, 4321]
    assert await asyncio.to_thread(client.readData, ["%DD10"]) == [0x12345678]
    assert await asyncio.to_thread(client.readData, ["%MX163", "%MX162"]) == [1, 0]
    assert await asyncio.to_thread(client.readContinuousData, "%MB200", 4) == [0xD2, 0x04, 0xE1, 0x10]
    client.close()


async def test_our_driver_reads_what_pyxgtclient_wrote(sim: XgtSim) -> None:
    client = await _client(sim.port)
    assert await asyncio.to_thread(client.writeData, ["%DW5", "%DW6"], [65535, 7])
    assert await asyncio.to_thread(client.writeData, ["%MX20"], [1])
    assert await asyncio.to_thread(client.writeContinuousData, "%DB100", [0x00, 0x00, 0x50, 0x40])
    client.close()
    async with Xgt(XgtSettings(host="127.0.0.1", port=sim.port)) as drv:
        got = await drv.read([
            TagConfig(name="a", address="%DW5", data_type="INT16"), TagConfig(name="b", address="%DW6"),
            TagConfig(name="bit", address="%MX1.4", data_type="BOOL"),
            TagConfig(name="real", address="%DW50", data_type="FLOAT32")])
    assert {k: v.value for k, v in got.items()} == {"a": -1, "b": 7, "bit": True, "real": 3.25}


async def test_pyxgtclient_reads_what_our_driver_wrote(sim: XgtSim) -> None:
    async with Xgt(XgtSettings(host="127.0.0.1", port=sim.port)) as drv:
        await drv.write(TagConfig(name="w", address="%MW7", data_type="INT16"), -2)
        await drv.write(TagConfig(name="d", address="%MD2", data_type="UINT32"), 100000)
        await drv.write(TagConfig(name="x", address="%MX3.2", data_type="BOOL"), True)
        await drv.write(TagConfig(name="s", address="%MB40", data_type="STRING", length=4), "LSIS")
    client = await _client(sim.port)
    assert await asyncio.to_thread(client.readData, ["%MW7"]) == [0xFFFE]
    assert await asyncio.to_thread(client.readData, ["%MD2"]) == [100000]
    assert await asyncio.to_thread(client.readData, ["%MX50"]) == [1]
    assert await asyncio.to_thread(client.readContinuousData, "%MB40", 4) == list(b"LSIS")
    client.close()
