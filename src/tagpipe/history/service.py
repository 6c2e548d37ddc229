"""Queries over the time series: latest values and downsampled history (from rollups when the range is long)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from tagpipe.contracts import in_time_range
from tagpipe.history.compact import read
from tagpipe.history.models import (
    BAD,
    Latest,
    RetentionPolicy,
    Rollup1h,
    Rollup1m,
    Sample,
    SampleBlock,
    TagCompression,
)
from tagpipe.history.rollup import choose_source
from tagpipe.ports import LatestValue

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Point:
    ts: int
    min: float
    max: float
    avg: float
    count: int


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not a value")


def decode_latest(tag_id: int, ts: object, value_json: object, quality: object) -> LatestValue:
    """A stored latest value; a row that cannot be shown (time out of range, not JSON, NaN) comes back bad with
    what can be shown, never as an exception."""
    ok_ts = in_time_range(ts)
    try:
        value = json.loads(value_json, parse_constant=_refuse) if isinstance(value_json, str) else None  # type: ignore[arg-type]
        ok_value = isinstance(value_json, str)
    except (ValueError, RecursionError):
        value, ok_value = None, False
    good = ok_ts and ok_value and quality != BAD
    return LatestValue(tag_id, ts if ok_ts else None, value, "good" if good else "bad")  # type: ignore[arg-type]


def latest_values(session: Session, tag_ids: Sequence[int] | None = None) -> dict[int, LatestValue]:
    q = select(Latest.tag_id, Latest.ts, Latest.value_json, Latest.quality)
    if tag_ids is not None:
        q = q.where(Latest.tag_id.in_(tag_ids))
    return {tag_id: decode_latest(tag_id, ts, value_json, quality) for tag_id, ts, value_json, quality
            in session.execute(q)}


def forget_tags(session: Session, tag_ids: Sequence[int]) -> None:
    """Delete the samples, blocks, latest values and rollups of ``tag_ids`` in the caller's transaction (the forget-tags
    port: plant calls it when it deletes tags, so no later tag ever shows their history)."""
    ids = sorted(set(tag_ids))
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        for table in (Sample, SampleBlock, Latest, Rollup1m, Rollup1h, TagCompression):
            session.execute(delete(table).where(table.tag_id.in_(chunk)))
        session.execute(delete(RetentionPolicy).where(RetentionPolicy.scope == "tag",
                                                      RetentionPolicy.scope_id.in_(chunk)))


def raw(session: Session, tag_id: int, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
    """Every numeric value of ``tag_id`` in [start, end) as (ts, value), in time order: from the compressed blocks
    and ``samples``, read as one snapshot (a value is in exactly one of them)."""
    blocks, rows = read(session, tag_id, start_ms, end_ms)
    recent = [(ts, v) for ts, v, _, _ in rows if v is not None]
    out: list[tuple[int, float]] = []
    for c in blocks:
        out.extend((t, v) for t, v in zip(c.ts, c.values, strict=True) if v is not None and start_ms <= t < end_ms)
    if not out:
        return recent
    if recent and recent[0][0] < out[-1][0]:  # late values not compacted yet
        return sorted([*out, *recent])
    return out + recent


def buckets(values: Sequence[tuple[int, float]], start_ms: int, width: int) -> list[Point]:
    """min / max / avg / count per bucket of ``width`` ms from ``start`` (values in time order)."""
    out: list[Point] = []
    current, first, mn, mx, total, n = None, 0, 0.0, 0.0, 0.0, 0
    for ts, v in values:
        b = (ts - start_ms) // width
        if b != current:
            if n:
                out.append(Point(first, mn, mx, total / n, n))
            current, first, mn, mx, total, n = b, ts, v, v, 0.0, 0
        mn, mx = min(mn, v), max(mx, v)
        total += v
        n += 1
    if n:
        out.append(Point(first, mn, mx, total / n, n))
    return out


def history(session: Session, tag_id: int, start_ms: int, end_ms: int, points: int = 1000) -> tuple[str, list[Point]]:
    """At most ``points`` buckets over [start, end): min / max / avg / count per bucket, and the source used."""
    points = max(1, min(points, 10_000))
    width = max(1, -(-(end_ms - start_ms) // points))
    source = choose_source(start_ms, end_ms, points)
    params = {"tag": tag_id, "start": start_ms, "end": end_ms, "w": width}
    if source == "samples":
        values = raw(session, tag_id, start_ms, end_ms)
        if len(values) <= points:
            return source, [Point(ts, v, v, v, 1) for ts, v in values]
        return source, buckets(values, start_ms, width)
    params["from"] = start_ms - start_ms % (3_600_000 if source == "rollup_1h" else 60_000)
    sql = (f"SELECT (bucket - :start) / :w AS b, MIN(bucket), MIN(min), MAX(max), SUM(sum) / SUM(count), "
           f"SUM(count) FROM {source} WHERE tag_id = :tag AND bucket >= :from AND bucket < :end "
           f"GROUP BY b ORDER BY b")
    rows = session.execute(text(sql), params).all()
    return source, [Point(max(first, start_ms), mn, mx, avg, int(n)) for _, first, mn, mx, avg, n in rows]
