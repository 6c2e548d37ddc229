"""Staged values, samples and compressed blocks together: any interleaving of batches, redeliveries, late values,
merges and compaction passes shows exactly what a reference model holds, each value once, with rollups that count it
once when merged."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import DataPayload
from tagpipe.db import make_engine, upgrade
from tagpipe.history.bulk import write_series
from tagpipe.history.compact import BLOCK_MS, Compactor, read
from tagpipe.history.merge import merge_all, merge_shards
from tagpipe.history.service import forget_tags, history, raw
from tagpipe.history.store import IngestStore

T0 = 1_700_000_000_000 - 1_700_000_000_000 % BLOCK_MS  # an hour boundary, long ago
HOURS = 4


def msg(ts: int, **tags: object) -> DataPayload:
    return DataPayload(edge_id="e1", connection_id="1", equipment_id="4", ts=ts, tags=tags, quality={})


def stored(engine: Engine) -> dict[tuple[int, int], object]:
    """Every stored (tag id, ts) -> value or text as a reader sees it, from staged values, samples and blocks;
    fails on a value both in samples and in a block."""
    out: dict[tuple[int, int], object] = {}
    with Session(engine) as s:
        for (tag_id,) in s.execute(text("SELECT id FROM tags")):
            blocks, rows = read(s, tag_id, T0 - BLOCK_MS, T0 + 10 * BLOCK_MS)
            for c in blocks:
                for ts, v, t in zip(c.ts, c.values, c.texts, strict=True):
                    out[(tag_id, ts)] = v if t is None else t
            for ts, v, t, _ in rows:
                assert (tag_id, ts) not in out, "a value both in samples and in a block"
                out[(tag_id, ts)] = v if t is None else t
    return out


def check(engine: Engine, model: dict[tuple[str, int], object], *, merged: bool) -> None:
    with engine.connect() as c:
        ids = dict(c.execute(text("SELECT name, id FROM tags")).tuples().all())
        counts = dict(c.execute(text("SELECT tag_id, SUM(count) FROM rollup_1m GROUP BY tag_id")).tuples().all())
    assert stored(engine) == {(ids[name], ts): v for (name, ts), v in model.items()}
    if not merged:  # the rollups count values once merged
        return
    numbers = {}
    for (name, _), v in model.items():
        numbers[ids[name]] = numbers.get(ids[name], 0) + isinstance(v, float)
    assert {t: n for t, n in counts.items() if n} == {t: n for t, n in numbers.items() if n}


ops = st.lists(st.one_of(
    st.tuples(st.just("write"), st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, HOURS * 3600 - 1),
                                                   st.one_of(st.floats(-100, 100).map(lambda f: round(f, 1)),
                                                             st.sampled_from(["on", "off"]))),
                                         min_size=1, max_size=12)),
    st.tuples(st.just("again"), st.integers(0, 50)),
    st.tuples(st.just("compact"), st.integers(1, HOURS + 1)),
    st.tuples(st.just("merge"), st.integers(0, 255)),
), max_size=25)


@settings(max_examples=60, deadline=None)
@given(ops, st.sampled_from(["sqlite", "portable"]))
def test_any_interleaving_stores_what_the_model_holds(tmp_path_factory: pytest.TempPathFactory, steps: list,
                                                       path: str) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('compact') / 'h.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = IngestStore(engine)
    store.dialect = path
    compactor = Compactor(engine, tags=1)  # one tag per step: passes cut between tags
    model: dict[tuple[str, int], object] = {}
    written: list[list[DataPayload]] = []
    for op, arg in steps:
        if op == "write":
            arg = list({(name, s): (name, s, v) for name, s, v in reversed(arg)}.values())  # one value per key
            batch = [msg(T0 + s * 1000, **{name: v}) for name, s, v in arg]
            written.append(batch)
            for name, s, v in arg:
                model.setdefault((name, T0 + s * 1000), v)  # the first value of a (tag, time) stays
            store.write(batch)
        elif op == "again" and written:
            store.write(written[arg % len(written)])  # a redelivery
        elif op == "compact":
            compactor.run(now_ms=T0 + arg * BLOCK_MS + BLOCK_MS)  # hours before T0 + arg hours are cold
        elif op == "merge":  # the shards up to arg: some tags merged, others not yet
            merge_shards(engine, 0, arg, dialect=path)
    check(engine, model, merged=False)
    merge_all(engine, dialect=path)
    check(engine, model, merged=True)
    compactor.run(now_ms=T0 + 10 * BLOCK_MS)
    check(engine, model, merged=True)
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM samples")).scalar() == 0
        assert c.execute(text("SELECT COUNT(*) FROM samples_hot")).scalar() == 0
    engine.dispose()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    return make_engine(url)


def test_trends_read_blocks_and_samples_alike(engine: Engine) -> None:
    rnd = random.Random(3)
    store = IngestStore(engine)
    values = [round(20 + rnd.random(), 1) for _ in range(3 * 3600)]
    for i in range(0, len(values), 600):
        store.write([msg(T0 + (i + j) * 1000, t=v) for j, v in enumerate(values[i:i + 600])])
    merge_all(engine)
    with Session(engine) as s:
        before = (raw(s, 1, T0, T0 + 3 * BLOCK_MS), history(s, 1, T0, T0 + 3 * BLOCK_MS, 500),
                  history(s, 1, T0 + 1234, T0 + 5678, 1000))
    assert Compactor(engine).run(now_ms=T0 + 3 * BLOCK_MS) == 2 * 3600  # the last hour is kept hot
    with Session(engine) as s:
        after = (raw(s, 1, T0, T0 + 3 * BLOCK_MS), history(s, 1, T0, T0 + 3 * BLOCK_MS, 500),
                 history(s, 1, T0 + 1234, T0 + 5678, 1000))
        assert len(read(s, 1, T0, T0 + 3 * BLOCK_MS, samples=False)[0]) == 2
    assert after == before
    assert [v for _, v in after[0]] == values
    with Session(engine) as s, s.begin():
        forget_tags(s, [1])
    assert stored(engine) == {}


def test_a_late_value_lands_in_its_block_and_a_redelivered_one_is_not_counted_twice(engine: Engine) -> None:
    store = IngestStore(engine)
    store.write([msg(T0 + i * 1000, t=float(i)) for i in range(0, 3600, 2)])
    merge_all(engine)
    Compactor(engine).run(now_ms=T0 + 3 * BLOCK_MS)
    store.write([msg(T0 + 2000, t=2.0), msg(T0 + 3000, t=3.0)])
    assert merge_all(engine) == 1  # 2 s is in the block already
    with engine.connect() as c:
        assert c.execute(text("SELECT SUM(count) FROM rollup_1h")).scalar() == 1801
    Compactor(engine).run(now_ms=T0 + 3 * BLOCK_MS)
    with Session(engine) as s:
        assert raw(s, 1, T0, T0 + 5000) == [(T0, 0.0), (T0 + 2000, 2.0), (T0 + 3000, 3.0), (T0 + 4000, 4.0)]
        assert s.execute(text("SELECT count FROM sample_blocks")).scalar() == 1801


def test_a_damaged_block_keeps_its_tags_samples_and_the_others_go_on(engine: Engine,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    store = IngestStore(engine)
    store.write([msg(T0 + i * 1000, a=1.5, b=2.5) for i in range(10)])
    merge_all(engine)
    Compactor(engine).run(now_ms=T0 + 3 * BLOCK_MS)
    with engine.begin() as c:
        c.execute(text("UPDATE sample_blocks SET data = x'0102' WHERE tag_id = 1"))
    store.write([msg(T0 + 20_000, a=1.5, b=2.5)])
    merge_all(engine)
    Compactor(engine).run(now_ms=T0 + 3 * BLOCK_MS)
    with engine.connect() as c:
        assert c.execute(text("SELECT tag_id, COUNT(*) FROM samples GROUP BY tag_id")).all() == [(1, 1)]
        assert c.execute(text("SELECT count FROM sample_blocks WHERE tag_id = 2")).scalar() == 11
    assert "tag 1: a block of its samples cannot be read" in caplog.text
    with Session(engine) as s:  # what is left is shown; the trend does not fail
        assert raw(s, 1, T0, T0 + BLOCK_MS) == [(T0 + 20_000, 1.5)]


def test_bulk_writes_go_to_blocks_and_samples_once_whatever_is_there_already(engine: Engine) -> None:
    now = T0 + 5 * BLOCK_MS + 1000  # hours 0-3 are cold, 4 and 5 hot
    series = [(T0 + i * 1000, round(20 + i % 7 * 0.1, 1)) for i in range(0, 6 * 3600, 3)]
    IngestStore(engine).write([msg(T0 + 3, t=99.0)])  # tag 1, a value waiting in samples for the compactor
    merge_all(engine)
    assert write_series(engine, {1: series}, now_ms=now) == len(series)
    assert write_series(engine, {1: series[::-1]}, now_ms=now) == 0  # twice, in any order: nothing new
    with Session(engine) as s:
        assert raw(s, 1, T0, T0 + 6 * BLOCK_MS) == sorted([(T0 + 3, 99.0), *series])
        assert s.execute(text("SELECT COUNT(*), SUM(count) FROM sample_blocks")).one() == (4, 4 * 1200)
        assert s.execute(text("SELECT SUM(count) FROM rollup_1h")).scalar() == len(series) + 1
    with pytest.raises(ValueError, match="tag 1: expected"):
        write_series(engine, {1: [(T0, float("nan"))]})
