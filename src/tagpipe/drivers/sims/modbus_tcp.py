"""A Modbus TCP device on pymodbus's server: four tables, a request counter, fault injection and a demo press.

Run alone: ``python -m tagpipe.drivers.sims.modbus_tcp --port 5020 --profile press``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import time
from typing import Any, Self

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from tagpipe.codec import encode_registers
from tagpipe.codec.modbus_address import Table, parse_modbus_address
from tagpipe.contracts.config import ByteOrder, DataType

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
_FC = {Table.COIL: 1, Table.DISCRETE_INPUT: 2, Table.HOLDING_REGISTER: 3, Table.INPUT_REGISTER: 4}

# The demo press: what `tagpipe demo` configures against this simulator.
PRESS_TAGS = [
    {"name": "temperature", "address": "40001", "data_type": "UINT16", "scale": 0.1, "unit": "°C"},
    {"name": "pressure", "address": "40002", "data_type": "FLOAT32", "unit": "bar"},
    {"name": "motor_running", "address": "00001", "data_type": "BOOL", "unit": ""},
    {"name": "part_counter", "address": "40010", "data_type": "UINT32", "unit": "pcs"},
]


class ModbusSim:
    """``async with ModbusSim() as sim:`` serves on ``sim.port``; ``sim.requests`` counts read and write requests."""

    def __init__(self, *, registers: int = 10000, bits: int = 10000, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.requests = 0
        self.fail_with: ExcCodes | None = None
        words = (bits + 15) // 16
        self._device = SimDevice(
            id=0,
            simdata=(
                [SimData(0, count=words, values=0, datatype=SimType.BITS)],
                [SimData(0, count=words, values=0, datatype=SimType.BITS)],
                [SimData(0, count=registers, values=0, datatype=SimType.REGISTERS)],
                [SimData(0, count=registers, values=0, datatype=SimType.REGISTERS)],
            ),
            action=self._action,
        )
        self._server: ModbusTcpServer | None = None

    async def _action(self, *args: Any) -> ExcCodes | None:
        self.requests += 1
        return self.fail_with

    async def start(self) -> int:
        self._server = ModbusTcpServer(self._device, address=(self.host, self.port))
        await self._server.serve_forever(background=True)
        self.port = self._server.transport.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def set_raw(self, table: Table, offset: int, values: list[int] | list[bool]) -> None:
        assert self._server is not None
        await self._server.async_setValues(0, _FC[table], offset, list(values))

    async def get_raw(self, table: Table, offset: int, count: int = 1) -> list[int] | list[bool]:
        assert self._server is not None
        return await self._server.async_getValues(0, _FC[table], offset, count)

    async def set_value(self, address: str, value: object, data_type: DataType = DataType.UINT16,
                        byte_order: ByteOrder = ByteOrder.BIG_ENDIAN, length: int | None = None) -> None:
        """Store a value the way a PLC would hold it at ``address`` (bits, registers or a bit in a register)."""
        addr = parse_modbus_address(address)
        if addr.table.is_bit:
            await self.set_raw(addr.table, addr.offset, [bool(value)])
        elif addr.bit is not None:
            reg = int((await self.get_raw(addr.table, addr.offset))[0])
            reg = (reg | (1 << addr.bit)) if value else (reg & ~(1 << addr.bit))
            await self.set_raw(addr.table, addr.offset, [reg])
        else:
            await self.set_raw(addr.table, addr.offset, encode_registers(value, data_type, byte_order, length))


async def run_press(sim: ModbusSim, period_s: float = 1.0) -> None:
    """Animate the demo press: temperature and pressure drift, the motor cycles, parts are counted."""
    parts, t0 = 0, time.monotonic()
    while True:
        t = time.monotonic() - t0
        running = int(t // 20) % 4 != 3
        if running:
            parts += 1
        await sim.set_value("40001", round((180 + 15 * math.sin(t / 30) + (t * 7 % 3)) * 10), DataType.UINT16)
        await sim.set_value("40002", round(110 + 8 * math.sin(t / 11) + (t * 13 % 1.5), 3), DataType.FLOAT32)
        await sim.set_value("00001", running)
        await sim.set_value("40010", parts, DataType.UINT32)
        await asyncio.sleep(period_s - (time.monotonic() - t0) % period_s)


async def _main(port: int, profile: str) -> None:
    async with ModbusSim(host="127.0.0.1", port=port) as sim:
        print(f"modbus simulator on 127.0.0.1:{sim.port} ({profile})", flush=True)
        if profile == "press":
            await run_press(sim)
        else:
            await asyncio.Event().wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=5020)
    p.add_argument("--profile", choices=["press", "blank"], default="press")
    a = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(a.port, a.profile))
