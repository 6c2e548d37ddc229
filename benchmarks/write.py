"""Tag write round trip: POST /api/tags/{id}/write -> server -> edge -> Modbus PLC -> read back -> answer.

Run: ``.venv/bin/python benchmarks/write.py --writes 200``

Starts ``tagpipe up`` on free ports in a scratch directory, a Modbus simulator and a local edge agent polling it,
configures one writable holding register, then writes ``--writes`` values one after another and reports the round
trip's p50 / p90 / p99 as the API client sees it. Works against any version of tagpipe installed beside the Python
that runs it. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from ingest import free_port, pct, tagpipe_up

from tagpipe.edge.credentials import Credentials, save


def wait(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = condition()
        except (httpx.HTTPError, ValueError):  # not up yet, or an older version answering 500
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writes", type=int, default=200)
    args = ap.parse_args()
    bin_dir = Path(sys.executable).parent
    with tagpipe_up("tagpipe-write-") as central:
        url = f"http://127.0.0.1:{central.http_port}"
        api = httpx.Client(base_url=url, timeout=30)
        sim_port = free_port()
        sim = subprocess.Popen([sys.executable, "-m", "tagpipe.drivers.sims.modbus_tcp", "--port", str(sim_port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        up_args = central.up.args
        nats_port = next(int(a) for a, b in zip(up_args[1:], up_args, strict=False) if b == "--nats-port")
        # The edge logs in as itself: added through the API, its credential placed in its data directory.
        token = api.post("/api/fleet/devices", json={"id": "bench-edge", "kind": "agent"}).raise_for_status().json()
        (central.data / "edge").mkdir(parents=True, exist_ok=True)
        save(central.data / "edge", Credentials("bench-edge", token["token"]))
        edge = subprocess.Popen([str(bin_dir / "tagpipe"), "edge", "--server", url, "--edge-id", "bench-edge",
                                 "--nats", f"nats://127.0.0.1:{nats_port}", "--data-dir",
                                 str(central.data / "edge"), "--heartbeat", "2"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            eq = api.post("/api/equipment", json={"name": "Bench"}).json()["id"]
            conn = api.post("/api/connections", json={"equipment_id": eq, "edge_id": "bench-edge", "name": "PLC",
                                                      "protocol": "modbus_tcp", "interval_ms": 1000,
                                                      "settings": {"host": "127.0.0.1", "port": sim_port}}).json()
            tag = api.post("/api/tags", json={"connection_id": conn["id"], "name": "setpoint", "address": "40005",
                                              "writable": True}).json()["id"]
            wait(lambda: any(d["id"] == "bench-edge" and d["status"] == "online"
                             for d in api.get("/api/fleet/devices").json()), 60, "the edge to come online")
            last: list[httpx.Response] = []

            def first_write() -> bool:
                last[:] = [api.post(f"/api/tags/{tag}/write", json={"value": 1})]
                return last[0].status_code == 200

            try:
                wait(first_write, 60, "a first write to succeed")
            except SystemExit:
                why = f"{last[0].status_code} {last[0].text}" if last else "no answer"
                raise SystemExit(f"no first write: {why}") from None
            times = []
            for i in range(args.writes):
                t0 = time.perf_counter()
                r = api.post(f"/api/tags/{tag}/write", json={"value": i % 1000})
                times.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200 or r.json()["value"] != i % 1000:
                    raise SystemExit(f"write {i} failed: {r.status_code} {r.text}")
        finally:
            edge.terminate()
            sim.terminate()
            edge.wait(10)
            sim.wait(10)
    p50, p90, p99 = pct(times, 0.5), pct(times, 0.9), pct(times, 0.99)
    print(f"{args.writes} writes: p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms")
    print(json.dumps({"writes": args.writes, "write_p50_ms": round(p50, 2), "write_p90_ms": round(p90, 2),
                      "write_p99_ms": round(p99, 2)}))


if __name__ == "__main__":
    main()
