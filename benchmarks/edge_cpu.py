"""CPU of one edge agent polling 100 Modbus devices x 100 tags at 1 s, pinned to one core.

Starts nats-server, a Modbus simulator process (it answers every unit id) and ``tagpipe edge`` with a cached
config of N devices (one TCP connection each), measures the agent's CPU over a window, and checks in the
JetStream stream that every cycle was published.

    .venv/bin/python benchmarks/edge_cpu.py [--devices 100] [--tags 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import psutil

from tagpipe.bus import EmbeddedNats, ensure_stream
from tagpipe.contracts import EdgeConfig, Subjects

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.helpers import free_port, wait_until  # noqa: E402 - importable only once ROOT is on sys.path


def config(devices: int, tags: int, sim_port: int) -> EdgeConfig:
    return EdgeConfig(edge_id="bench", devices=[{
        "id": str(d + 1), "name": f"plc-{d + 1}", "protocol": "modbus_tcp", "interval_ms": 1000, "equipment_id": 1,
        "connection": {"host": "127.0.0.1", "port": sim_port, "unit_id": d % 247 + 1, "timeout_s": 1.0},
        "tags": [{"name": f"t{i}", "address": f"hr:{i}", "data_type": "UINT16", "scale": 0.1} for i in range(tags)],
    } for d in range(devices)]).with_content_version()


async def stream_count(url: str, subjects: Subjects) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(subjects.stream_name)
        return info.state.messages
    finally:
        await nc.close()


async def make_stream(url: str, subjects: Subjects) -> None:
    nc = await nats.connect(url)
    await ensure_stream(nc.jetstream(), subjects)
    await nc.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=100)
    p.add_argument("--tags", type=int, default=100)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--core", type=int, default=0, help="CPU core the agent is pinned to")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tagpipe-edge-bench-"))
    subjects = Subjects("tagpipe")
    bus = EmbeddedNats(tmp / "nats", port=free_port(), mqtt_port=None).start()
    sim_port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "tagpipe.drivers.sims.modbus_tcp", "--port", str(sim_port),
                            "--profile", "blank"], stdout=subprocess.DEVNULL)
    edge_dir = tmp / "edge"
    edge_dir.mkdir()
    (edge_dir / "config.json").write_text(config(a.devices, a.tags, sim_port).model_dump_json())
    asyncio.run(make_stream(bus.url, subjects))
    edge = subprocess.Popen(["taskset", "-c", str(a.core), sys.executable, "-m", "tagpipe", "edge",
                             "--server", "http://127.0.0.1:9", "--edge-id", "bench", "--nats", bus.url,
                             "--data-dir", str(edge_dir), "--heartbeat", "30", "--config-poll", "3600"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: asyncio.run(stream_count(bus.url, subjects)) >= a.devices * 3, timeout=60,
                   what="every device publishing")
        proc = psutil.Process(edge.pid)
        before_msgs = asyncio.run(stream_count(bus.url, subjects))
        t0, cpu0 = time.monotonic(), proc.cpu_times()
        rss = 0
        while time.monotonic() - t0 < a.seconds:
            rss = max(rss, proc.memory_info().rss)
            time.sleep(1)
        elapsed = time.monotonic() - t0
        cpu1 = proc.cpu_times()
        msgs = asyncio.run(stream_count(bus.url, subjects)) - before_msgs
        cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed * 100
        expected = a.devices * elapsed
        print(json.dumps({
            "devices": a.devices, "tags_per_device": a.tags, "seconds": round(elapsed, 1),
            "agent_cpu_percent_of_one_core": round(cpu, 1), "agent_peak_rss_mb": round(rss / 2**20, 1),
            "payloads_published": msgs, "payloads_expected": round(expected),
            "tag_values_per_s": round(msgs * a.tags / elapsed),
        }, indent=2))
    finally:
        for proc in (edge, sim):
            proc.terminate()
            proc.wait(10)
        bus.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
