"""OPC UA connection faults: a server restarted mid-run, one that never answers, one frozen mid-session."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.base import Reading
from tagpipe.drivers.opcua import OpcUa, OpcUaSettings
from tagpipe.drivers.sims.opcua import OpcUaSim
from tagpipe.errors import DeviceUnreachable
from tests.helpers import free_port, wait_until

TAG = TagConfig(name="count", address="ns=2;s=PLC1.Int32", data_type=DataType.INT32)


async def test_server_restart_is_unreachable_then_recovers_without_a_new_driver() -> None:
    sim = OpcUaSim()
    await sim.start()
    poll = OpcUa(OpcUaSettings(endpoint_url=sim.url, timeout_s=2))
    sub = OpcUa(OpcUaSettings(endpoint_url=sim.url, timeout_s=2, mode="subscribe", publishing_interval_ms=100))
    try:
        await poll.connect()
        await sub.connect()
        assert (await poll.read([TAG]))["count"].good
        await wait_for_good(sub)
        await sim.stop()
        for driver in (poll, sub):
            with pytest.raises(DeviceUnreachable, match=sim.url):
                await driver.read([TAG])
        await sim.start()  # same port, fresh address space
        await sim.set_value(TAG.address, 99, DataType.INT32)
        assert (await poll.read([TAG]))["count"].value == 99
        assert (await wait_for_good(sub)).value == 99
    finally:
        await poll.close()
        await sub.close()
        await sim.stop()


async def wait_for_good(driver: OpcUa, timeout: float = 5.0) -> Reading:
    """Read until the tag is good; unreachable answers are retried, as the edge's back-off would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reading: Reading | Exception = (await driver.read([TAG]))["count"]
        except DeviceUnreachable as e:
            reading = e
        if isinstance(reading, Reading) and reading.good:
            return reading
        assert time.monotonic() < deadline, reading
        await asyncio.sleep(0.02)


async def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    driver = OpcUa(OpcUaSettings(endpoint_url=f"opc.tcp://127.0.0.1:{port}/", timeout_s=0.5))
    try:
        for attempt in (driver.connect, lambda: driver.read([TAG])):
            started = time.monotonic()
            with pytest.raises(DeviceUnreachable, match="timed out"):
                await attempt()
            assert time.monotonic() - started < 1.0
    finally:
        server.close()


@pytest.fixture(scope="module")
def sim_process() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tagpipe.drivers.sims.opcua", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        wait_until(lambda: b"opcua simulator on" in proc.stdout.readline(), 20, what="the simulator to start")
        yield proc, f"opc.tcp://127.0.0.1:{port}/tagpipe/"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


async def test_a_server_frozen_mid_session_never_stalls_a_read(
        sim_process: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, url = sim_process
    driver = OpcUa(OpcUaSettings(endpoint_url=url, timeout_s=1))
    try:
        await wait_for_good(driver)  # a read connects on its own
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            for _ in range(2):
                started = time.monotonic()
                with pytest.raises(DeviceUnreachable):
                    await driver.read([TAG])
                assert time.monotonic() - started < 1.5
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert (await wait_for_good(driver)).good
    finally:
        await driver.close()
