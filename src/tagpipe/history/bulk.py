"""Bulk writes for backfill (files, calculated tags, copies): numeric series by tag id, without per-message work.

Values of hours that are over go straight into their compressed blocks (merged with what a block holds); values of
the current and the previous hour go into ``samples``, where the merge of ingest's staged values finds them (a value
staged for the same time then stays out). Only values not stored yet count in the rollups, so writing a series twice
changes nothing. One transaction per call.
"""

from __future__ import annotations

import json
import math
import operator
import time
from bisect import bisect_left
from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import in_time_range
from tagpipe.db.upsert import insert_for
from tagpipe.history.compact import add_series, cold_before
from tagpipe.history.merge import merge_rollups
from tagpipe.history.models import GOOD, Rollup1h, Rollup1m, Sample
from tagpipe.history.rollup import HOUR_MS, MINUTE_MS, Agg, aggregate_series
from tagpipe.history.store import upsert_latest


def write_series(engine: Engine, series: Mapping[int, Sequence[tuple[int, float]]], *,
                 now_ms: int | None = None) -> int:
    """Store (ts, value) pairs per tag id (a finite float per pair; ValueError naming the tag otherwise); the number
    of values that were not stored yet. The first value of a timestamp stays, as with ingest."""
    cutoff = cold_before(int(time.time() * 1000) if now_ms is None else now_ms)
    aggs: dict[int, dict[tuple[int, int], Agg]] = {MINUTE_MS: {}, HOUR_MS: {}}
    latest: dict[int, tuple[int, float]] = {}
    stored = 0
    with Session(engine) as session, session.begin():
        dialect = session.get_bind().dialect.name
        for tag_id, points in series.items():
            pairs = _checked(tag_id, points)
            if not pairs:
                continue
            split = bisect_left(pairs, (cutoff, -math.inf))
            cold, hot = pairs[:split], [{"tag_id": tag_id, "ts": ts, "value": v, "quality": GOOD}
                                        for ts, v in pairs[split:]]
            new: list[tuple[int, float]] = []
            if cold:
                late = set(session.execute(text(  # late values waiting in samples for the compactor
                    "SELECT ts FROM samples WHERE tag_id = :tag AND ts >= :first AND ts < :cutoff"),
                    {"tag": tag_id, "first": cold[0][0], "cutoff": cutoff}).scalars())
                if late:
                    cold = [p for p in cold if p[0] not in late]
                new += add_series(session, tag_id, [p[0] for p in cold], [p[1] for p in cold])
            if hot:
                ins = insert_for(dialect, Sample).on_conflict_do_nothing(index_elements=["tag_id", "ts"])
                new += sorted(session.execute(ins.returning(Sample.ts, Sample.value), hot).tuples())
            stored += len(new)
            if new:
                ts, values = [p[0] for p in new], [p[1] for p in new]
                for width, out in aggs.items():
                    out.update(aggregate_series(tag_id, ts, values, width))
            latest[tag_id] = pairs[-1]
        merge_rollups(session, dialect, Rollup1m, aggs[MINUTE_MS])
        merge_rollups(session, dialect, Rollup1h, aggs[HOUR_MS])
        upsert_latest(session, dialect, [{"tag_id": t, "ts": ts, "value_json": json.dumps(v), "quality": GOOD}
                                         for t, (ts, v) in latest.items()])
    return stored


def _checked(tag_id: int, points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """The pairs in time order, one per timestamp (the first), each a finite float at an integer time."""
    ts = [p[0] for p in points]
    values = [p[1] for p in points]
    if ts and set(map(type, ts)) == {int} and set(map(type, values)) <= {float, int} and \
            in_time_range(min(ts)) and in_time_range(max(ts)) and all(map(math.isfinite, values)) and \
            all(map(operator.lt, ts, ts[1:])):  # the usual case, checked in C
        return list(zip(ts, map(float, values), strict=True))
    seen: dict[int, float] = {}
    for t, v in points:
        number = float(v) if type(v) in (int, float) else math.nan
        if type(t) is not int or not in_time_range(t) or not math.isfinite(number):
            raise ValueError(f"tag {tag_id}: expected (time in ms, finite number) pairs, got ({t!r}, {v!r})")
        seen.setdefault(t, number)
    return sorted(seen.items())
