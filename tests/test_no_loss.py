"""Nothing collected is lost or stored twice: the bus dies, the edge restarts, the payloads still land exactly once.

The device is the simulator protocol with a ``count`` tag that grows by one on every read, so the cycles an edge
produced are exactly the values 1..N: every one must be stored, none twice.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.helpers import wait_until

TAGS = [{"name": "cycle", "address": "count", "data_type": "INT64"}]


def stored_cycles(central, tag_id: int) -> list[int]:
    return sorted(int(p["avg"]) for p in central.samples(tag_id))


def buffered_cycles(edge) -> set[int]:  # type: ignore[no-untyped-def]
    return {json.loads(p)["tags"]["cycle"] for p in edge.outbox_rows()}


def _start(central, transport: str):  # type: ignore[no-untyped-def]
    ids = central.plant("simulator", {}, TAGS, interval_ms=200)
    edge = central.edge("edge-1", transport=transport).start()
    tag_id = ids["tags"]["cycle"]
    wait_until(lambda: len(stored_cycles(central, tag_id)) >= 5, timeout=20, what="collection to start")
    return edge, tag_id


@pytest.mark.parametrize(("transport", "sig"), [("nats", signal.SIGKILL), ("mqtt", signal.SIGTERM)])
def test_a_bus_outage_of_twenty_cycles_loses_nothing(central, transport: str, sig: int) -> None:
    edge, tag_id = _start(central, transport)
    central.nats.stop(sig)
    buffered = wait_until(lambda: b if len(b := buffered_cycles(edge)) >= 20 else None, timeout=30,
                          what="20 cycles buffered in the outbox")
    central.nats.start()
    last = max(buffered) + 5
    stored = wait_until(lambda: s if (s := stored_cycles(central, tag_id)) and s[-1] >= last else None, timeout=60,
                        what="the buffered cycles and newer ones stored after the restart")
    assert stored == list(range(1, stored[-1] + 1)), "a cycle was lost or stored twice"


def test_restarting_the_edge_while_it_buffers_loses_nothing(central) -> None:
    edge, tag_id = _start(central, "nats")
    central.nats.stop()
    wait_until(lambda: len(buffered_cycles(edge)) >= 10, timeout=30, what="cycles buffered while the bus is down")
    edge.stop()
    before = max(buffered_cycles(edge))  # the last cycle of the first run
    edge.start()
    wait_until(lambda: len(edge.outbox_rows()) >= before + 5, timeout=30, what="the restarted edge buffering")
    central.nats.start()

    def runs() -> tuple[list[int], list[int]] | None:
        """Stored cycles in time order, split where the restarted edge counted from 1 again."""
        seq = [int(p["avg"]) for p in sorted(central.samples(tag_id), key=lambda p: p["ts"])]
        if seq.count(1) < 2:
            return None
        restart = len(seq) - 1 - seq[::-1].index(1)
        return seq[:restart], seq[restart:]

    # The outbox drains oldest first, so once the restarted run's cycles are stored the first run's are too.
    first, second = wait_until(lambda: r if (r := runs()) and len(r[1]) >= 5 else None, timeout=60,
                               what="cycles of both runs stored")
    assert first == list(range(1, before + 1)), f"the first run lost or doubled a cycle: {first}"
    assert second == list(range(1, len(second) + 1)), f"the second run lost or doubled a cycle: {second}"
