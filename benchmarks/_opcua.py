"""OPC UA polling throughput: values per second for batch reads of many tags, the simulator in its own process.

Run: ``.venv/bin/python benchmarks/_opcua.py --tags 1000 --seconds 5``. Prints figures; never part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.opcua import OpcUa, OpcUaSettings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_sim(n_tags: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tagpipe.drivers.sims.opcua", "--port", str(port),
                             "--bulk", str(n_tags)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the simulator prints its url once it listens
    if b"opcua simulator on" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc, f"opc.tcp://127.0.0.1:{port}/tagpipe/"


async def _poll(url: str, tags: list[TagConfig], seconds: float, max_nodes: int = 0) -> dict[str, float]:
    async with OpcUa(OpcUaSettings(endpoint_url=url, timeout_s=10, max_nodes_per_read=max_nodes)) as driver:
        readings = await driver.read(tags)  # builds the cached request
        bad = [r.error for r in readings.values() if not r.good]
        if bad:
            raise RuntimeError(f"{len(bad)} tags failed, e.g. {bad[0]}")
        requests, cycles, started = driver.requests, 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            await driver.read(tags)
            cycles += 1
        return {"values_per_s": round(cycles * len(tags) / elapsed), "cycles_per_s": round(cycles / elapsed, 1),
                "ms_per_cycle": round(1000 * elapsed / cycles, 1),
                "requests_per_cycle": round((driver.requests - requests) / cycles, 2)}


async def bench_opcua(n_tags: int = 1000, seconds: float = 5.0, batch_sizes: tuple[int, ...] = ()) -> dict[str, Any]:
    """Poll ``n_tags`` Float64 tags in batch reads for ``seconds``; optionally also split into ``batch_sizes``."""
    proc, url = await asyncio.to_thread(_start_sim, n_tags)
    try:
        tags = [TagConfig(name=f"v{i}", address=f"ns=2;s=V{i}", data_type=DataType.FLOAT64) for i in range(n_tags)]
        result: dict[str, Any] = {"n_tags": n_tags, **await _poll(url, tags, seconds)}
        for size in batch_sizes:
            result[f"split_{size}"] = await _poll(url, tags, seconds, max_nodes=size)
        return result
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tags", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--batch-sizes", default="100,250,500", help="also poll split into requests of these sizes")
    a = p.parse_args()
    sizes = tuple(int(x) for x in a.batch_sizes.split(",") if x)
    print(json.dumps(asyncio.run(bench_opcua(a.tags, a.seconds, sizes)), indent=2))
