"""Downsampled history: a week read from rollups matches the raw rows it summarises."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import DataPayload
from tagpipe.db import make_engine, upgrade
from tagpipe.history.merge import merge_all
from tagpipe.history.service import history
from tagpipe.history.store import IngestStore

HOUR, DAY = 3_600_000, 86_400_000
START = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
END = START + 7 * DAY
STEP = 10_000  # one sample every 10 s: 60,480 in the week


def _data(ts: int, tags: dict, quality: dict | None = None) -> DataPayload:
    return DataPayload(edge_id="e1", connection_id="1", equipment_id="4", ts=ts, tags=tags, quality=quality or {})


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, int]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('trend')) / 'trend.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = IngestStore(engine)
    stamps = list(range(START, END, STEP))
    for i in range(0, len(stamps), 10_000):
        store.write([_data(ts, {"t": ((ts // STEP) * 7919 % 1000) / 10.0}) for ts in stamps[i:i + 10_000]])
    store.write([_data(START + 5, {"t": None}), _data(START + 6, {"t": 1e6}, quality={"t": "bad"})])
    merge_all(engine)
    with Session(engine) as s:
        return engine, s.execute(text("SELECT id FROM tags WHERE name = 't'")).scalar_one()


def raw_buckets(engine: Engine, tag: int, width: int) -> list[tuple]:
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT MIN(value), MAX(value), AVG(value), COUNT(*) FROM samples WHERE tag_id = :t AND quality = 0 "
            "AND value IS NOT NULL AND ts >= :s AND ts < :e GROUP BY (ts - :s) / :w ORDER BY (ts - :s) / :w"),
            {"t": tag, "s": START, "e": END, "w": width}).all()]


def test_a_week_comes_from_rollups_in_at_most_the_asked_points(week: tuple[Engine, int]) -> None:
    engine, tag = week
    with Session(engine) as s:
        source, points = history(s, tag, START, END, 1000)
    assert source == "rollup_1m" and 0 < len(points) <= 1000
    assert sum(p.count for p in points) == 7 * DAY // STEP
    raw = raw_buckets(engine, tag, END - START)[0]
    assert min(p.min for p in points) == raw[0] and max(p.max for p in points) == raw[1]
    assert sum(p.avg * p.count for p in points) / sum(p.count for p in points) == pytest.approx(raw[2])


def test_each_point_matches_min_max_avg_of_its_raw_rows(week: tuple[Engine, int]) -> None:
    engine, tag = week
    with Session(engine) as s:
        _, points = history(s, tag, START, END, 840)  # 12-minute buckets: whole 1-minute rollups each
    raw = raw_buckets(engine, tag, 12 * 60_000)
    assert len(points) == len(raw) == 840
    for p, (mn, mx, avg, n) in zip(points, raw, strict=True):
        assert (p.min, p.max, p.count) == (mn, mx, n) and p.avg == pytest.approx(avg)


def test_bad_and_missing_values_never_reach_the_trend(week: tuple[Engine, int]) -> None:
    engine, tag = week
    with Session(engine) as s:
        _, points = history(s, tag, START, END, 1000)
    assert max(p.max for p in points) < 1e6


def test_a_short_range_reads_raw_rows(week: tuple[Engine, int]) -> None:
    engine, tag = week
    with Session(engine) as s:
        source, points = history(s, tag, START + HOUR, START + 2 * HOUR, 1000)
    assert source == "samples" and len(points) == HOUR // STEP
    assert [p.ts for p in points] == list(range(START + HOUR, START + 2 * HOUR, STEP))
