"""Bulk writes for backfill (files, calculated tags, copies): numeric series by tag id, without per-message work.

Values of hours that are over go straight into their compressed blocks (merged with what a block holds); values of
the current and the previous hour go into ``samples`` like ingest's, so that ingest's duplicate check finds them. Only
values not stored yet count in the rollups, so writing a series twice changes nothing. One transaction per call.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import in_time_range
from tagpipe.db.upsert import insert_for
from tagpipe.history.compact import add_to_blocks, cold_before
from tagpipe.history.models import GOOD, Rollup1h, Rollup1m, Sample
from tagpipe.history.rollup import HOUR_MS, MINUTE_MS, aggregate
from tagpipe.history.store import merge_rollups, upsert_latest


def write_series(engine: Engine, series: Mapping[int, Sequence[tuple[int, float]]], *,
                 now_ms: int | None = None) -> int:
    """Store (ts, value) pairs per tag id (a finite float per pair; ValueError naming the tag otherwise); the number
    of values that were not stored yet. The first value of a timestamp stays, as with ingest."""
    cutoff = cold_before(int(time.time() * 1000) if now_ms is None else now_ms)
    new: list[tuple[int, int, float]] = []
    latest: dict[int, tuple[int, float]] = {}
    with Session(engine) as session, session.begin():
        dialect = session.get_bind().dialect.name
        for tag_id, points in series.items():
            pairs = _checked(tag_id, points)
            if not pairs:
                continue
            cold = [(ts, v, None, GOOD) for ts, v in pairs if ts < cutoff]
            hot = [{"tag_id": tag_id, "ts": ts, "value": v, "quality": GOOD} for ts, v in pairs if ts >= cutoff]
            if cold:
                late = set(session.execute(text(  # late values waiting in samples for the compactor
                    "SELECT ts FROM samples WHERE tag_id = :tag AND ts >= :first AND ts < :cutoff"),
                    {"tag": tag_id, "first": cold[0][0], "cutoff": cutoff}).scalars())
                added = add_to_blocks(session, tag_id, [r for r in cold if r[0] not in late])
                new.extend((tag_id, ts, v) for ts, v, _, _ in added)  # type: ignore[misc]
            if hot:
                ins = insert_for(dialect, Sample).on_conflict_do_nothing(index_elements=["tag_id", "ts"])
                new.extend(session.execute(ins.returning(Sample.tag_id, Sample.ts, Sample.value), hot).tuples())
            latest[tag_id] = pairs[-1]
        for table, width in ((Rollup1m, MINUTE_MS), (Rollup1h, HOUR_MS)):
            merge_rollups(session, dialect, table, aggregate(new, width))
        upsert_latest(session, dialect, [{"tag_id": t, "ts": ts, "value_json": json.dumps(v), "quality": GOOD}
                                         for t, (ts, v) in latest.items()])
    return len(new)


def _checked(tag_id: int, points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """The pairs in time order, one per timestamp (the first), each a finite float at an integer time."""
    seen: dict[int, float] = {}
    for ts, v in points:
        number = float(v) if type(v) in (int, float) else math.nan
        if type(ts) is not int or not in_time_range(ts) or not math.isfinite(number):
            raise ValueError(f"tag {tag_id}: expected (time in ms, finite number) pairs, got ({ts!r}, {v!r})")
        seen.setdefault(ts, number)
    return sorted(seen.items())
