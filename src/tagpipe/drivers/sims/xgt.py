"""An LS XGT PLC's FEnet dedicated-protocol server: per-device memory, NAKs like the manual, a request counter.

Run alone: ``python -m tagpipe.drivers.sims.xgt --port 2004`` (binds 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import struct
from typing import Self

from tagpipe.codec.xgt_address import (
    MAX_BYTES,
    TYPE_CODES,
    UNIT,
    BitIndex,
    XgtAddress,
    decode_value,
    encode_value,
    parse_xgt_address,
    size_of,
)
from tagpipe.contracts.config import ByteOrder, DataType
from tagpipe.drivers.xgt import (
    CONTINUOUS,
    CPU_CODES,
    READ,
    SOURCE_CLIENT,
    SOURCE_PLC,
    WRITE,
    bcc,
    frame,
)
from tagpipe.errors import InvalidInput

log = logging.getLogger(__name__)
# XGK device sizes in bytes (M is 2048 words, D 32768 words, ...); names outside them get NAK 0x0004.
DEVICE_SIZES = {"P": 4096, "M": 4096, "K": 4096, "F": 4096, "T": 4096, "C": 4096, "L": 8192, "N": 16384,
                "D": 65536, "R": 65536, "U": 8192, "Z": 256, "I": 4096, "Q": 4096, "W": 65536}
_KIND_OF = {code: kind for kind, code in TYPE_CODES.items()}
_COMPANIES = (b"LSIS-XGT\x00\x00", b"LGIS-GLOFA")


class _Refused(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class XgtSim:
    """``async with XgtSim() as sim:`` serves on ``sim.port``; ``sim.requests`` counts answered frames."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, cpu: str = "XGK", bit_index: BitIndex = "decimal",
                 sizes: dict[str, int] | None = None) -> None:
        self.host, self.port = host, port
        self.cpu = CPU_CODES[cpu]
        self.bit_index = bit_index
        self.requests = 0
        self.memory = {device: bytearray(size) for device, size in (sizes or DEVICE_SIZES).items()}
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Close the listener and every connection, like a PLC that lost power."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readexactly(20)
                body = await reader.readexactly(int.from_bytes(head[16:18], "little"))
                self.requests += 1
                writer.write(self.answer(head, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def answer(self, head: bytes, body: bytes) -> bytes:
        """The frame a PLC sends back for one request frame."""
        invoke = int.from_bytes(head[14:16], "little")
        cmd = int.from_bytes(body[0:2], "little") if len(body) >= 2 else 0
        dtype = int.from_bytes(body[2:4], "little") if len(body) >= 4 else 0
        try:
            reply = self._handle(head, body)
        except _Refused as e:
            reply = struct.pack("<HHHHH", cmd + 1, dtype, 0, 0xFFFF, e.code)
        except (struct.error, IndexError, UnicodeDecodeError):
            reply = struct.pack("<HHHHH", cmd + 1, dtype, 0, 0xFFFF, 0x0076)
        return frame(reply, invoke, self.cpu, source=SOURCE_PLC, plc_info=0x0101)

    def _handle(self, head: bytes, body: bytes) -> bytes:
        if head[:10] not in _COMPANIES or head[13] != SOURCE_CLIENT:
            raise _Refused(0x0075)
        if head[19] != bcc(head[:19]):
            raise _Refused(0x0077)
        cmd, dtype, _reserved, count = struct.unpack_from("<HHHH", body)
        if cmd not in (READ, WRITE):
            raise _Refused(0x0078)
        if dtype != CONTINUOUS and dtype not in _KIND_OF:
            raise _Refused(0x0002)
        if count < 1 or count > 16 or (dtype == CONTINUOUS and count != 1):
            raise _Refused(0x0001)
        pos, names = 8, []
        for _ in range(count):
            (n,) = struct.unpack_from("<H", body, pos)
            names.append(self._address(body[pos + 2:pos + 2 + n].decode("ascii"), "B" if dtype == CONTINUOUS
                                       else _KIND_OF[dtype]))
            pos += 2 + n
        if dtype == CONTINUOUS:
            (size,) = struct.unpack_from("<H", body, pos)
            addr = names[0]
            if size > MAX_BYTES:
                raise _Refused(0x0005)
            memory = self._span(addr, size)
            if cmd == READ:
                return (struct.pack("<HHHHHH", READ + 1, CONTINUOUS, 0, 0, 1, size)
                        + bytes(memory[addr.byte_offset:addr.byte_offset + size]))
            data = body[pos + 2:pos + 2 + size]
            if len(data) != size:
                raise _Refused(0x0002)
            memory[addr.byte_offset:addr.byte_offset + size] = data
            return struct.pack("<HHHHH", WRITE + 1, CONTINUOUS, 0, 0, 1)
        kind = _KIND_OF[dtype]
        if cmd == READ:
            if count * UNIT[kind] > MAX_BYTES:
                raise _Refused(0x0006)
            out = b"".join(struct.pack("<H", UNIT[kind]) + self._get(a) for a in names)
            return struct.pack("<HHHHH", READ + 1, dtype, 0, 0, count) + out
        values = []
        for _ in names:
            (size,) = struct.unpack_from("<H", body, pos)
            if size != UNIT[kind]:  # a data size that does not match the type, as PyXGT sends for words
                raise _Refused(0x0002)
            values.append(body[pos + 2:pos + 2 + size])
            pos += 2 + size
        for addr, data in zip(names, values, strict=True):
            self._put(addr, data)
        return struct.pack("<HHHHH", WRITE + 1, dtype, 0, 0, count)

    def _address(self, name: str, kind: str) -> XgtAddress:
        try:
            addr = parse_xgt_address(name, self.bit_index)
        except InvalidInput:
            raise _Refused(0x0003 if len(name) > 1 and name[1].upper() not in self.memory else 0x0011) from None
        if addr.device not in self.memory:
            raise _Refused(0x0003)
        if addr.kind != kind:
            raise _Refused(0x0002)
        return addr

    def _span(self, addr: XgtAddress, size: int) -> bytearray:
        memory = self.memory[addr.device]
        if addr.byte_offset + size > len(memory):
            raise _Refused(0x0004)
        return memory

    def _get(self, addr: XgtAddress) -> bytes:
        memory = self._span(addr, UNIT[addr.kind])
        if addr.kind == "X":
            return bytes([(memory[addr.byte_offset] >> addr.bit) & 1])
        return bytes(memory[addr.byte_offset:addr.byte_offset + UNIT[addr.kind]])

    def _put(self, addr: XgtAddress, data: bytes) -> None:
        memory = self._span(addr, len(data))
        if addr.kind == "X":
            mask = 1 << addr.bit
            memory[addr.byte_offset] = (memory[addr.byte_offset] | mask) if data[0] & 1 else (
                memory[addr.byte_offset] & ~mask)
        else:
            memory[addr.byte_offset:addr.byte_offset + len(data)] = data

    def set_value(self, address: str, value: object, data_type: DataType = DataType.INT16,
                  byte_order: ByteOrder | None = None, length: int | None = None) -> None:
        """Store a value as the PLC holds it (little-endian unless ``byte_order`` says otherwise)."""
        addr = parse_xgt_address(address, self.bit_index)
        data = encode_value(value, addr, data_type, _order(data_type, byte_order), length)
        self._put(addr, data)

    def get_value(self, address: str, data_type: DataType = DataType.INT16, byte_order: ByteOrder | None = None,
                  length: int | None = None) -> object:
        addr = parse_xgt_address(address, self.bit_index)
        size = size_of(addr, data_type, length)
        memory = self._span(addr, size)
        return decode_value(bytes(memory[addr.byte_offset:addr.byte_offset + size]), addr, data_type,
                            _order(data_type, byte_order))


def _order(data_type: DataType, byte_order: ByteOrder | None) -> ByteOrder:
    if byte_order is not None:
        return byte_order
    return ByteOrder.BIG_ENDIAN if data_type is DataType.STRING else ByteOrder.LITTLE_ENDIAN


async def _main(port: int, bit_index: BitIndex) -> None:
    async with XgtSim(port=port, bit_index=bit_index) as sim:
        print(f"xgt simulator on 127.0.0.1:{sim.port} (XGK, bits {bit_index})", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=2004)
    p.add_argument("--bit-index", choices=["decimal", "hex"], default="decimal")
    a = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(a.port, a.bit_index))
