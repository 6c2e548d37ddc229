"""Retention: random policies and data at random ages keep everything inside each horizon and nothing wholly past it,
the most specific policy wins, forever keeps all, and ingest goes on while a pass runs; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import DataPayload
from tagpipe.db import make_engine, upgrade
from tagpipe.db.blocks import decode
from tagpipe.errors import NotFound
from tagpipe.history import disk, retention
from tagpipe.history.bulk import write_series
from tagpipe.history.compact import Compactor
from tagpipe.history.merge import Merger
from tagpipe.history.policy import DEFAULT, Policies, Policy, months_before
from tagpipe.history.retention import Retention, clear_policy, effective, set_policy
from tagpipe.history.store import IngestStore
from tagpipe.history.worker import _background
from tagpipe.plant.models import Connection, Equipment, Tag, TagSource

DAY_S, HOUR_MS, MINUTE_MS = 86_400, 3_600_000, 60_000
NOW = 1_780_000_123_456  # 2026-05-28, not on an hour
# tag id -> equipment id: tag 4 is a collector tag of no equipment, tag 5 one sent as connection 1's (so equipment 1's)
EQUIPMENT = {1: 1, 2: 1, 3: 2, 4: None, 5: 1}


def add_plant(engine: Engine) -> None:
    """Equipment 1 with tags 1 and 2, equipment 2 with tag 3, collector tag 4 of no equipment, and collector tag 5
    sent on the wire as connection 1's."""
    with Session(engine) as s, s.begin():
        for eq in (1, 2):
            s.add(Equipment(id=eq, name=f"Press {eq}"))
            s.add(Connection(id=eq, equipment_id=eq, edge_id="e1", name="plc", protocol="modbus_tcp", settings={}))
        s.flush()
        s.add_all([Tag(id=1, connection_id=1, name="a"), Tag(id=2, connection_id=1, name="b"),
                   Tag(id=3, connection_id=2, name="c"),
                   Tag(id=4, name="d", source=TagSource.COLLECTOR, key="collector/e9/x/d", edge_id="e9",
                       source_connection="x"),
                   Tag(id=5, name="e", source=TagSource.COLLECTOR, key="collector/e1/1/e", edge_id="e1",
                       source_connection="1")])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("retention") / "template.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    add_plant(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(template: Path, tmp_path: Path) -> Iterator[Engine]:
    shutil.copy(template, tmp_path / "h.db")
    e = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    yield e
    e.dispose()


def raw_values(engine: Engine) -> set[tuple[int, int]]:
    """Every stored raw (tag id, ts), from samples and blocks."""
    with Session(engine) as s:
        out = set(s.execute(text("SELECT tag_id, ts FROM samples")).tuples())
        for tag_id, data in s.execute(text("SELECT tag_id, data FROM sample_blocks")):
            out.update((tag_id, ts) for ts in decode(data).ts)
    return out


def rollups(engine: Engine, table: str) -> dict[tuple[int, int], int]:
    with engine.connect() as c:
        return {(t, b): n for t, b, n in c.execute(text(f"SELECT tag_id, bucket, count FROM {table}"))}


def store(engine: Engine, ages_s: dict[int, list[int]], late_s: dict[int, list[int]] | None = None) -> None:
    """Values at these ages (seconds before NOW), per tag: through bulk writes (blocks for hours that are over,
    samples for the last two), and ``late_s`` straight into samples, as late values waiting for the compactor."""
    series = {t: [(NOW - a * 1000, float(a % 97)) for a in sorted(set(ages), reverse=True)]
              for t, ages in ages_s.items() if ages}
    write_series(engine, series, now_ms=NOW)
    late = [{"tag_id": t, "ts": NOW - a * 1000 + 1, "value": 1.0} for t, ages in (late_s or {}).items()
            for a in set(ages)]
    if late:
        with engine.begin() as c:
            c.execute(text("INSERT INTO samples (tag_id, ts, value, quality) VALUES (:tag_id, :ts, :value, 0)"), late)


def expected_policy(policies: Policies, tag_id: int) -> Policy:
    if tag_id in policies.tags:
        return policies.tags[tag_id]
    eq = EQUIPMENT[tag_id]
    if eq is not None and eq in policies.equipment:
        return policies.equipment[eq]
    return policies.default


def check(engine: Engine, policies: Policies, raw_before: set[tuple[int, int]],
          minutes_before: dict[tuple[int, int], int], hours_before: dict[tuple[int, int], int]) -> None:
    """Inside a horizon everything is there; a raw hour or a 1-minute bucket wholly past it is gone."""
    raw_after, minutes_after = raw_values(engine), rollups(engine, "rollup_1m")
    for tag_id, ts in raw_before:
        days = expected_policy(policies, tag_id).raw_days
        hour_end = ts - ts % HOUR_MS + HOUR_MS
        keep = days is None or hour_end > NOW - days * DAY_S * 1000
        assert ((tag_id, ts) in raw_after) == keep, (tag_id, ts, days, "kept" if keep else "deleted")
    assert raw_after <= raw_before
    for (tag_id, bucket), count in minutes_before.items():
        months = expected_policy(policies, tag_id).rollup_1m_months
        keep = months is None or bucket + MINUTE_MS > months_before(NOW, months)
        assert minutes_after.get((tag_id, bucket)) == (count if keep else None), (tag_id, bucket, months)
    assert set(minutes_after) <= set(minutes_before)
    assert rollups(engine, "rollup_1h") == hours_before, "1-hour rollups are kept forever"


def save(engine: Engine, policies: Policies) -> None:
    with Session(engine) as s:
        set_policy(s, "default", 0, policies.default)
        for eq, p in policies.equipment.items():
            set_policy(s, "equipment", eq, p)
        for tag_id, p in policies.tags.items():
            set_policy(s, "tag", tag_id, p)


# Policies and ages drawn near each other, so that values fall in the hour and the minute a horizon cuts.
DAYS, MONTHS = [1, 30, 365], [1, 12, 24]
days = st.one_of(st.none(), st.just(0), st.sampled_from(DAYS), st.integers(1, 900))
months = st.one_of(st.none(), st.just(0), st.sampled_from(MONTHS), st.integers(1, 36))
policy = st.builds(Policy.of, days, months)
policies = st.builds(lambda d, e, t: Policies(default=d, equipment=e, tags=t), policy,
                     st.dictionaries(st.sampled_from([1, 2]), policy), st.dictionaries(st.sampled_from([1, 2, 3, 4, 5]),
                                                                                       policy))
near = st.integers(-2 * 3600, 2 * 3600)
age = st.one_of(st.integers(0, 1100 * DAY_S), st.integers(0, 3 * 3600),  # up to 3 years, or the last hours
                st.builds(lambda d, e: max(0, d * DAY_S + e), st.sampled_from(DAYS), near),
                st.builds(lambda m, e: max(0, (NOW - months_before(NOW, m)) // 1000 + e), st.sampled_from(MONTHS),
                          near))
data = st.dictionaries(st.sampled_from([1, 2, 3, 4, 5]), st.lists(age, max_size=25), min_size=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policies, data, st.dictionaries(st.sampled_from([1, 3]), st.lists(age, max_size=4)),
       st.integers(1, 3), st.integers(1, 40))
def test_passes_keep_everything_inside_each_horizon_and_nothing_wholly_past_it(
        template: Path, tmp_path_factory: pytest.TempPathFactory, chosen: Policies, ages: dict[int, list[int]],
        late: dict[int, list[int]], tags: int, rows: int) -> None:
    path = tmp_path_factory.mktemp("example") / "h.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    store(engine, ages, late)
    save(engine, chosen)
    before = raw_values(engine), rollups(engine, "rollup_1m"), rollups(engine, "rollup_1h")
    sweeper = Retention(engine, tags=tags, rows=rows)  # small steps: passes cut within and between tags
    sweeper.run(now_ms=NOW)
    check(engine, chosen, *before)
    assert sweeper.run(now_ms=NOW) == 0, "a second pass finds nothing more"
    engine.dispose()


@pytest.mark.parametrize(("tag_id", "found"), [
    (1, (Policy(raw_days=10, rollup_1m_months=None), "tag")),
    (2, (Policy(raw_days=100, rollup_1m_months=1), "equipment")),
    (3, (Policy(raw_days=1000, rollup_1m_months=2), "default")),
    (4, (Policy(raw_days=1000, rollup_1m_months=2), "default")),
])
def test_the_tags_own_policy_beats_its_equipments_which_beats_the_default(tag_id: int, found: tuple) -> None:
    chosen = Policies(default=Policy.of(1000, 2), equipment={1: Policy.of(100, 1), 7: Policy.of(5, 5)},
                      tags={1: Policy.of(10, 0)})
    assert chosen.of(tag_id, EQUIPMENT[tag_id]) == found


def test_precedence_decides_what_is_deleted(engine: Engine) -> None:
    ages = [5 * DAY_S, 50 * DAY_S, 500 * DAY_S, 1500 * DAY_S]
    store(engine, dict.fromkeys((1, 2, 3, 4, 5), ages))
    with Session(engine) as s:
        set_policy(s, "default", 0, Policy.of(1000, 0))
        set_policy(s, "equipment", 1, Policy.of(100, 0))
        set_policy(s, "tag", 1, Policy.of(10, 0))
        assert effective(s, 1) == (Policy(raw_days=10, rollup_1m_months=None), "tag")
        assert effective(s, 2)[1] == "equipment" and effective(s, 4)[1] == "default"
        assert effective(s, 5) == (Policy(raw_days=100, rollup_1m_months=None), "equipment")
    Retention(engine).run(now_ms=NOW)
    kept = {t: sorted((NOW - ts) // 1000 // DAY_S for tag, ts in raw_values(engine) if tag == t)
            for t in (1, 2, 3, 4, 5)}
    assert kept == {1: [5], 2: [5, 50], 3: [5, 50, 500], 4: [5, 50, 500], 5: [5, 50]}
    with Session(engine) as s:  # the tag's override dropped: its equipment's applies
        clear_policy(s, "tag", 1)
        assert effective(s, 1)[1] == "equipment"
        with pytest.raises(NotFound):
            clear_policy(s, "tag", 1)
        with pytest.raises(NotFound):
            set_policy(s, "tag", 99, DEFAULT)
        with pytest.raises(NotFound):
            set_policy(s, "equipment", 99, DEFAULT)


def test_without_a_stored_policy_the_defaults_apply_and_forever_keeps_all(engine: Engine) -> None:
    ages = [d * DAY_S for d in (1, 364, 366, 800, 3000)]
    store(engine, {1: ages})
    Retention(engine).run(now_ms=NOW)  # raw 365 days, 1-minute rollups 24 months
    assert sorted((NOW - ts) // 1000 // DAY_S for _, ts in raw_values(engine)) == [1, 364]
    assert sorted((NOW - b) // 1000 // DAY_S for _, b in rollups(engine, "rollup_1m")) == [1, 364, 366]
    store(engine, {2: ages})
    minutes = rollups(engine, "rollup_1m")
    with Session(engine) as s:
        set_policy(s, "default", 0, Policy.of(0, None))
    assert Retention(engine).run(now_ms=NOW) == 0
    assert len({ts for t, ts in raw_values(engine) if t == 2}) == 5 and rollups(engine, "rollup_1m") == minutes


@pytest.mark.parametrize(("at", "months", "want"), [
    ("2026-05-28T10:20:30.456", 24, "2024-05-28T10:20:30.456"),
    ("2026-03-31T00:00:00", 1, "2026-02-28T00:00:00"),
    ("2024-03-31T12:00:00", 1, "2024-02-29T12:00:00"),
    ("2026-01-15T00:00:00", 13, "2024-12-15T00:00:00"),
    ("2026-01-15T00:00:00", 0, "2026-01-15T00:00:00"),
])
def test_months_are_calendar_months(at: str, months: int, want: str) -> None:
    def ms(s: str) -> int:
        return round(dt.datetime.fromisoformat(s).replace(tzinfo=dt.UTC).timestamp() * 1000)

    assert months_before(ms(at), months) == ms(want)


def msg(ts: int, **tags: object) -> DataPayload:
    return DataPayload(edge_id="e1", connection_id="1", equipment_id="4", ts=ts, tags=tags, quality={})


async def test_ingest_keeps_writing_while_a_pass_runs(engine: Engine) -> None:
    old = NOW - 900 * DAY_S * 1000
    with engine.begin() as c:  # 20,000 1-minute rollups of long ago: 20 steps of 1,000 rows
        c.execute(text('INSERT INTO rollup_1m (tag_id, bucket, "min", "max", "sum", "count", "last", last_ts) '
                       "VALUES (3, :b, 1, 1, 1, 1, 1, :b)"), [{"b": old + i * MINUTE_MS} for i in range(20_000)])
    sweeper, writing, ingest = Retention(engine, rows=1000), asyncio.Lock(), IngestStore(engine)
    merger, wake = Merger(engine), asyncio.Event()
    task = asyncio.create_task(_background(merger, Compactor(engine), sweeper, writing, wake, idle_s=0.01))
    during, now = [], int(time.time() * 1000)
    try:
        for i in range(30):
            async with writing:
                merger.staged((await asyncio.to_thread(ingest.write, [msg(now + i, speed=float(i))])).staged)
            wake.set()
            during.append(sweeper.running)
            await asyncio.sleep(0)
        await asyncio.wait_for(_finished(sweeper, engine), timeout=60)
    finally:
        task.cancel()
    assert any(during), "batches were written while the pass was under way"
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM samples")).scalar() == 30
        assert c.execute(text("SELECT COUNT(*) FROM rollup_1m WHERE tag_id = 3")).scalar() == 0


async def _finished(sweeper: Retention, engine: Engine) -> None:
    while True:
        with engine.connect() as c:
            if not sweeper.running and not c.execute(text("SELECT COUNT(*) FROM rollup_1m WHERE tag_id = 3")).scalar() \
                    and not c.execute(text("SELECT COUNT(*) FROM samples_hot")).scalar():
                return
        await asyncio.sleep(0.05)


def test_a_pass_records_the_bytes_used_and_growth_is_read_from_them(engine: Engine) -> None:
    Retention(engine).run(now_ms=NOW)
    with Session(engine) as s:
        assert s.execute(text("SELECT COUNT(*) FROM disk_measurements")).scalar() == 1
        assert not disk.record(s, int(time.time() * 1000)), "at most one measurement every ten minutes"
    hour = 3_600_000
    assert disk.growth([(0, 1000)], 0) is None
    assert disk.growth([(0, 1000), (hour // 2, 2000)], hour) is None, "under an hour of measurements"
    g = disk.growth([(-3 * disk.DAY_MS, 0), (0, 1000), (6 * hour, 1500), (12 * hour, 3000)], 12 * hour)
    assert g is not None and g.bytes_per_day == 4000 and g.span_hours == 12
    assert disk.days_until_full(8000, g) == 2
    assert disk.days_until_full(8000, disk.Growth(bytes_per_day=-5, span_hours=2)) is None
    assert disk.days_until_full(None, g) is None


def test_retention_on_postgres(postgres_db: str) -> None:
    upgrade(postgres_db)
    engine = make_engine(postgres_db)
    add_plant(engine)
    ages = [5 * DAY_S, 50 * DAY_S, 500 * DAY_S, 1500 * DAY_S]
    store(engine, dict.fromkeys((1, 2, 3, 4), ages), {3: [900 * DAY_S]})
    chosen = Policies(default=Policy.of(1000, 12), equipment={1: Policy.of(100, 1)}, tags={1: Policy.of(10, None)})
    save(engine, chosen)
    before = raw_values(engine), rollups(engine, "rollup_1m"), rollups(engine, "rollup_1h")
    assert Retention(engine, tags=2, rows=3).run(now_ms=NOW) > 0
    check(engine, chosen, *before)
    with Session(engine) as s:
        figures = disk.usage(s)
        assert {"samples", "sample_blocks", "rollup_1m"} <= {t.name for t in figures.tables}
        assert figures.database_bytes > 0 and all(t.bytes >= 0 for t in figures.tables)
    engine.dispose()


def test_disk_usage_on_sqlite_names_every_table_and_the_disk(engine: Engine) -> None:
    store(engine, {1: [d * DAY_S for d in range(30)]})
    with Session(engine) as s:
        figures = disk.usage(s)
    sizes = {t.name: t.bytes for t in figures.tables}
    assert sizes["sample_blocks"] > 0 and sizes["rollup_1m"] > 0 and "retention_policies" in sizes
    assert figures.disk_free_bytes and figures.disk_total_bytes and figures.path
    assert sum(sizes.values()) == figures.database_bytes, "the tables add up to the file"


def test_a_policy_of_an_unknown_scope_is_refused(engine: Engine) -> None:
    from tagpipe.errors import InvalidInput

    with Session(engine) as s, pytest.raises(InvalidInput, match="scope"):
        retention.set_policy(s, "site", 1, DEFAULT)  # type: ignore[arg-type]
