"""Raw CSV export: every stored value of several tags, from compressed blocks and from samples (late values among a
block's), in time order, streamed an hour per chunk; bad parameters are 422 naming the field."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.orm import Session

from tagpipe.contracts import DataPayload, iso_timestamp
from tagpipe.db import make_engine, upgrade
from tagpipe.history import export
from tagpipe.history.bulk import write_series
from tagpipe.history.compact import BLOCK_MS, Compactor
from tagpipe.history.merge import merge_all
from tagpipe.history.service import raw
from tagpipe.history.store import IngestStore
from tagpipe.server import create_app
from tagpipe.settings import Settings

T0 = 1_700_000_000_000 - 1_700_000_000_000 % BLOCK_MS  # an hour boundary, long ago
NAMES = ("flow", "mode", 'odd, "name"')
Model = dict[tuple[str, int], tuple[str, str, str]]  # (tag, ts) -> (value, text, quality) as the CSV writes them


def payload(ts: int, tags: dict[str, object], bad: tuple[str, ...] = ()) -> DataPayload:
    return DataPayload(edge_id="e1", connection_id="1", equipment_id="4", ts=ts, tags=tags,
                       quality=dict.fromkeys(bad, "bad"))


def written(model: Model, ts: int, name: str, value: object, bad: bool = False) -> DataPayload:
    if bad or value is None:
        model[(name, ts)] = ("", "", "bad")
    elif isinstance(value, str):
        model[(name, ts)] = ("", value, "good")
    else:
        model[(name, ts)] = (repr(float(value)), "", "good")
    return payload(ts, {name: value}, (name,) if bad else ())


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, int], Model]:
    """Five hours of three tags: four hours compacted into blocks, then late values into them and a fifth hour,
    which stay in samples."""
    data = Path(tmp_path_factory.mktemp("raw-csv"))
    settings = Settings(data_dir=data, auth="off", nats_url="nats://127.0.0.1:1")
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    store = IngestStore(engine)
    model: Model = {}
    batch = []
    for s in range(0, 4 * 3600, 10):  # flow every 10 s, mode every 30 s (texts), the odd name every 15 s
        ts = T0 + s * 1000
        batch.append(written(model, ts, "flow", round(s / 7, 2) if s % 600 else 0, bad=s % 1230 == 0))
        if s % 30 == 0:
            batch.append(written(model, ts, "mode", "AUTO" if s % 60 else 'say "hi", then\nstop'))
        if s % 15 == 0 or s % 10 == 5:
            batch.append(written(model, ts + 5, 'odd, "name"', None if s % 900 == 0 else s))
    store.write(batch)
    merge_all(engine)
    assert Compactor(engine).run(now_ms=T0 + 10 * BLOCK_MS) > 0
    late = [written(model, T0 + BLOCK_MS + s * 1000 + 1, "flow", s / 3) for s in range(0, 3600, 97)]
    late += [written(model, T0 + 4 * BLOCK_MS + s * 1000, name, s * 1.5) for s in range(0, 1800, 20)
             for name in ("flow", 'odd, "name"')]
    store.write(late)
    merge_all(engine)
    with engine.connect() as c:
        ids = dict(c.execute(text("SELECT name, id FROM tags")).tuples().all())
        in_blocks = c.execute(text("SELECT COUNT(*) FROM sample_blocks")).scalar()
        in_samples = c.execute(text("SELECT COUNT(*) FROM samples WHERE ts < :t"), {"t": T0 + 4 * BLOCK_MS}).scalar()
    assert in_blocks == 12 and in_samples == len(range(0, 3600, 97))  # both tables hold part of what is exported
    engine.dispose()
    return settings, ids, model


@pytest.fixture(scope="module")
def app(stored: tuple[Settings, dict[str, int], Model]) -> FastAPI:
    return create_app(stored[0], ui=False, migrate=False)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def expected(ids: dict[str, int], model: Model, names: list[str], start: int, end: int, *,
             epoch: bool = False) -> list[list[str]]:
    order = {name: i for i, name in enumerate(names)}
    keys = sorted((k for k in model if k[0] in order and start <= k[1] < end), key=lambda k: (k[1], order[k[0]]))
    return [[str(ts) if epoch else iso_timestamp(ts), str(ids[name]), name, *model[(name, ts)]] for name, ts in keys]


def rows_of(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    assert rows[0] == ["timestamp", "tag_id", "tag", "value", "text", "quality"]
    return rows[1:]


@pytest.mark.parametrize(("names", "start", "end"), [
    (list(NAMES), T0, T0 + 5 * BLOCK_MS),  # everything: four hours of blocks, late values, an hour of samples
    (['odd, "name"', "flow"], T0 + BLOCK_MS // 2 + 1, T0 + 4 * BLOCK_MS + 120_001),  # cut inside hours
    (["mode"], T0 + 2 * BLOCK_MS, T0 + 2 * BLOCK_MS + 1),
    (["flow"], T0 - 30 * 24 * BLOCK_MS, T0 + 60 * 24 * BLOCK_MS),  # empty months on both sides
])
async def test_exactly_the_stored_values_in_time_order(client: httpx.AsyncClient, stored, names: list[str],
                                                       start: int, end: int) -> None:
    _, ids, model = stored
    want = expected(ids, model, names, start, end)
    tags = ",".join(str(ids[n]) for n in names)
    got = rows_of(await client.get("/api/history/raw.csv", params={"tags": tags, "start": start, "end": end}))
    assert got == want and len(want) > 0


async def test_epoch_ms_and_rfc3339_times_name_the_same_values(client: httpx.AsyncClient, stored) -> None:
    _, ids, model = stored
    names = list(NAMES)
    params = {"tags": ",".join(str(ids[n]) for n in names), "start": iso_timestamp(T0),
              "end": iso_timestamp(T0 + 5 * BLOCK_MS)}
    got = rows_of(await client.get("/api/history/raw.csv", params={**params, "timestamps": "epoch_ms"}))
    assert got == expected(ids, model, names, T0, T0 + 5 * BLOCK_MS, epoch=True)


async def test_ids_that_are_no_tag_have_no_rows(client: httpx.AsyncClient, stored) -> None:
    _, ids, model = stored
    params = {"start": T0, "end": T0 + 5 * BLOCK_MS}
    assert rows_of(await client.get("/api/history/raw.csv", params={"tags": "999999,2147483648", **params})) == []
    got = rows_of(await client.get("/api/history/raw.csv", params={"tags": f"999999,{ids['mode']},2147483648,"
                                                                           f"{ids['mode']}", **params}))
    assert got == expected(ids, model, ["mode"], T0, T0 + 5 * BLOCK_MS)


@pytest.mark.parametrize(("params", "field"), [
    ({"tags": "1,x"}, "tags"), ({"tags": ""}, "tags"), ({"tags": "0"}, "tags"),
    ({"tags": ",".join(map(str, range(1, 202)))}, "tags"), ({"tags": "1", "start": "yesterday"}, "start"),
    ({"tags": "1", "end": "nan"}, "end"), ({"tags": "1", "start": "2026-01-31T08:00:00"}, "start"),
    ({"tags": "1", "start": "2000", "end": "1000"}, "start"), ({"tags": "1", "timestamps": "iso"}, "timestamps"),
    ({}, "tags"),
])
async def test_bad_parameters_are_422_naming_the_field(client: httpx.AsyncClient, params: dict, field: str) -> None:
    r = await client.get("/api/history/raw.csv", params=params)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


async def test_streams_an_hour_per_chunk_each_in_its_own_read(stored) -> None:
    """Memory holds one hour of the asked tags: a chunk per hour that holds values, each read with a session of
    its own, the empty hours around them skipped in a few reads."""
    settings, ids, model = stored
    engine = make_engine(settings.db_url)
    reads: list[int] = []

    async def run(fn, *args):  # type: ignore[no-untyped-def]
        reads.append(args[1])
        with Session(engine) as s:
            return fn(s, *args)

    names = list(NAMES)
    job = export.Export(tags=[(ids[n], n) for n in names], start_ms=T0 - 365 * 24 * BLOCK_MS,
                        end_ms=T0 + 365 * 24 * BLOCK_MS)
    chunks = [c async for c in export.stream(run, job)]
    engine.dispose()
    assert chunks[0] == export.HEADER and len(chunks) == 1 + 5
    per_hour = [len(list(csv.reader(io.StringIO(c.decode(), newline="")))) for c in chunks[1:]]
    assert per_hour == [sum(1 for _, ts in model if T0 + h * BLOCK_MS <= ts < T0 + (h + 1) * BLOCK_MS)
                        for h in range(5)]
    assert len(reads) <= 8  # five hours and the empty ones before, between and after, jumped over
    assert [list(r) for r in csv.reader(io.StringIO(b"".join(chunks).decode(), newline=""))][1:] == \
        expected(ids, model, names, job.start_ms, job.end_ms)


def test_numbers_are_written_as_repr_each_zero_with_its_sign() -> None:
    values = [-0.0, 0.0, 2.5, 2.5, 2.5, 2.5, 2.5, -0.0, 1e-7, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5]
    assert export._numbers(values, "<", ">") == [f"<{v!r}>" for v in values]  # repeats: written once, looked up
    values = [0.1 * i for i in range(1, 9)] * 4 + [float("nan")] * 3
    assert export._numbers(values, "", "") == [repr(v) for v in values]
    assert export._numbers([-0.0, 1.5, -0.0], "", "") == ["-0.0", "1.5", "-0.0"]


async def test_a_value_in_both_its_block_and_samples_is_written_once_as_the_block_holds_it(tmp_path: Path) -> None:
    """What a compaction committed between a chunk's two reads looks like to it (PostgreSQL's read committed)."""
    url = f"sqlite:///{tmp_path / 'both.db'}"
    upgrade(url)
    engine = make_engine(url)
    write_series(engine, {7: [(T0 + s * 1000, float(s)) for s in range(0, 3600, 60)]}, now_ms=T0 + 10 * BLOCK_MS)
    with engine.begin() as db:
        db.execute(text("INSERT INTO samples (tag_id, ts, value, text, quality) VALUES (7, :a, -1, NULL, 0), "
                        "(7, :b, 2.5, NULL, 0), (7, :c, 9.0, NULL, 0)"),
                   {"a": T0 + 120_000, "b": T0 + 120_001, "c": T0 + 3540_000})

    async def run(fn, *args):  # type: ignore[no-untyped-def]
        with Session(engine) as s:
            return fn(s, *args)

    job = export.Export(tags=[(7, "t")], start_ms=T0, end_ms=T0 + BLOCK_MS, timestamps="epoch_ms")
    body = b"".join([c async for c in export.stream(run, job)]).decode()
    with Session(engine) as s:
        trend_raw = raw(s, 7, T0, T0 + BLOCK_MS)  # the trend's raw read keeps the block's value too
    engine.dispose()
    rows = [r[:4] for r in csv.reader(io.StringIO(body, newline=""))][1:]
    want = sorted([(T0 + s * 1000, float(s)) for s in range(0, 3600, 60)] + [(T0 + 120_001, 2.5)])
    assert rows == [[str(ts), "7", "t", repr(v)] for ts, v in want]
    assert trend_raw == want
