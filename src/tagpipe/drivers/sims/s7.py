"""A Siemens S7 CPU on snap7's server: DBs, M, I and Q areas, a request counter and typed ``set_value``.

Run alone: ``python -m tagpipe.drivers.sims.s7 --port 1102`` (binds 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import time
from typing import Any, Self

from snap7.datatypes import S7WordLen
from snap7.server import Server
from snap7.type import SrvArea

from tagpipe.codec.s7_address import (
    Area,
    S7Address,
    Width,
    decode_value,
    encode_value,
    parse_s7_address,
    size_of,
)
from tagpipe.contracts.config import ByteOrder, DataType

logging.getLogger("snap7").setLevel(logging.CRITICAL)
_SRV_AREA = {Area.DB: SrvArea.DB, Area.MK: SrvArea.MK, Area.PE: SrvArea.PE, Area.PA: SrvArea.PA}
_READ, _WRITE = 0x04, 0x05


class _Server(Server):
    """snap7's server plus a request counter and single-bit writes (the library writes the whole byte)."""

    def __init__(self, sim: S7Sim) -> None:
        super().__init__(log=False)
        self._sim = sim
        self._sockets: set[socket.socket] = set()

    def _handle_client(self, client_socket: socket.socket, address: tuple[str, int]) -> None:
        self._sockets.add(client_socket)
        try:
            super()._handle_client(client_socket, address)
        finally:
            self._sockets.discard(client_socket)

    def stop(self) -> int:
        """Stop listening and drop every connection, like a CPU that lost power (snap7 would keep serving them)."""
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return super().stop()

    def _process_request(self, request_data: bytes, client_address: tuple[str, int]) -> bytes | None:
        if len(request_data) > 10 and request_data[1] == 0x01 and request_data[10] in (_READ, _WRITE):
            self._sim.requests += 1
            if self._sim.silent:
                return None
        return super()._process_request(request_data, client_address)

    def _parse_address_specification(self, addr_spec: bytes) -> dict[str, Any]:
        info = super()._parse_address_specification(addr_spec)
        if info and info.get("word_len") == S7WordLen.BIT:
            info["bit"] = int.from_bytes(addr_spec[9:12], "big") % 8
        return info

    def _handle_write_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        spec = (request.get("parameters") or {}).get("address_spec") or {}
        data = (request.get("data") or {}).get("data", b"")
        key = (spec.get("area"), spec.get("db_number"))
        if spec.get("word_len") == S7WordLen.BIT and data and key in self.memory_areas:
            memory, start = self.memory_areas[key], spec["start"]
            if start < len(memory):
                mask = 1 << spec.get("bit", 0)
                byte = (memory[start] | mask) if data[0] & 1 else (memory[start] & ~mask)
                request["data"]["data"] = bytes([byte])
        return super()._handle_write_area(request, client_address)


class S7Sim:
    """``async with S7Sim() as sim:`` serves on ``sim.port``; ``sim.requests`` counts reads and writes.

    ``sim.silent = True`` leaves reads and writes unanswered, like a CPU whose network hangs.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, dbs: dict[int, int] | None = None,
                 m_size: int = 8192, io_size: int = 1024) -> None:
        self.host, self.port = host, port
        self.requests = 0
        self.silent = False
        self.areas: dict[tuple[Area, int], bytearray] = {
            (Area.DB, n): bytearray(size) for n, size in (dbs or {1: 8192, 2: 8192, 3: 8192}).items()}
        self.areas[(Area.MK, 0)] = bytearray(m_size)
        self.areas[(Area.PE, 0)] = bytearray(io_size)
        self.areas[(Area.PA, 0)] = bytearray(io_size)
        self._server: _Server | None = None

    def start(self) -> int:
        server = _Server(self)
        for (area, index), memory in self.areas.items():
            server.register_area(_SRV_AREA[area], index, memory)
        server.start_to(self.host, self.port)
        assert server.server_socket is not None
        self.port = server.server_socket.getsockname()[1]
        self._server = server
        return self.port

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def _memory(self, addr: S7Address) -> bytearray:
        return self.areas[(addr.area, addr.db)]

    def set_value(self, address: str, value: object, data_type: DataType = DataType.INT16,
                  byte_order: ByteOrder = ByteOrder.BIG_ENDIAN, length: int | None = None) -> None:
        """Store a value the way the CPU would hold it at ``address``."""
        addr = parse_s7_address(address)
        memory = self._memory(addr)
        if addr.width is Width.BIT:
            mask = 1 << (addr.bit or 0)
            memory[addr.offset] = (memory[addr.offset] | mask) if value else (memory[addr.offset] & ~mask)
            return
        data = encode_value(value, addr, data_type, byte_order, length)
        memory[addr.offset:addr.offset + len(data)] = data

    def get_value(self, address: str, data_type: DataType = DataType.INT16,
                  byte_order: ByteOrder = ByteOrder.BIG_ENDIAN, length: int | None = None) -> object:
        addr = parse_s7_address(address)
        size = size_of(addr, data_type, length)
        return decode_value(bytes(self._memory(addr)[addr.offset:addr.offset + size]), addr, data_type, byte_order)


def _main(port: int) -> None:
    sim = S7Sim(port=port)
    sim.start()
    print(f"s7 simulator on 127.0.0.1:{sim.port} (DB1-DB3, M, I, Q)", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        sim.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=1102)
    with contextlib.suppress(KeyboardInterrupt):
        _main(p.parse_args().port)
