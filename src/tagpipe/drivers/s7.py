"""Siemens S7 (ISO-on-TCP, port 102) on python-snap7: byte ranges merged per area, packed into multi-item reads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, Field
from snap7 import AsyncClient
from snap7.datatypes import S7Area, S7WordLen
from snap7.error import S7ConnectionError, S7Error, S7ProtocolError, S7TimeoutError
from snap7.s7protocol import get_return_code_description

from tagpipe.codec.s7_address import (
    Area,
    S7Address,
    Width,
    check_fits,
    decode_value,
    encode_byte,
    encode_value,
    parse_s7_address,
    size_of,
)
from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.base import SETTINGS, DriverBase, Reading
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput

log = logging.getLogger(__name__)
logging.getLogger("snap7").setLevel(logging.CRITICAL)

AREA_CODES = {Area.DB: S7Area.DB, Area.MK: S7Area.MK, Area.PE: S7Area.PE, Area.PA: S7Area.PA}
_READ_HEADER = 12 + 2  # response header + function code and item count
_ITEM_HEADER = 4  # return code, transport size, length
_REQUEST_ITEM = 12  # one address specification in a read request
_WRITE_OVERHEAD = 12 + 14 + 4 + 2


class S7Settings(BaseModel):
    model_config = SETTINGS

    host: str = Field(..., description="IP address or host name of the PLC.", examples=["192.168.0.1"])
    port: int = Field(102, ge=1, le=65535, description="TCP port (ISO-on-TCP is 102).")
    rack: int = Field(0, ge=0, le=7, description="Rack of the CPU (0 on S7-1200/1500).")
    slot: int = Field(1, ge=0, le=31, description="Slot of the CPU (1 on S7-1200/1500, 2 on S7-300).")
    local_tsap: int | None = Field(None, ge=0, le=0xFFFF, description="Local TSAP; default 0x0100.",
                                   examples=[0x0100])
    remote_tsap: int | None = Field(None, ge=0, le=0xFFFF,
                                    description="Remote TSAP (e.g. 0x0200 for a LOGO!); overrides rack and slot.",
                                    examples=[0x0102])
    timeout_s: float = Field(2.0, gt=0, le=60, description="Seconds to wait for one answer.")
    max_pdu: int = Field(960, ge=240, le=960,
                         description="PDU size to ask for; the PLC may grant less (S7-1200: 240, S7-1500: 960).")
    max_gap: int = Field(16, ge=0, le=200, description="Unused bytes a merged read may span to save an item.")
    max_items: int = Field(20, ge=1, le=20, description="Items per multi-item read request (S7 CPUs accept 20).")


@dataclass(slots=True)
class Block:
    """One item of a multi-item read: an area, a start, a size and the tags it serves."""

    area: Area
    db: int
    start: int
    size: int
    tags: list[tuple[TagConfig, S7Address]] = field(default_factory=list)


def _size(tag: TagConfig, addr: S7Address) -> int:
    return size_of(addr, tag.data_type, tag.length)


def plan_blocks(tags: Sequence[tuple[TagConfig, S7Address]], *, max_block: int, max_gap: int = 16) -> list[Block]:
    """Merge tags of one area into byte ranges no longer than ``max_block`` (the PDU's payload)."""
    by_area: dict[tuple[Area, int], list[tuple[TagConfig, S7Address]]] = {}
    for tag, addr in tags:
        by_area.setdefault((addr.area, addr.db), []).append((tag, addr))
    blocks: list[Block] = []
    for (area, db), items in by_area.items():
        items.sort(key=lambda ta: ta[1].offset)
        current: Block | None = None
        for tag, addr in items:
            end = addr.offset + _size(tag, addr)
            if current and addr.offset <= current.start + current.size + max_gap and end - current.start <= max_block:
                current.size = max(current.size, end - current.start)
                current.tags.append((tag, addr))
            else:
                current = Block(area, db, addr.offset, end - addr.offset, [(tag, addr)])
                blocks.append(current)
    return blocks


def pack_requests(blocks: Sequence[Block], *, pdu: int, max_items: int = 20) -> list[list[Block]]:
    """Pack blocks into requests whose request and answer both fit the negotiated PDU."""
    requests: list[list[Block]] = []
    for block in sorted(blocks, key=lambda b: -b.size):
        need = _ITEM_HEADER + block.size + (block.size % 2)
        for req in requests:  # first fit, largest first
            used = sum(_ITEM_HEADER + b.size + (b.size % 2) for b in req)
            if (len(req) < max_items and _READ_HEADER + used + need <= pdu
                    and 12 + (len(req) + 1) * _REQUEST_ITEM <= pdu):
                req.append(block)
                break
        else:
            requests.append([block])
    return requests


def parse_items(raw: bytes, count: int) -> list[tuple[int, bytes]]:
    """Split a read answer's data into (return code, bytes) per item."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    for i in range(count):
        if pos + _ITEM_HEADER > len(raw):
            raise S7ProtocolError(f"read answer truncated at item {i}")
        rc, ts, length = raw[pos], raw[pos + 1], int.from_bytes(raw[pos + 2:pos + 4], "big")
        pos += _ITEM_HEADER
        n = (length + 7) // 8 if ts in (0x03, 0x04, 0x05) else length
        if rc != 0xFF:
            out.append((rc, b""))
            continue
        out.append((rc, raw[pos:pos + n]))
        pos += n + (n % 2 if i < count - 1 else 0)
    return out


def _reason(rc: int) -> str:
    return f"PLC return code 0x{rc:02X} ({get_return_code_description(rc).lower()})"


class S7(DriverBase):
    """Siemens S7-300/400/1200/1500 client (PUT/GET, non-optimized DBs) on one ISO-on-TCP connection."""

    settings_model: ClassVar[type[BaseModel]] = S7Settings

    def __init__(self, settings: S7Settings) -> None:
        self.settings = settings
        self.requests = 0
        self._client: AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._plan: tuple[tuple[int, ...], int, list[list[Block]]] | None = None

    @classmethod
    def validate_tag(cls, tag: TagConfig) -> None:
        addr = parse_s7_address(tag.address)
        check_fits(addr, tag.data_type, tag.address)
        if tag.data_type is DataType.STRING and tag.length is not None and not 1 <= tag.length <= 254:
            raise InvalidInput("length", "1..254 characters for an S7 STRING", tag.length)
        if tag.writable and not addr.area.writable:
            raise InvalidInput("writable", "false: inputs (I) are read-only", True)

    @property
    def pdu(self) -> int:
        return self._client.pdu_length if self._client is not None else self.settings.max_pdu

    def _where(self) -> str:
        return f"s7 {self.settings.host}:{self.settings.port}"

    async def connect(self) -> None:
        s = self.settings
        await self.close()
        client = AsyncClient()
        client.pdu_length = s.max_pdu
        if s.local_tsap is not None:
            client.local_tsap = s.local_tsap
        rack, slot = s.rack, s.slot
        if s.remote_tsap is not None:  # the client builds the TSAP as type << 8 | rack << 5 | slot
            client.connection_type = s.remote_tsap >> 8
            rack, slot = (s.remote_tsap >> 5) & 0x07, s.remote_tsap & 0x1F
        try:
            await asyncio.wait_for(client.connect(s.host, rack, slot, s.port), s.timeout_s)
        except (TimeoutError, S7Error, OSError) as e:
            await self._drop(client)
            raise DeviceUnreachable(f"{self._where()}: connection refused or timed out ({e or 'timeout'})") from None
        self._client = client
        log.debug("%s connected, PDU %d", self._where(), client.pdu_length)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._drop(client)

    @staticmethod
    async def _drop(client: AsyncClient) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), 1.0)
        except Exception as e:  # noqa: BLE001 - closing a broken connection may fail in many ways
            log.debug("s7 disconnect: %s", e)

    async def _exchange(self, request: bytes) -> dict[str, Any]:
        """Send one PDU and return its parsed answer; S7ProtocolError means the PLC said no."""
        client = self._client
        if client is None or client.connection is None:
            raise DeviceUnreachable(f"{self._where()}: not connected")
        self.requests += 1
        seq = int.from_bytes(request[4:6], "big")
        try:
            async with self._lock:
                return await asyncio.wait_for(self._roundtrip(client, request, seq), self.settings.timeout_s)
        except S7ProtocolError:
            raise
        except (TimeoutError, S7ConnectionError, S7TimeoutError, OSError, asyncio.IncompleteReadError) as e:
            await self.close()
            raise DeviceUnreachable(f"{self._where()}: {e or 'timed out'}") from None

    @staticmethod
    async def _roundtrip(client: AsyncClient, request: bytes, seq: int) -> dict[str, Any]:
        conn = client.connection
        assert conn is not None
        await conn.send_data(request)
        while True:  # an answer to a request that timed out earlier may still arrive first
            response = client.protocol.parse_response(await conn.receive_data())
            if response.get("sequence") == seq:
                return response

    def _requests(self, tags: Sequence[TagConfig]) -> list[list[Block]]:
        key = tuple(id(t) for t in tags)
        if self._plan is None or self._plan[0] != key or self._plan[1] != self.pdu:
            parsed = [(t, parse_s7_address(t.address)) for t in tags]
            blocks = plan_blocks(parsed, max_block=self.pdu - _READ_HEADER - _ITEM_HEADER,
                                 max_gap=self.settings.max_gap)
            self._plan = (key, self.pdu, pack_requests(blocks, pdu=self.pdu, max_items=self.settings.max_items))
        return self._plan[2]

    async def _read_blocks(self, blocks: list[Block]) -> list[tuple[int, bytes]]:
        assert self._client is not None
        specs = [(AREA_CODES[b.area], b.db, b.start, b.size) for b in blocks]
        response = await self._exchange(self._client.protocol.build_multi_read_request(specs))
        return parse_items(response.get("raw_data", b""), len(blocks))

    async def _read_items(self, request: list[Block]) -> list[tuple[int, bytes]]:
        """(return code, data) per block; a refused request fails each of its blocks with the PLC's message."""
        try:
            return await self._read_blocks(request)
        except S7ProtocolError as e:
            return [(0, str(e).encode())] * len(request)

    async def read(self, tags: Sequence[TagConfig]) -> dict[str, Reading]:
        out: dict[str, Reading] = {}
        retry: list[Block] = []
        for request in self._requests(tags):
            for block, (rc, data) in zip(request, await self._read_items(request), strict=True):
                if rc == 0xFF:
                    self._decode(block, data, out)
                elif len(block.tags) > 1:  # find which tag is wrong instead of failing all of them
                    retry.extend(Block(block.area, block.db, a.offset, _size(t, a), [(t, a)]) for t, a in block.tags)
                else:
                    self._fail(block, rc, data, out)
        for request in pack_requests(retry, pdu=self.pdu, max_items=self.settings.max_items):
            for block, (rc, data) in zip(request, await self._read_items(request), strict=True):
                if rc == 0xFF:
                    self._decode(block, data, out)
                else:
                    self._fail(block, rc, data, out)
        return out

    @staticmethod
    def _decode(block: Block, data: bytes, out: dict[str, Reading]) -> None:
        for tag, addr in block.tags:
            i = addr.offset - block.start
            chunk = data[i:i + _size(tag, addr)]
            try:
                out[tag.name] = Reading(value=decode_value(chunk, addr, tag.data_type, tag.byte_order))
            except Exception as e:  # noqa: BLE001 - a short answer must not hide the other tags
                out[tag.name] = Reading(error=f"{tag.name} at {tag.address}: cannot decode {chunk.hex()}: {e}")

    @staticmethod
    def _fail(block: Block, rc: int, data: bytes, out: dict[str, Reading]) -> None:
        reason = _reason(rc) if rc else data.decode(errors="replace")
        for tag, _ in block.tags:
            out[tag.name] = Reading(error=f"{tag.name} at {tag.address}: {reason}")

    async def write(self, tag: TagConfig, value: Any) -> None:
        addr = parse_s7_address(tag.address)
        if not addr.area.writable:
            raise InvalidInput("address", "a DB, M or Q address to write (inputs are read-only)", tag.address)
        check_fits(addr, tag.data_type, tag.address)
        if self._client is None:
            raise DeviceUnreachable(f"{self._where()}: not connected")
        proto, area = self._client.protocol, AREA_CODES[addr.area]
        if addr.width is Width.BIT:
            bit = encode_byte(value, DataType.BOOL)
            chunks = [(proto.build_write_request(area, addr.db, addr.offset * 8 + (addr.bit or 0), S7WordLen.BIT,
                                                 bytes([bit])))]
        else:
            data = encode_value(value, addr, tag.data_type, tag.byte_order, tag.length)
            step = self.pdu - _WRITE_OVERHEAD
            chunks = [proto.build_write_request(area, addr.db, addr.offset + i, S7WordLen.BYTE, data[i:i + step])
                      for i in range(0, len(data), step)]
        for request in chunks:
            try:
                proto.check_write_response(await self._exchange(request))
            except S7ProtocolError as e:
                raise DeviceMisconfigured(f"{tag.name} at {tag.address}: PLC refused the write: {e}") from None
