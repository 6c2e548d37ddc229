"""LS Electric XGT over the FEnet dedicated protocol (TCP 2004): continuous byte reads, 16-name reads, writes.

Frames: a 20-byte header (company id, CPU info, source 0x33, invoke id, length, BCC) and an instruction,
all little-endian. One request is outstanding per connection; answers are matched by invoke id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from tagpipe.codec.xgt_address import (
    MAX_BYTES,
    TYPE_CODES,
    BitIndex,
    XgtAddress,
    check_fits,
    decode_value,
    encode_value,
    is_native,
    parse_xgt_address,
    size_of,
    tag_order,
)
from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.base import SETTINGS, DriverBase, Reading
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput

log = logging.getLogger(__name__)

COMPANY_ID = b"LSIS-XGT\x00\x00"
CPU_CODES = {"XGK": 0xA0, "XGI": 0xA4, "XGR": 0xA8, "XGB": 0xB0, "XGB_IEC": 0xB4}
SOURCE_CLIENT, SOURCE_PLC = 0x33, 0x11
READ, WRITE, CONTINUOUS = 0x0054, 0x0058, 0x0014
MAX_BLOCKS = 16
NAK_CODES = {
    0x0001: "more than 16 blocks", 0x0002: "data type not X/B/W/D/L or size does not match it",
    0x0003: "device not serviced", 0x0004: "device range exceeded", 0x0005: "single block over 1400 bytes",
    0x0006: "total over 1400 bytes", 0x0010: "device type", 0x0011: "address format", 0x0012: "data type",
    0x0075: "bad company id or frame source", 0x0076: "bad header length", 0x0077: "bad header checksum",
    0x0078: "bad command",
}
_HEADER = struct.Struct("<10sHBBHHBB")


def bcc(header19: bytes) -> int:
    """The header checksum: the byte sum of the first 19 header bytes."""
    return sum(header19) & 0xFF


def frame(body: bytes, invoke: int, cpu: int, source: int = SOURCE_CLIENT, plc_info: int = 0) -> bytes:
    """A complete frame: header with checksum, then the instruction."""
    head = _HEADER.pack(COMPANY_ID, plc_info, cpu, source, invoke & 0xFFFF, len(body), 0, 0)[:19]
    return head + bytes([bcc(head)]) + body


def _names(names: Sequence[str]) -> bytes:
    return b"".join(struct.pack("<H", len(n)) + n.encode("ascii") for n in names)


def read_request(kind: str, names: Sequence[str]) -> bytes:
    return struct.pack("<HHHH", READ, TYPE_CODES[kind], 0, len(names)) + _names(names)


def continuous_read_request(name: str, count: int) -> bytes:
    return struct.pack("<HHHH", READ, CONTINUOUS, 0, 1) + _names([name]) + struct.pack("<H", count)


def write_request(kind: str, names: Sequence[str], values: Sequence[bytes]) -> bytes:
    data = b"".join(struct.pack("<H", len(v)) + v for v in values)
    return struct.pack("<HHHH", WRITE, TYPE_CODES[kind], 0, len(names)) + _names(names) + data


def continuous_write_request(name: str, data: bytes) -> bytes:
    return struct.pack("<HHHH", WRITE, CONTINUOUS, 0, 1) + _names([name]) + struct.pack("<H", len(data)) + data


class Nak(Exception):
    """The PLC answered with an error code."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(f"PLC NAK 0x{code:04X} ({NAK_CODES.get(code, 'unknown error')})")


def parse_answer(body: bytes, command: int) -> list[bytes]:
    """The data blocks of an ACK (empty for a write); raises Nak for an error answer."""
    cmd, _dtype, _reserved, err = struct.unpack_from("<HHHH", body)
    if cmd != command + 1:
        raise ValueError(f"answer command 0x{cmd:04X} to request 0x{command:04X}")
    if err != 0:  # older manuals give the code one byte, newer two: the low byte is the code in both
        raise Nak(body[8] if len(body) > 8 else 0)
    (count,) = struct.unpack_from("<H", body, 8)
    if command == WRITE:
        return []
    blocks, pos = [], 10
    for _ in range(count):
        (size,) = struct.unpack_from("<H", body, pos)
        blocks.append(body[pos + 2:pos + 2 + size])
        pos += 2 + size
    return blocks


class XgtSettings(BaseModel):
    model_config = SETTINGS

    host: str = Field(..., description="IP address or host name of the FEnet module (XGL-EFMT, built-in Ethernet).",
                      examples=["192.168.1.20"])
    port: int = Field(2004, ge=1, le=65535, description="TCP port of the dedicated protocol (2004).")
    cpu: Literal["XGK", "XGI", "XGR", "XGB", "XGB_IEC"] = Field(
        "XGK", description="CPU family; sent as the header's CPU info (XGK 0xA0, XGI 0xA4, XGR 0xA8, XGB 0xB0/0xB4).")
    timeout_s: float = Field(2.0, gt=0, le=60, description="Seconds to wait for one answer.")
    bit_index: BitIndex = Field(
        "decimal", description="How %MX names number bits: decimal word x 16 + bit (XGK), or a hex bit digit "
        "after the word (some XGB firmware). %MX10.3 works with both.")
    max_gap: int = Field(16, ge=0, le=200, description="Unused bytes a continuous read may span to merge tags.")
    max_bytes: int = Field(MAX_BYTES, ge=16, le=MAX_BYTES, description="Bytes per continuous read (at most 1400).")


@dataclass(slots=True)
class Chunk:
    """A run of bytes on one device, read with one continuous read, and the tags in it."""

    device: str
    start: int
    size: int
    tags: list[tuple[TagConfig, XgtAddress]] = field(default_factory=list)


@dataclass(slots=True)
class Plan:
    """What one read cycle sends: continuous reads and individual reads grouped by type letter."""

    chunks: list[Chunk]
    singles: list[tuple[str, list[tuple[TagConfig, XgtAddress]]]]

    @property
    def requests(self) -> int:
        return len(self.chunks) + len(self.singles)


def plan_reads(tags: Sequence[tuple[TagConfig, XgtAddress]], *, max_gap: int = 16,
               max_bytes: int = MAX_BYTES) -> Plan:
    """Merge close tags of one device into continuous reads; lone tags go 16 to an individual read."""
    by_device: dict[str, list[tuple[TagConfig, XgtAddress]]] = {}
    for tag, addr in tags:
        by_device.setdefault(addr.device, []).append((tag, addr))
    chunks: list[Chunk] = []
    for device, items in by_device.items():
        items.sort(key=lambda ta: ta[1].byte_offset)
        current: Chunk | None = None
        for tag, addr in items:
            start, end = addr.byte_offset, addr.byte_offset + size_of(addr, tag.data_type, tag.length)
            if current and start <= current.start + current.size + max_gap and end - current.start <= max_bytes:
                current.size = max(current.size, end - current.start)
                current.tags.append((tag, addr))
            else:
                current = Chunk(device, start, end - start, [(tag, addr)])
                chunks.append(current)
    merged = [c for c in chunks if len(c.tags) > 1 or not is_native(c.tags[0][1], c.tags[0][0].data_type)]
    by_kind: dict[str, list[tuple[TagConfig, XgtAddress]]] = {}
    for c in chunks:
        if len(c.tags) == 1 and is_native(c.tags[0][1], c.tags[0][0].data_type):
            by_kind.setdefault(c.tags[0][1].kind, []).append(c.tags[0])
    singles = [(kind, items[i:i + MAX_BLOCKS]) for kind, items in by_kind.items()
               for i in range(0, len(items), MAX_BLOCKS)]
    return Plan(merged, singles)


class Xgt(DriverBase):
    """LS Electric XGK / XGI / XGB client on the FEnet dedicated protocol (TCP 2004), one request at a time."""

    settings_model: ClassVar[type[BaseModel]] = XgtSettings

    def __init__(self, settings: XgtSettings) -> None:
        self.settings = settings
        self.requests = 0
        self._cpu = CPU_CODES[settings.cpu]
        self._invoke = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._plan: tuple[tuple[int, ...], Plan] | None = None

    @classmethod
    def validate_tag(cls, tag: TagConfig) -> None:
        addr = parse_xgt_address(tag.address)
        check_fits(addr, tag.data_type, tag.address)
        if tag.data_type is DataType.STRING and tag.length is not None and not 1 <= tag.length <= MAX_BYTES:
            raise InvalidInput("length", f"1..{MAX_BYTES} bytes for a STRING", tag.length)

    def _where(self) -> str:
        return f"xgt {self.settings.host}:{self.settings.port}"

    def _parse(self, tag: TagConfig) -> XgtAddress:
        return parse_xgt_address(tag.address, self.settings.bit_index)

    async def connect(self) -> None:
        await self.close()
        s = self.settings
        try:
            self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(s.host, s.port), s.timeout_s)
        except (TimeoutError, OSError) as e:
            raise DeviceUnreachable(f"{self._where()}: connection refused or timed out ({e or 'timeout'})") from None

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _exchange(self, body: bytes) -> list[bytes]:
        """Send one instruction, wait for the answer with the same invoke id; raises Nak for an error answer."""
        if self._writer is None or self._reader is None:
            raise DeviceUnreachable(f"{self._where()}: not connected")
        self.requests += 1
        async with self._lock:
            self._invoke = (self._invoke + 1) & 0xFFFF
            try:
                answer = await asyncio.wait_for(self._roundtrip(self._invoke, body), self.settings.timeout_s)
                return parse_answer(answer, int.from_bytes(body[:2], "little"))
            except Nak:
                raise
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, struct.error) as e:
                await self.close()
                raise DeviceUnreachable(f"{self._where()}: {e or 'timed out'}") from None

    async def _roundtrip(self, invoke: int, body: bytes) -> bytes:
        assert self._reader is not None and self._writer is not None
        self._writer.write(frame(body, invoke, self._cpu))
        while True:  # an answer to a request that timed out earlier may still arrive first
            head = await self._reader.readexactly(20)
            company, _info, _cpu, source, got, length, _pos, _bcc = _HEADER.unpack(head)
            answer = await self._reader.readexactly(length)
            if company[:8] not in (b"LSIS-XGT", b"LGIS-GLO") or source != SOURCE_PLC:
                raise ValueError(f"not an XGT answer (company {company!r}, source 0x{source:02X})")
            if got == invoke:
                return answer

    def _plan_for(self, tags: Sequence[TagConfig]) -> Plan:
        key = tuple(id(t) for t in tags)
        if self._plan is None or self._plan[0] != key:
            parsed = [(t, self._parse(t)) for t in tags]
            self._plan = (key, plan_reads(parsed, max_gap=self.settings.max_gap, max_bytes=self.settings.max_bytes))
        return self._plan[1]

    async def read(self, tags: Sequence[TagConfig]) -> dict[str, Reading]:
        plan = self._plan_for(tags)
        out: dict[str, Reading] = {}
        retry: list[tuple[TagConfig, XgtAddress]] = []
        for chunk in plan.chunks:
            try:
                (data,) = await self._exchange(continuous_read_request(f"%{chunk.device}B{chunk.start}", chunk.size))
            except Nak as e:
                if len(chunk.tags) > 1:  # find which tag is wrong instead of failing all of them
                    retry.extend(chunk.tags)
                else:
                    _fail(chunk.tags, e, out)
                continue
            for tag, addr in chunk.tags:
                i = addr.byte_offset - chunk.start
                _decode(tag, addr, data[i:i + size_of(addr, tag.data_type, tag.length)], out)
        for kind, items in plan.singles:
            await self._read_singles(kind, items, out)
        for tag, addr in retry:
            await self._read_one(tag, addr, out)
        return out

    async def _read_singles(self, kind: str, items: list[tuple[TagConfig, XgtAddress]],
                            out: dict[str, Reading]) -> None:
        bi = self.settings.bit_index
        try:
            blocks = await self._exchange(read_request(kind, [a.wire_name(bi) for _, a in items]))
        except Nak as e:
            if len(items) == 1:
                _fail(items, e, out)
            else:
                for tag, addr in items:
                    await self._read_one(tag, addr, out)
            return
        for (tag, addr), data in zip(items, blocks, strict=True):
            _decode(tag, addr, bytes([data[0] << addr.bit]) if kind == "X" and data else data, out)

    async def _read_one(self, tag: TagConfig, addr: XgtAddress, out: dict[str, Reading]) -> None:
        size = size_of(addr, tag.data_type, tag.length)
        try:
            if is_native(addr, tag.data_type):
                (data,) = await self._exchange(read_request(addr.kind, [addr.wire_name(self.settings.bit_index)]))
                if addr.kind == "X":
                    data = bytes([data[0] << addr.bit])
            else:
                (data,) = await self._exchange(continuous_read_request(f"%{addr.device}B{addr.byte_offset}", size))
        except Nak as e:
            _fail([(tag, addr)], e, out)
            return
        _decode(tag, addr, data, out)

    async def write(self, tag: TagConfig, value: Any) -> None:
        addr = self._parse(tag)
        check_fits(addr, tag.data_type, tag.address)
        data = encode_value(value, addr, tag.data_type, tag_order(tag), tag.length)
        if is_native(addr, tag.data_type):
            body = write_request(addr.kind, [addr.wire_name(self.settings.bit_index)], [data])
        else:
            body = continuous_write_request(f"%{addr.device}B{addr.byte_offset}", data)
        try:
            await self._exchange(body)
        except Nak as e:
            raise DeviceMisconfigured(f"{tag.name} at {tag.address}: {e}") from None


def _decode(tag: TagConfig, addr: XgtAddress, data: bytes, out: dict[str, Reading]) -> None:
    try:
        out[tag.name] = Reading(value=decode_value(data, addr, tag.data_type, tag_order(tag)))
    except Exception as e:  # noqa: BLE001 - a short answer must not hide the other tags
        out[tag.name] = Reading(error=f"{tag.name} at {tag.address}: cannot decode {data.hex()}: {e}")


def _fail(items: Sequence[tuple[TagConfig, XgtAddress]], error: Nak, out: dict[str, Reading]) -> None:
    for tag, _ in items:
        out[tag.name] = Reading(error=f"{tag.name} at {tag.address}: {error}")
