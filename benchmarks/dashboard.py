"""The live dashboard with many browser tabs open: database queries per second and server CPU, per tab count.

Run: ``.venv/bin/python benchmarks/dashboard.py --tags 1000 --tabs 0,1,5,20 --seconds 20``

Starts ``tagpipe up`` on free ports in a scratch directory, publishes ``--tags`` tags once a second over MQTT (as a
third-party collector does: 10 messages of 100 tags), opens the dashboard in N tabs of Debian's chromium (Playwright)
and, once every tab shows every tag, measures over ``--seconds``: the SQL statements the web server process sent
(counted by ``benchmarks/_sqlcount/sitecustomize.py``, which works on any version of tagpipe, so the same script
measures the code before and after a change) and the server process's CPU. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from ingest import RawMqtt, central_processes, collectors, iso, tagpipe_up
from playwright.async_api import async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"]


def collector(port: int, tags: int, password: str, stop: threading.Event) -> None:
    """``tags`` tags once a second, as 100-tag messages of one collector edge (``edge-0``, logged in as itself)."""
    mqtt = RawMqtt(port, "edge-0", "edge-0", password)
    tick = time.time()
    while not stop.is_set():
        now_ms = int(time.time() * 1000)
        for start in range(0, tags, 100):
            body = {"timestamp": iso(now_ms), "equipment_id": 1, "connection_id": start // 100,
                    "tags": {f"t{i:05d}": round((now_ms / 1000 + i) % 100, 2)
                             for i in range(start, min(tags, start + 100))}}
            mqtt.publish(b"tagpipe/devices/edge-0/data", json.dumps(body).encode(), 1)
        mqtt.flush()
        tick += 1.0
        time.sleep(max(0.0, tick - time.time()))


def sql_count(counts: Path, pid: int) -> int:
    try:
        return int((counts / str(pid)).read_text())
    except (OSError, ValueError):
        return 0


async def measure(url: str, tabs: int, seconds: float, tags: int, server: psutil.Process, counts: Path) -> dict:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = []
        for _ in range(tabs):
            page = await browser.new_page()
            await page.goto(url + "/")
            pages.append(page)
        for page in pages:
            await page.wait_for_function(f"document.querySelectorAll('tbody tr').length >= {tags}", timeout=120_000)
        await asyncio.sleep(2)  # let the tabs settle into their steady state before the window opens
        cpu0, q0, t0 = sum(server.cpu_times()[:2]), sql_count(counts, server.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, q1, t1 = sum(server.cpu_times()[:2]), sql_count(counts, server.pid), time.monotonic()
        await browser.close()
    return {"tabs": tabs, "db_queries_per_s": round((q1 - q0) / (t1 - t0), 2),
            "server_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tags", type=int, default=1000)
    ap.add_argument("--tabs", default="0,1,5,20")
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    counts = Path(tempfile.mkdtemp(prefix="tagpipe-sqlcount-"))
    env = {**os.environ, "TAGPIPE_BENCH_SQL_COUNTS": str(counts),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent / "_sqlcount"), os.environ.get("PYTHONPATH", "")])}
    results = []
    with tagpipe_up("tagpipe-dash-", env=env) as central:
        url = f"http://127.0.0.1:{central.http_port}"
        server = central_processes(central.up)["server"]
        stop = threading.Event()
        password = collectors(central.http_port, 1)[0]
        threading.Thread(target=collector, args=(central.mqtt_port, args.tags, password, stop), daemon=True).start()
        deadline = time.monotonic() + 120
        while len(httpx.get(url + "/api/tags", timeout=30).json()) < args.tags:
            if time.monotonic() > deadline:
                raise SystemExit("the collector's tags did not appear within 120 s")
            time.sleep(0.5)
        for tabs in [int(t) for t in args.tabs.split(",")]:
            r = asyncio.run(measure(url, tabs, args.seconds, args.tags, server, counts))
            print(f"{tabs:3d} tabs: {r['db_queries_per_s']:8.2f} queries/s, "
                  f"server CPU {r['server_cpu_percent']:5.1f} %", flush=True)
            results.append(r)
        stop.set()
    shutil.rmtree(counts, ignore_errors=True)
    print(json.dumps({"tags": args.tags, "seconds": args.seconds, "runs": results}))


if __name__ == "__main__":
    main()
