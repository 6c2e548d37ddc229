"""Lossy storage per tag: what a deadband or swinging door keeps stays within the bound it states, across batches
and restarts; the API shows it (the Trends page too: tests/e2e/test_dashboard.py)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import DataPayload
from tagpipe.db import make_engine, upgrade
from tagpipe.history.compression import Policy, compress
from tagpipe.history.models import TagCompression
from tagpipe.history.service import raw
from tagpipe.history.store import IngestStore

T0 = 1_700_000_000_000


def run(policy: Policy, values: list[float], step_ms: int = 1000, batch: int = 7) -> list[tuple[int, float]]:
    """Values through the policy in batches, then the last one as the snapshot would hold it."""
    states: dict = {}
    kept: list = []
    flat = [x for i, v in enumerate(values) for x in (1, T0 + i * step_ms, v)]
    for i in range(0, len(flat), 3 * batch):
        out, changed = compress({1: policy}, states, flat[i:i + 3 * batch])
        states.update(changed)
        kept += [(out[j + 1], out[j + 2]) for j in range(0, len(out), 3)]
    last = (T0 + (len(values) - 1) * step_ms, values[-1])
    return kept if kept[-1] == last else [*kept, last]


def line_at(stored: list[tuple[int, float]], ts: int) -> float:
    if len(stored) == 1 and stored[0][0] == ts:
        return stored[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(stored):
        if t0 <= ts <= t1:
            return v0 + (v1 - v0) * (ts - t0) / (t1 - t0)
    raise AssertionError(f"{ts} outside what was stored")


walks = st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=300).map(
    lambda steps: [round(sum(steps[:i + 1]), 2) for i in range(len(steps))])


@settings(max_examples=200, deadline=None)
@given(walks, st.floats(0, 3), st.integers(1, 9))
def test_the_swinging_door_keeps_every_value_within_the_deviation_of_the_stored_line(values: list[float],
                                                                                     d: float, batch: int) -> None:
    stored = run(Policy("swinging-door", d, 0), values, batch=batch)
    assert stored[0] == (T0, values[0])
    for i, v in enumerate(values):
        assert abs(line_at(stored, T0 + i * 1000) - v) <= d + 1e-9 * (1 + abs(v))


@settings(max_examples=200, deadline=None)
@given(walks, st.floats(0, 3))
def test_a_deadband_keeps_every_value_within_the_deviation_of_the_stored_one_before_it(values: list[float],
                                                                                       d: float) -> None:
    stored = dict(run(Policy("deadband", d, 0), values))
    last = None
    for i, v in enumerate(values):
        last = stored.get(T0 + i * 1000, last)
        assert last is not None and abs(last - v) <= d


def test_a_maximum_interval_stores_a_value_at_least_that_often_and_a_flat_line_costs_little() -> None:
    stored = run(Policy("swinging-door", 0.5, 60), [20.0] * 3600)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(stored)]
    assert max(gaps) <= 60_000 and len(stored) <= 3600 // 59 + 2
    steps = run(Policy("deadband", 1, 30), [5.0] * 300)
    assert max(b[0] - a[0] for a, b in itertools.pairwise(steps)) <= 30_000
    rnd = random.Random(5)
    walk, x = [], 20.0
    for _ in range(3600):  # a slow temperature at 0.1 resolution
        x += rnd.gauss(0, 0.05)
        walk.append(round(x, 1))
    assert len(run(Policy("swinging-door", 0.5, 0), walk)) < len(walk) / 5


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    return make_engine(url)


def msg(ts: int, **tags: object) -> DataPayload:
    return DataPayload(edge_id="e1", connection_id="1", equipment_id="4", ts=ts, tags=tags, quality={})


def test_the_store_applies_a_policy_and_a_restart_stores_the_value_it_held(engine: Engine) -> None:
    IngestStore(engine).write([msg(T0, t=0.0)])
    with Session(engine) as s, s.begin():
        s.add(TagCompression(tag_id=1, mode="swinging-door", deviation=1.0, max_s=0))
    store = IngestStore(engine)
    ramp = [float(i) for i in range(1, 50)] + [49.0 - i for i in range(1, 30)]  # up, then down
    for i in range(0, len(ramp), 10):
        store.write([msg(T0 + (1 + i + j) * 1000, t=v) for j, v in enumerate(ramp[i:i + 10])])
    with Session(engine) as s:
        kept = raw(s, 1, T0, T0 + 10**6)
        assert kept == [(T0, 0.0), (T0 + 49_000, 49.0)]  # a straight line up: its ends; the way down is held
        latest = s.execute(text("SELECT ts, value_json FROM latest")).one()
        assert latest == (T0 + 78_000, "20.0")  # the snapshot sees every value
    IngestStore(engine).write([msg(T0 + 100_000, t=0.0)])  # another process: it stores the held value first
    with Session(engine) as s:
        assert raw(s, 1, T0 + 50_000, T0 + 10**6) == [(T0 + 78_000, 20.0)]  # and holds the new one


def test_the_api_shows_the_bound_and_refuses_bad_settings_naming_the_field(central) -> None:  # type: ignore[no-untyped-def]
    central.post("/api/equipment", {"name": "Press 1"})
    tag_id = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": 1502},
                           [{"name": "temperature", "address": "40001", "unit": "°C"}])["tags"]["temperature"]
    r = central.get(f"/api/tags/{tag_id}/storage")
    assert r.status_code == 200 and r.json()["mode"] == "lossless"
    for body, field in (({"mode": "zip"}, "mode"), ({"mode": "deadband", "deviation": -1}, "deviation"),
                        ({"mode": "deadband", "max_s": 10**9}, "max_s"), ({"mode": "deadband", "x": 1}, "x")):
        r = central.put(f"/api/tags/{tag_id}/storage", body)
        assert r.status_code == 422 and field in r.text, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert central.put("/api/tags/999999/storage", {"mode": "deadband"}).status_code == 404
    r = central.put(f"/api/tags/{tag_id}/storage", {"mode": "swinging-door", "deviation": 0.5, "max_s": 600})
    assert r.status_code == 200, r.text
    assert r.json()["bound"] == ("Every value that arrived is within ±0.5 of the straight line between the stored "
                                 "values around it; a value is stored at least every 600 s.")
    assert central.get(f"/api/tags/{tag_id}/storage").json()["deviation"] == 0.5
