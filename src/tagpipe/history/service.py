"""Queries over the time series: latest values and downsampled history (from rollups when the range is long)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from tagpipe.contracts import in_time_range
from tagpipe.contracts.payloads import MAX_MS, MIN_MS
from tagpipe.db import fits
from tagpipe.history.compact import read
from tagpipe.history.models import (
    BAD,
    GOOD,
    SHARDS,
    HotSample,
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


_JSON = json.JSONDecoder(parse_constant=_refuse)  # made once: json.loads with an argument makes one per call
_SCAN = _JSON.scan_once  # type: ignore[attr-defined]  # the C scanner that json.loads calls


def _loads(text: str) -> object:
    """``json.loads(text)`` refusing NaN and Infinity; the C scanner alone when the text is one value and nothing
    else (what the store writes), the full decoder for anything around it (its errors are json.loads's)."""
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:  # not a value at the start (whitespace, a BOM, nothing)
        end = -1
    return value if end == len(text) else _JSON.decode(text)


def decode_latest(tag_id: int, ts: object, value_json: object, quality: object) -> LatestValue:
    """A stored latest value; a row that cannot be shown (time out of range, not JSON, NaN) comes back bad with
    what can be shown, never as an exception."""
    ok_ts = in_time_range(ts)
    try:
        value = _loads(value_json) if isinstance(value_json, str) else None
        ok_value = isinstance(value_json, str)
    except (ValueError, RecursionError):
        value, ok_value = None, False
    good = ok_ts and ok_value and quality != BAD
    return LatestValue(tag_id, ts if ok_ts else None, value, "good" if good else "bad")  # type: ignore[arg-type]


_LATEST = "SELECT tag_id, ts, value_json, quality FROM latest"
_LATEST_OF = {  # the ids as one parameter: a list of 10,000 bound values costs more to build than to run
    "sqlite": text(_LATEST + " WHERE tag_id IN (SELECT value FROM json_each(:ids))"),
    "postgresql": text(_LATEST + " WHERE tag_id = ANY(CAST(:ids AS bigint[]))"),
}


def latest_values(session: Session, tag_ids: Sequence[int] | None = None) -> dict[int, LatestValue]:
    """The latest value of each of ``tag_ids`` that has one (of every tag when None)."""
    if tag_ids is None:
        rows = session.execute(text(_LATEST)).tuples().all()
    else:
        ids = ",".join([str(int(i)) for i in tag_ids if fits(i)])  # a JSON array's or PostgreSQL array's items
        dialect = session.get_bind().dialect.name
        rows = session.execute(_LATEST_OF[dialect], {"ids": f"[{ids}]" if dialect == "sqlite" else f"{{{ids}}}"}
                               ).tuples().all()
    out: dict[int, LatestValue] = {}
    scan, good = _SCAN, GOOD
    for tag_id, ts, value_json, quality in rows:
        if quality == good and type(ts) is int and MIN_MS <= ts <= MAX_MS and type(value_json) is str:
            try:  # the usual row, as decode_latest would read it without the calls
                value, end = scan(value_json, 0)
            except (StopIteration, ValueError, RecursionError):
                end = -1
            if end == len(value_json):
                out[tag_id] = LatestValue(tag_id, ts, value, "good")
                continue
        out[tag_id] = decode_latest(tag_id, ts, value_json, quality)
    return out


def forget_tags(session: Session, tag_ids: Sequence[int]) -> None:
    """Delete the samples, blocks, latest values and rollups of ``tag_ids`` in the caller's transaction (the forget-tags
    port: plant calls it when it deletes tags, so no later tag ever shows their history)."""
    ids = sorted(set(tag_ids))
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        for table in (Sample, HotSample, SampleBlock, Latest, Rollup1m, Rollup1h, TagCompression):
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
    if recent and recent[0][0] <= out[-1][0]:  # late values not compacted yet (a time in both: the block's stays)
        held = {t for c in blocks for t in c.ts}
        return sorted([*out, *(r for r in recent if r[0] not in held)])
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
    bucket_ms = 3_600_000 if source == "rollup_1h" else 60_000
    params |= {"from": start_ms - start_ms % bucket_ms, "shard": tag_id % SHARDS}
    # The rollups, and in the same statement (one snapshot) the values the merge has not added to them yet.
    sql = (f"SELECT 0 AS kind, (bucket - :start) / :w AS b, MIN(bucket) AS ts, MIN(min), MAX(max), SUM(sum), "
           f"SUM(count), 0 AS seq FROM {source} WHERE tag_id = :tag AND bucket >= :from AND bucket < :end GROUP BY b "
           f"UNION ALL SELECT 1, 0, ts, value, NULL, NULL, quality, seq FROM samples_hot AS h WHERE shard = :shard "
           f"AND tag_id = :tag AND ts >= :from AND ts < :end "
           f"AND NOT EXISTS (SELECT 1 FROM samples AS s WHERE s.tag_id = h.tag_id AND s.ts = h.ts) "
           f"ORDER BY kind, b, ts, seq")
    acc: dict[int, list] = {}  # b -> [first bucket, min, max, sum, count]
    hot: dict[int, tuple[float | None, int]] = {}
    for kind, b, ts, mn, mx, total, n, _ in session.execute(text(sql), params):
        if kind:
            hot.setdefault(ts, (mn, n))  # the first to arrive of a time: (value, quality)
        else:
            acc[b] = [ts, mn, mx, total, int(n)]
    for ts, (v, quality) in hot.items():
        if v is None or quality != GOOD:
            continue
        bucket = ts - ts % bucket_ms
        offset = bucket - start_ms
        b = offset // width if offset >= 0 else -(-offset // width)  # as SQL divides: toward zero
        if (a := acc.get(b)) is None:
            acc[b] = [bucket, v, v, v, 1]
        else:
            a[0], a[1], a[2], a[3], a[4] = min(a[0], bucket), min(a[1], v), max(a[2], v), a[3] + v, a[4] + 1
    return source, [Point(max(first, start_ms), mn, mx, total / n, n)
                    for _, (first, mn, mx, total, n) in sorted(acc.items())]
