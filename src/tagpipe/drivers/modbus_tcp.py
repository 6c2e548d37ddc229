"""Modbus TCP on pymodbus: FC1-4 reads merged into as few requests as the protocol allows, FC5/6/15/16 writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, Field
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from tagpipe.codec import decode_registers, encode_registers, register_count
from tagpipe.codec.modbus_address import ModbusAddress, Table, parse_modbus_address
from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.base import SETTINGS, DriverBase, Reading
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput

log = logging.getLogger(__name__)
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "server device failure", 6: "server device busy", 10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


MAX_READ_REGISTERS = 125  # the protocol's limit for one read


class ModbusTcpSettings(BaseModel):
    model_config = SETTINGS

    host: str = Field(..., description="IP address or host name of the PLC.", examples=["192.168.1.10"])
    port: int = Field(502, ge=1, le=65535, description="TCP port.")
    unit_id: int = Field(1, ge=0, le=255, description="Modbus unit (slave) id.")
    timeout_s: float = Field(2.0, gt=0, le=60, description="Seconds to wait for one answer.")
    max_gap: int = Field(0, ge=0, le=100, description="Unused registers a merged read may span to save a request.")
    max_registers: int = Field(125, ge=1, le=125, description="Registers per read request (the protocol allows 125).")
    max_bits: int = Field(2000, ge=1, le=2000,
                          description="Coils or inputs per read request (the protocol allows 2000).")


@dataclass(slots=True)
class Block:
    """One read request: a table, a start, a count and the tags it serves."""

    table: Table
    start: int
    count: int
    tags: list[tuple[TagConfig, ModbusAddress]] = field(default_factory=list)


def _width(tag: TagConfig, addr: ModbusAddress) -> int:
    if addr.table.is_bit or addr.bit is not None:
        return 1
    return register_count(tag.data_type, tag.length)


def plan_reads(tags: Sequence[TagConfig], *, max_gap: int = 0, max_registers: int = 125,
               max_bits: int = 2000) -> list[Block]:
    """Merge tags into read requests: contiguous (or within ``max_gap``) and within the protocol limits."""
    by_table: dict[Table, list[tuple[TagConfig, ModbusAddress]]] = {}
    for tag in tags:
        addr = parse_modbus_address(tag.address)
        by_table.setdefault(addr.table, []).append((tag, addr))
    blocks: list[Block] = []
    for table, items in by_table.items():
        limit = max_bits if table.is_bit else max_registers
        items.sort(key=lambda ta: ta[1].offset)
        current: Block | None = None
        for tag, addr in items:
            end = addr.offset + _width(tag, addr)
            if current and addr.offset <= current.start + current.count + max_gap and end - current.start <= limit:
                current.count = max(current.count, end - current.start)
                current.tags.append((tag, addr))
            else:
                current = Block(table, addr.offset, end - addr.offset, [(tag, addr)])
                blocks.append(current)
    return blocks


class ModbusTcp(DriverBase):
    """Modbus TCP client for one device (unit id) on one connection."""

    settings_model: ClassVar[type[BaseModel]] = ModbusTcpSettings

    def __init__(self, settings: ModbusTcpSettings) -> None:
        self.settings = settings
        self.requests = 0
        self._client: AsyncModbusTcpClient | None = None
        self._plan: tuple[tuple[int, ...], list[Block]] | None = None

    @classmethod
    def validate_tag(cls, tag: TagConfig) -> None:
        addr = parse_modbus_address(tag.address)
        if (addr.table.is_bit or addr.bit is not None) and tag.data_type is not DataType.BOOL:
            raise InvalidInput("data_type", f"BOOL for a coil, discrete input or bit address ({tag.address})",
                               tag.data_type.value)
        if addr.offset + _width(tag, addr) > 65536:
            raise InvalidInput("address", "a value that ends at or below address 65535", tag.address)
        if not addr.table.is_bit and _width(tag, addr) > MAX_READ_REGISTERS:
            raise InvalidInput("length", f"at most {2 * MAX_READ_REGISTERS} bytes (one read returns at most "
                                         f"{MAX_READ_REGISTERS} registers)", tag.length)
        if tag.writable and not addr.table.writable:
            raise InvalidInput("writable", "false: input registers and discrete inputs are read-only", True)

    async def connect(self) -> None:
        s = self.settings
        self._client = AsyncModbusTcpClient(s.host, port=s.port, timeout=s.timeout_s, retries=0, reconnect_delay=0)
        try:
            ok = await asyncio.wait_for(self._client.connect(), s.timeout_s + 0.5)
        except (TimeoutError, OSError, ModbusException) as e:
            ok = False
            log.debug("modbus connect %s:%s failed: %s", s.host, s.port, e)
        if not ok:
            self._client.close()
            self._client = None
            raise DeviceUnreachable(f"modbus {s.host}:{s.port}: connection refused or timed out")

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _blocks(self, tags: Sequence[TagConfig]) -> list[Block]:
        key = tuple(id(t) for t in tags)
        if self._plan is None or self._plan[0] != key:
            s = self.settings
            self._plan = (key, plan_reads(tags, max_gap=s.max_gap, max_registers=s.max_registers, max_bits=s.max_bits))
        return self._plan[1]

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._client is None or not self._client.connected:
            raise DeviceUnreachable(f"modbus {self.settings.host}:{self.settings.port}: not connected")
        self.requests += 1
        try:
            return await asyncio.wait_for(fn(*args, device_id=self.settings.unit_id, **kwargs),
                                          self.settings.timeout_s + 0.5)
        except (TimeoutError, OSError, ModbusException) as e:
            raise DeviceUnreachable(f"modbus {self.settings.host}:{self.settings.port}: {e or 'timed out'}") from None

    async def read(self, tags: Sequence[TagConfig]) -> dict[str, Reading]:
        out: dict[str, Reading] = {}
        for block in self._blocks(tags):
            fn = {Table.COIL: "read_coils", Table.DISCRETE_INPUT: "read_discrete_inputs",
                  Table.HOLDING_REGISTER: "read_holding_registers", Table.INPUT_REGISTER: "read_input_registers"}
            rr = await self._call(getattr(self._client, fn[block.table]), block.start, count=block.count)
            if rr.isError():
                code = getattr(rr, "exception_code", 0)
                reason = f"PLC exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})"
                for tag, _ in block.tags:
                    out[tag.name] = Reading(error=f"{tag.name} at {tag.address}: {reason}")
                continue
            data = rr.bits if block.table.is_bit else rr.registers
            for tag, addr in block.tags:
                i = addr.offset - block.start
                if block.table.is_bit:
                    out[tag.name] = Reading(value=bool(data[i]))
                elif addr.bit is not None:
                    out[tag.name] = Reading(value=bool((data[i] >> addr.bit) & 1))
                else:
                    regs = data[i:i + register_count(tag.data_type, tag.length)]
                    out[tag.name] = Reading(value=decode_registers(regs, tag.data_type, tag.byte_order))
        return out

    async def write(self, tag: TagConfig, value: Any) -> None:
        addr = parse_modbus_address(tag.address)
        if not addr.table.writable:
            raise InvalidInput("address", "a coil or holding register to write", tag.address)
        c = self._client
        if addr.table is Table.COIL:
            rr = await self._call(c.write_coil, addr.offset, bool(encode_registers(value, DataType.BOOL)[0]))
        elif addr.bit is not None:
            on = bool(encode_registers(value, DataType.BOOL)[0])
            current = await self._call(c.read_holding_registers, addr.offset, count=1)
            self._raise_if_error(current, tag)
            reg = current.registers[0]
            reg = (reg | (1 << addr.bit)) if on else (reg & ~(1 << addr.bit))
            rr = await self._call(c.write_register, addr.offset, reg)
        else:
            regs = encode_registers(value, tag.data_type, tag.byte_order, tag.length)
            if len(regs) == 1:
                rr = await self._call(c.write_register, addr.offset, regs[0])
            else:
                rr = await self._call(c.write_registers, addr.offset, regs)
        self._raise_if_error(rr, tag)

    @staticmethod
    def _raise_if_error(rr: Any, tag: TagConfig) -> None:
        if rr.isError():
            code = getattr(rr, "exception_code", 0)
            raise DeviceMisconfigured(
                f"{tag.name} at {tag.address}: PLC exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})")
