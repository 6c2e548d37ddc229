"""The batch writer and the merge after it against a temporary SQLite file: samples, rollups and latest values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import DataPayload
from tagpipe.db import make_engine, upgrade
from tagpipe.history.merge import merge_all
from tagpipe.history.store import IngestStore

T0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000  # an hour boundary


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return make_engine(url)


@pytest.fixture(params=["sqlite", "portable"])
def store(engine: Engine, request: pytest.FixtureRequest) -> IngestStore:
    """The SQLite fast path and the portable path PostgreSQL takes (run here on SQLite)."""
    s = IngestStore(engine)
    s.dialect = request.param
    return s


def msg(ts: int, edge: str = "e1", quality: dict | None = None, **tags: object) -> DataPayload:
    return DataPayload(edge_id=edge, connection_id="1", equipment_id="4", ts=ts, tags=tags, quality=quality or {})


def stored(store: IngestStore, batch: list[DataPayload]) -> int:
    """Write a batch and merge it (on the store's path): the number of values that were new."""
    store.write(batch)
    return merge_all(store.engine, dialect=store.dialect)


def rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql)).all()]


def tag_id(engine: Engine, name: str) -> int:
    return rows(engine, f"SELECT id FROM tags WHERE name = '{name}'")[0][0]


def test_the_same_batch_twice_stores_each_sample_once_and_counts_rollups_once(engine: Engine,
                                                                             store: IngestStore) -> None:
    batch = [msg(T0 + i * 1000, temperature=20.0 + i, pressure=i) for i in range(150)]
    assert (stored(store, batch), stored(store, batch)) == (300, 0)
    assert rows(engine, "SELECT COUNT(*) FROM samples") == [(300,)]
    assert rows(engine, "SELECT SUM(count) FROM rollup_1m") == [(300,)]
    assert rows(engine, "SELECT SUM(count) FROM rollup_1h") == [(300,)]


def test_a_batch_overlapping_a_stored_one_adds_only_the_new_samples(engine: Engine, store: IngestStore) -> None:
    stored(store, [msg(T0 + i * 1000, v=float(i)) for i in range(10)])
    duplicate_inside = [msg(T0 + i * 1000, v=float(i)) for i in range(5, 15)] + [msg(T0 + 14_000, v=99.0)]
    assert stored(store, duplicate_inside) == 5
    assert rows(engine, "SELECT COUNT(*), SUM(value) FROM samples") == [(15, float(sum(range(15))))]
    assert rows(engine, 'SELECT "count", "sum", "max", "last" FROM rollup_1m') == [
        (15, float(sum(range(15))), 14.0, 14.0)]


def test_a_redelivered_batch_with_a_new_tag_stores_the_tag_and_its_sample_once(engine: Engine,
                                                                               store: IngestStore) -> None:
    stored(store, [msg(T0, x=1.0)])
    assert stored(store, [msg(T0, x=1.0), msg(T0 + 1000, x=2.0, y=3.0)]) == 2
    assert rows(engine, "SELECT t.name, COUNT(*) FROM samples s JOIN tags t ON t.id = s.tag_id "
                        "GROUP BY t.name ORDER BY t.name") == [("x", 2), ("y", 1)]
    assert rows(engine, "SELECT SUM(count) FROM rollup_1m") == [(3,)]


def test_rollups_equal_a_group_by_over_the_raw_rows(engine: Engine, store: IngestStore) -> None:
    values = [((i * 37) % 101) / 3.0 - 10 for i in range(3 * 3600)]
    for start in range(0, len(values), 777):  # batches that cut minutes and hours anywhere, written out of order
        chunk = list(range(start, min(start + 777, len(values))))
        stored(store, [msg(T0 + i * 1000 + 250, a=values[i], b=-values[i]) for i in reversed(chunk)])
    for table, width in (("rollup_1m", 60_000), ("rollup_1h", 3_600_000)):
        got = rows(engine, f'SELECT tag_id, bucket, "min", "max", round("sum", 6), "count", "last", last_ts '
                           f"FROM {table} ORDER BY tag_id, bucket")
        want = rows(engine, f"SELECT g.tag_id, g.b, g.mn, g.mx, g.sm, g.n, l.value, g.last_ts FROM "
                            f"(SELECT tag_id, ts - ts % {width} AS b, MIN(value) AS mn, MAX(value) AS mx, "
                            f"round(SUM(value), 6) AS sm, COUNT(*) AS n, MAX(ts) AS last_ts FROM samples "
                            f"GROUP BY tag_id, b) g JOIN samples l ON l.tag_id = g.tag_id AND l.ts = g.last_ts "
                            f"ORDER BY g.tag_id, g.b")
        assert got == want and len(got) == (2 * 180 if width == 60_000 else 2 * 3)


def test_bad_and_none_values_are_stored_but_stay_out_of_rollups(engine: Engine, store: IngestStore) -> None:
    stored(store, [msg(T0, t=10.0), msg(T0 + 1000, t=None), msg(T0 + 2000, quality={"t": "bad"}, t=500.0),
                 msg(T0 + 3000, t="OFF"), msg(T0 + 4000, t=float("nan")), msg(T0 + 5000, t=12)])
    assert rows(engine, "SELECT COUNT(*) FROM samples") == [(6,)]
    assert rows(engine, 'SELECT "min", "max", "sum", "count", "last" FROM rollup_1m') == [(10.0, 12.0, 22.0, 2, 12.0)]


def test_latest_keeps_the_newest_value_whatever_order_batches_arrive_in(engine: Engine, store: IngestStore) -> None:
    store.write([msg(T0 + 5000, v=5), msg(T0 + 1000, v=1)])
    store.write([msg(T0 + 3000, v=3)])  # older than what is stored: ignored
    tid = tag_id(engine, "v")
    assert rows(engine, f"SELECT ts, value_json FROM latest WHERE tag_id = {tid}") == [(T0 + 5000, "5")]
    store.write([msg(T0 + 6000, quality={"v": "bad"}, v=0)])  # bad: newer ts and quality, last good value kept
    assert rows(engine, f"SELECT ts, value_json, quality FROM latest WHERE tag_id = {tid}") == [(T0 + 6000, "5", 1)]
    store.write([msg(T0 + 7000, v=True), msg(T0 + 7000, edge="e2", v="text")])
    assert json.loads(rows(engine, f"SELECT value_json FROM latest WHERE tag_id = {tid}")[0][0]) is True


def test_unknown_tags_are_created_once_per_edge_and_reused(engine: Engine, store: IngestStore) -> None:
    store.write([msg(T0, edge="e1", x=1.0), msg(T0, edge="e2", x=2.0)])
    stored(store, [msg(T0 + 1000, edge="e1", x=3.0, y=4.0)])
    assert rows(engine, "SELECT edge_id, name FROM tags ORDER BY edge_id, name") == [
        ("e1", "x"), ("e1", "y"), ("e2", "x")]
    assert rows(engine, "SELECT COUNT(*) FROM samples") == [(4,)]


def test_a_huge_integer_is_kept_as_text_without_failing_the_batch(engine: Engine, store: IngestStore) -> None:
    assert stored(store, [msg(T0, big=10**400, ok=1.5)]) == 2
    assert rows(engine, "SELECT COUNT(*) FROM samples WHERE text IS NOT NULL AND value IS NULL") == [(1,)]


def test_values_waiting_for_the_merge_are_read_once_and_the_first_arrival_wins(engine: Engine,
                                                                              store: IngestStore) -> None:
    """Before the merge, a redelivery is in samples_hot twice (or there and in samples): readers give it once."""
    from tagpipe.history.service import history, raw

    stored(store, [msg(T0, v=1.0)])
    store.write([msg(T0, v=1.0), msg(T0 + 1000, v=2.0)])
    store.write([msg(T0 + 1000, v=20.0), msg(T0 + 2000, v=3.0)])  # another value for T0 + 1 s: the first stays
    tid = tag_id(engine, "v")
    with Session(engine) as s:
        assert raw(s, tid, T0, T0 + 60_000) == [(T0, 1.0), (T0 + 1000, 2.0), (T0 + 2000, 3.0)]
        _, points = history(s, tid, T0 - 3_600_000, T0 + 23 * 3_600_000, points=24)  # from the 1-hour rollups
        assert [(p.count, p.min, p.max) for p in points] == [(3, 1.0, 3.0)]
    assert merge_all(engine, dialect=store.dialect) == 2
    with Session(engine) as s:
        assert raw(s, tid, T0, T0 + 60_000) == [(T0, 1.0), (T0 + 1000, 2.0), (T0 + 2000, 3.0)]
        _, points = history(s, tid, T0 - 3_600_000, T0 + 23 * 3_600_000, points=24)
        assert [(p.count, p.min, p.max) for p in points] == [(3, 1.0, 3.0)]

