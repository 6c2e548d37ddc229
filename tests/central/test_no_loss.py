"""Nothing collected is lost or stored twice: the bus dies, the edge restarts, the payloads still land exactly once."""

from __future__ import annotations

import datetime as dt
import json
import signal

import pytest

from tests.helpers import wait_until

INTERVAL_MS = 200
TAGS = [{"name": "level", "address": "sine:period=30,amplitude=10,center=50", "data_type": "FLOAT64"}]


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def assert_every_cycle_once(central, tag_id: int, required: set[int]) -> None:
    """Stored samples form an unbroken chain of cycles, none twice, and include every ``required`` timestamp."""
    stamps = [p["ts"] for p in central.samples(tag_id)]
    assert len(stamps) == len(set(stamps)), "a cycle was stored twice"
    assert required <= set(stamps), f"{len(required - set(stamps))} buffered cycles were lost"
    cycles = [round((ts - stamps[0]) / INTERVAL_MS) for ts in stamps]
    missing = sorted(set(range(cycles[0], cycles[-1] + 1)) - set(cycles))
    assert not missing, f"cycles missing from the stored series: {missing[:10]}"


def _start(central, transport: str):  # type: ignore[no-untyped-def]
    ids = central.plant("simulator", {}, TAGS, interval_ms=INTERVAL_MS)
    edge = central.edge("edge-1", transport=transport).start()
    tag_id = ids["tags"]["level"]
    wait_until(lambda: len(central.samples(tag_id)) >= 5, timeout=20, what="collection to start")
    return edge, tag_id


@pytest.mark.parametrize(("transport", "sig"), [("nats", signal.SIGKILL), ("mqtt", signal.SIGTERM)])
def test_a_bus_outage_of_twenty_cycles_loses_nothing(central, transport: str, sig: int) -> None:
    edge, tag_id = _start(central, transport)
    central.nats.stop(sig)
    buffered = wait_until(lambda: edge.outbox_rows() if len(edge.outbox_rows()) >= 20 else None, timeout=30,
                          what="20 cycles buffered in the outbox")
    required = {_ms(json.loads(p)["timestamp"]) for p in buffered}
    central.nats.start()
    wait_until(lambda: required <= {p["ts"] for p in central.samples(tag_id)}, timeout=60,
               what="the buffered cycles stored after the restart")
    assert_every_cycle_once(central, tag_id, required)


def test_restarting_the_edge_while_it_buffers_loses_nothing(central) -> None:
    edge, tag_id = _start(central, "nats")
    central.nats.stop()
    wait_until(lambda: len(edge.outbox_rows()) >= 10, timeout=30, what="cycles buffered while the bus is down")
    edge.stop()
    buffered = edge.outbox_rows()
    required = {_ms(json.loads(p)["timestamp"]) for p in buffered}
    assert len(required) >= 10
    edge.start()
    wait_until(lambda: len(edge.outbox_rows()) >= len(buffered) + 5, timeout=30, what="the restarted edge buffering")
    central.nats.start()
    wait_until(lambda: required <= {p["ts"] for p in central.samples(tag_id)}, timeout=60,
               what="cycles buffered before the edge restart stored")
    wait_until(lambda: not edge.outbox_rows(), timeout=30, what="the outbox drained")
    stamps = sorted(p["ts"] for p in central.samples(tag_id))
    assert len(stamps) == len(set(stamps))
    before_restart = [ts for ts in stamps if ts <= max(required)]
    cycles = [round((ts - before_restart[0]) / INTERVAL_MS) for ts in before_restart]
    assert set(range(cycles[0], cycles[-1] + 1)) == set(cycles), "a cycle before the edge restart was lost"
