"""Polling is drift-free: ticks stay on start + k * interval, and an overrun skips cycles instead of bunching them."""

from __future__ import annotations

import pytest

from tagpipe.edge.poller import next_tick

CASES = [
    # start, interval, now, expected next tick
    (100.0, 1.0, 99.5, 100.0),
    (100.0, 1.0, 100.0, 101.0),
    (100.0, 1.0, 100.3, 101.0),
    (100.0, 1.0, 103.9, 104.0),
    (100.0, 0.2, 100.45, 100.6),
    (0.0, 5.0, 12.0, 15.0),
]


@pytest.mark.parametrize(("start", "interval", "now", "expected"), CASES)
def test_next_tick(start: float, interval: float, now: float, expected: float) -> None:
    assert next_tick(start, interval, now) == pytest.approx(expected)


def test_a_thousand_cycles_do_not_drift() -> None:
    tick, start = 0.0, 0.0
    for _ in range(1000):
        tick = next_tick(start, 0.1, tick + 0.0137)  # each cycle takes 13.7 ms of work
    assert tick == pytest.approx(100.0)
