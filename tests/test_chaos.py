"""Chaos: kill -9 nats-server, then the worker, then the edge of a running ``tagpipe demo`` under a steady load.

Each comes back by itself, ``/api/health`` answers 503 while it is down and 200 once it is back, and every cycle
the edge read is stored exactly once. The edge reads the network-free simulator's ``count`` signal, which grows by one
on every read, so one run of the edge stores exactly 1..N; the restarted edge counts from 1 again.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import Demo, running_demo
from tests.helpers import wait_until

KILLED = ("nats-server", "worker", "edge:demo-edge")


def _runs(demo: Demo, tag_id: int) -> list[list[int]]:
    """The stored cycles in time order, split where the edge counted from 1 again."""
    start = int(time.time() * 1000) - 3_600_000
    points = demo.get(f"/api/tags/{tag_id}/history", params={"start": str(start), "points": 10_000}).json()["points"]
    runs: list[list[int]] = []
    for p in sorted(points, key=lambda p: p["ts"]):
        if int(p["avg"]) == 1 or not runs:
            runs.append([])
        runs[-1].append(int(p["avg"]))
    return runs


def _stored(demo: Demo, tag_id: int) -> int:
    return sum(len(r) for r in _runs(demo, tag_id))


def _kill_and_heal(demo: Demo, child: str, tag_id: int) -> None:
    before = demo.health().json()["children"][child]
    stored = _stored(demo, tag_id)
    os.kill(before["pid"], signal.SIGKILL)
    with httpx.Client(base_url=demo.url, timeout=5) as c:
        seen = wait_until(lambda: h if (h := c.get("/api/health")).status_code == 503 else None, timeout=10,
                          interval=0.01, what=f"health to answer 503 after killing {child}").json()
    assert seen["status"] == "down" and seen["down"], seen
    healed = wait_until(lambda: h.json() if (h := demo.health()).status_code == 200 else None, timeout=30,
                        what=f"health to answer 200 again after killing {child}")
    after = healed["children"][child]
    assert after["restarts"] == before["restarts"] + 1 and after["pid"] != before["pid"], after
    wait_until(lambda: _stored(demo, tag_id) >= stored + 5, timeout=30, what=f"new cycles stored after {child}")


def test_kill_9_of_nats_worker_and_edge_heals_and_stores_every_cycle_once(tmp_path: Path) -> None:
    with running_demo(tmp_path / "data") as demo:
        eq = demo.post("/api/equipment", {"name": "Counter"}).json()
        conn = demo.post("/api/connections", {"equipment_id": eq["id"], "edge_id": "demo-edge", "name": "Counter",
                                              "protocol": "simulator", "settings": {}, "interval_ms": 200}).json()
        tag = demo.post("/api/tags", {"connection_id": conn["id"], "name": "cycle", "address": "count",
                                      "data_type": "INT64"}).json()
        wait_until(lambda: _stored(demo, tag["id"]) >= 5, timeout=30, what="the edge to store cycles")

        for child in KILLED:
            _kill_and_heal(demo, child, tag["id"])

        # A batch the killed worker had fetched but not acknowledged comes back after the ingest consumer's ack wait
        # (15 s). Complete: every run without a gap or a repeat, and the restarted edge has stored 5 cycles since.
        def complete() -> list[list[int]] | None:
            runs = _runs(demo, tag["id"])
            gapless = all(r == list(range(1, len(r) + 1)) for r in runs)
            return runs if gapless and len(runs) >= 2 and len(runs[-1]) >= 5 else None

        runs = wait_until(complete, timeout=90, interval=0.5, what="every cycle stored exactly once")
        assert len(runs) == 2, f"the edge was restarted once: {[(r[0], r[-1], len(r)) for r in runs]}"
        assert len(runs[1]) >= 5
        # ok again, with nothing degraded (an edge back online, every role reporting)
        health = wait_until(lambda: (h := demo.health().json())["status"] == "ok" and h, timeout=30,
                            what="health ok with every child back")
        assert {name: c["restarts"] for name, c in health["children"].items()} == {
            "nats-server": 1, "worker": 1, "sim:modbus_tcp": 0, "edge:demo-edge": 1}

        # Ctrl-C while a child waits for its restart still stops everything within seconds.
        os.kill(health["children"]["worker"]["pid"], signal.SIGKILL)
        wait_until(lambda: demo.health().json()["children"]["worker"]["state"] == "restarting", timeout=5,
                   interval=0.01, what="the worker's death noticed")
        children = psutil.Process(demo.proc.pid).children(recursive=True)
        assert len(children) >= 4  # nats-server, the simulator, the edge (and its sandbox), not the dead worker
        stopped_at = time.monotonic()
        os.kill(demo.proc.pid, signal.SIGINT)
        demo.proc.wait(15)
        wait_until(lambda: not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE],
                   timeout=10, what="every child to exit")
        assert time.monotonic() - stopped_at < 8
        after_last_death = demo.output().rsplit("worker (pid", 1)[-1]
        assert "restarted worker" not in after_last_death, "the worker was restarted while everything stopped"
