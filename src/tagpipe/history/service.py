"""Queries over the time series: latest values and downsampled history (from rollups when the range is long)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tagpipe.history.models import BAD, Latest
from tagpipe.history.rollup import choose_source
from tagpipe.ports import LatestValue


@dataclass(frozen=True, slots=True)
class Point:
    ts: int
    min: float
    max: float
    avg: float
    count: int


def latest_values(session: Session, tag_ids: Sequence[int] | None = None) -> dict[int, LatestValue]:
    q = select(Latest)
    if tag_ids is not None:
        q = q.where(Latest.tag_id.in_(tag_ids))
    return {r.tag_id: LatestValue(r.tag_id, r.ts, json.loads(r.value_json), "bad" if r.quality == BAD else "good")
            for r in session.scalars(q)}


def history(session: Session, tag_id: int, start_ms: int, end_ms: int, points: int = 1000) -> tuple[str, list[Point]]:
    """At most ``points`` buckets over [start, end): min / max / avg / count per bucket, and the source used."""
    points = max(1, min(points, 10_000))
    width = max(1, -(-(end_ms - start_ms) // points))
    source = choose_source(start_ms, end_ms, points)
    params = {"tag": tag_id, "start": start_ms, "end": end_ms, "w": width}
    if source == "samples":
        raw = session.execute(text(
            "SELECT ts, value FROM samples WHERE tag_id = :tag AND ts >= :start AND ts < :end AND value IS NOT NULL "
            "ORDER BY ts LIMIT :limit"), {**params, "limit": points + 1}).all()
        if len(raw) <= points:
            return source, [Point(ts, v, v, v, 1) for ts, v in raw]
        sql = ("SELECT (ts - :start) / :w AS b, MIN(ts), MIN(value), MAX(value), AVG(value), COUNT(*) FROM samples "
               "WHERE tag_id = :tag AND ts >= :start AND ts < :end AND value IS NOT NULL GROUP BY b ORDER BY b")
    else:
        params["from"] = start_ms - start_ms % (3_600_000 if source == "rollup_1h" else 60_000)
        sql = (f"SELECT (bucket - :start) / :w AS b, MIN(bucket), MIN(min), MAX(max), SUM(sum) / SUM(count), "
               f"SUM(count) FROM {source} WHERE tag_id = :tag AND bucket >= :from AND bucket < :end "
               f"GROUP BY b ORDER BY b")
    rows = session.execute(text(sql), params).all()
    return source, [Point(max(first, start_ms), mn, mx, avg, int(n)) for _, first, mn, mx, avg, n in rows]

