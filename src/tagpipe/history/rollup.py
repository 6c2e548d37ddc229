"""Pure rollup arithmetic: which buckets a sample falls into and how partial aggregates merge."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


@dataclass(slots=True)
class Agg:
    min: float
    max: float
    sum: float
    count: int
    last: float
    last_ts: int

    def add(self, ts: int, value: float) -> None:
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.sum += value
        self.count += 1
        if ts >= self.last_ts:
            self.last, self.last_ts = value, ts


def aggregate(samples: Iterable[tuple[int, int, float]], width_ms: int) -> dict[tuple[int, int], Agg]:
    """(tag id, ts, value) samples to partial aggregates per (tag id, bucket start)."""
    out: dict[tuple[int, int], Agg] = {}
    for tag_id, ts, value in samples:
        key = (tag_id, ts - ts % width_ms)
        agg = out.get(key)
        if agg is None:
            out[key] = Agg(value, value, value, 1, value, ts)
        else:
            agg.add(ts, value)
    return out


def choose_source(start_ms: int, end_ms: int, points: int) -> str:
    """Raw rows for short ranges, 1-minute rollups when a bucket spans minutes, 1-hour when it spans hours."""
    bucket = max(1, (end_ms - start_ms) // max(1, points))
    if bucket >= HOUR_MS:
        return "rollup_1h"
    if bucket >= MINUTE_MS:
        return "rollup_1m"
    return "samples"


def aggregate_series(tag_id: int, ts: list[int], values: list[float], width_ms: int) -> dict[tuple[int, int], Agg]:
    """``aggregate`` of one tag's values in time order, a slice per bucket (min, max and sum run in C)."""
    out: dict[tuple[int, int], Agg] = {}
    i, n = 0, len(ts)
    while i < n:
        bucket = ts[i] - ts[i] % width_ms
        j = bisect_left(ts, bucket + width_ms, i)
        part = values[i:j]
        out[(tag_id, bucket)] = Agg(min(part), max(part), sum(part), j - i, part[-1], ts[j - 1])
        i = j
    return out
