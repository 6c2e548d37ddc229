"""Tag values per second per driver: 1,000 tags read in cycles over one connection, each simulator in its own process.

Run: ``.venv/bin/python benchmarks/drivers.py [--seconds 3] [--only modbus_tcp,s7,xgt,opcua]``.
OPC UA is included when ``tagpipe.drivers.opcua`` and its simulator exist.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tagpipe.contracts.config import TagConfig
from tagpipe.drivers import make_driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def simulator(module: str, *args: str) -> Iterator[int]:
    """Start ``python -m <module> --port N`` in its own process and wait until it accepts connections."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{module} did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def modbus_tags() -> list[TagConfig]:
    return [TagConfig(name=f"r{i}", address=f"hr:{i}", data_type="UINT16") for i in range(1000)]


def s7_tags() -> list[TagConfig]:
    return ([TagConfig(name=f"w{i}", address=f"DB1.DBW{2 * i}", data_type="INT16") for i in range(400)]
            + [TagConfig(name=f"f{i}", address=f"DB2.DBD{4 * i}", data_type="FLOAT32") for i in range(400)]
            + [TagConfig(name=f"b{i}", address=f"M{i // 8}.{i % 8}", data_type="BOOL") for i in range(200)])


def xgt_tags() -> list[TagConfig]:
    return ([TagConfig(name=f"w{i}", address=f"%DW{i}", data_type="INT16") for i in range(400)]
            + [TagConfig(name=f"f{i}", address=f"%DD{1000 + i}", data_type="FLOAT32") for i in range(400)]
            + [TagConfig(name=f"b{i}", address=f"%MX{i}", data_type="BOOL") for i in range(200)])


def opcua_tags() -> list[TagConfig]:
    return [TagConfig(name=f"v{i}", address=f"ns=2;s=V{i}", data_type="FLOAT64") for i in range(1000)]


@dataclass
class Case:
    protocol: str
    module: str
    args: tuple[str, ...]
    connection: Callable[[int], dict[str, Any]]
    tags: Callable[[], list[TagConfig]]
    layout: str


CASES = [
    Case("modbus_tcp", "tagpipe.drivers.sims.modbus_tcp", ("--profile", "blank"),
         lambda p: {"host": "127.0.0.1", "port": p}, modbus_tags, "1000 UINT16 holding registers"),
    Case("s7", "tagpipe.drivers.sims.s7", (), lambda p: {"host": "127.0.0.1", "port": p}, s7_tags,
         "400 INT16 DB1 + 400 REAL DB2 + 200 M bits"),
    Case("xgt", "tagpipe.drivers.sims.xgt", (), lambda p: {"host": "127.0.0.1", "port": p}, xgt_tags,
         "400 %DW + 400 REAL %DD + 200 %MX bits"),
    Case("opcua", "tagpipe.drivers.sims.opcua", ("--bulk", "1000"),
         lambda p: {"endpoint_url": f"opc.tcp://127.0.0.1:{p}/tagpipe/"}, opcua_tags, "1000 Double variables"),
]


async def measure(case: Case, port: int, seconds: float) -> tuple[float, float, int]:
    """Cycles of all tags for ``seconds``: returns values/s, requests per cycle and the bad readings seen."""
    tags = case.tags()
    driver = make_driver(case.protocol, case.connection(port))
    await driver.connect()
    try:
        await driver.read(tags)  # warm up: connection, plan
        start_requests, cycles, bad = driver.requests, 0, 0
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            got = await driver.read(tags)
            bad += sum(not r.good for r in got.values())
            cycles += 1
        return cycles * len(tags) / elapsed, (driver.requests - start_requests) / cycles, bad
    finally:
        await driver.close()


async def s7_client_choice(port: int, seconds: float = 1.5) -> tuple[float, float]:
    """snap7 AsyncClient vs the sync Client in a worker thread: 200-byte db_read requests per second."""
    from snap7 import AsyncClient, Client

    ac = AsyncClient()
    await ac.connect("127.0.0.1", 0, 1, port)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        await ac.db_read(1, 0, 200)
        n += 1
    async_rate = n / (time.perf_counter() - t0)
    await ac.disconnect()
    sc = Client()
    sc.connect("127.0.0.1", 0, 1, port)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        await asyncio.to_thread(sc.db_read, 1, 0, 200)
        n += 1
    thread_rate = n / (time.perf_counter() - t0)
    sc.disconnect()
    return async_rate, thread_rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--only", default="")
    a = p.parse_args()
    wanted = set(filter(None, a.only.split(",")))
    print(f"{'driver':<11} {'tags':>5} {'values/s':>10} {'req/cycle':>9} {'bad':>4}  layout")
    for case in CASES:
        if wanted and case.protocol not in wanted:
            continue
        if importlib.util.find_spec(case.module) is None or importlib.util.find_spec(
                f"tagpipe.drivers.{case.protocol}") is None:
            print(f"{case.protocol:<11} skipped: driver or simulator not present")
            continue
        with simulator(case.module, *case.args) as port:
            rate, per_cycle, bad = asyncio.run(measure(case, port, a.seconds))
            print(f"{case.protocol:<11} {len(case.tags()):>5} {rate:>10,.0f} {per_cycle:>9.1f} {bad:>4}  {case.layout}",
                  flush=True)
            if case.protocol == "s7":
                async_rate, thread_rate = asyncio.run(s7_client_choice(port))
                print(f"{'':<11} snap7 200-byte reads: AsyncClient {async_rate:,.0f} req/s, "
                      f"sync Client in a thread {thread_rate:,.0f} req/s", flush=True)


if __name__ == "__main__":
    main()
