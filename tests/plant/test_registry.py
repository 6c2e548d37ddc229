"""The one tag registry: the ingest rule (configured plc tag, else collector) and race-safe resolve-or-create, on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tagpipe.db import make_engine, upgrade
from tagpipe.plant import TagSource, resolve_or_create
from tagpipe.plant.models import Connection, Equipment, Tag


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (f"sqlite:///{tmp_path / 'plant.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_db"))
    upgrade(url)
    e = make_engine(url)
    yield e
    e.dispose()


def configure(engine: Engine) -> int:
    """Press 1 with connection 1 on edge-1 holding plc tag 'temperature' (added the way the demo seeds it)."""
    with Session(engine) as s, s.begin():
        conn = Connection(edge_id="edge-1", name="PLC", protocol="simulator", settings={})
        conn.tags = [Tag(name="temperature", address="sine")]
        s.add(Equipment(name="Press 1", connections=[conn]))
    with Session(engine) as s:
        return s.scalar(select(Tag.id).where(Tag.name == "temperature"))  # type: ignore[return-value]


def resolve(engine: Engine, wanted: dict, source: TagSource = TagSource.COLLECTOR) -> dict:
    with Session(engine) as s, s.begin():
        return resolve_or_create(s, source, wanted)


def tags(engine: Engine) -> list[tuple]:
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(select(Tag.id, Tag.source, Tag.key, Tag.data_type, Tag.edge_id,
                                                   Tag.source_connection).order_by(Tag.id))]


def test_a_configured_tag_takes_its_values_and_anything_else_is_a_collector_tag(engine: Engine) -> None:
    plc = configure(engine)
    wanted = {("edge-1", "1", "temperature"): 21.5,  # configured on edge-1, connection 1
              ("edge-2", "1", "temperature"): 1.0,  # connection 1 is not edge-2's
              ("edge-1", "1", "pressure"): 2,  # connection 1 has no such tag (e.g. a derived tag of a hook)
              ("edge-1", "2", "temperature"): "AUTO",  # no connection 2
              ("edge-1", "", "temperature"): True}  # no connection id at all
    ids = resolve(engine, wanted)
    assert ids[("edge-1", "1", "temperature")] == plc
    assert len(set(ids.values())) == 5
    assert tags(engine)[1:] == [
        (ids[("edge-1", "", "temperature")], "collector", "collector/edge-1//temperature", "BOOL", "edge-1", None),
        (ids[("edge-1", "1", "pressure")], "collector", "collector/edge-1/1/pressure", "INT64", "edge-1", "1"),
        (ids[("edge-1", "2", "temperature")], "collector", "collector/edge-1/2/temperature", "STRING", "edge-1", "2"),
        (ids[("edge-2", "1", "temperature")], "collector", "collector/edge-2/1/temperature", "FLOAT64", "edge-2", "1"),
    ]
    assert resolve(engine, wanted) == ids  # resolved again, nothing new
    assert len(tags(engine)) == 5


def test_a_plc_key_follows_its_connection_and_name(engine: Engine) -> None:
    plc = configure(engine)
    with Session(engine) as s, s.begin():
        s.get(Tag, plc).name = "temp"  # type: ignore[union-attr]
    assert tags(engine)[0][1:3] == ("plc", "plc/1/temp")
    assert resolve(engine, {("edge-1", "1", "temp"): 1.0}) == {("edge-1", "1", "temp"): plc}


def test_calc_and_file_tags_have_their_own_keys(engine: Engine) -> None:
    calc = resolve(engine, {("script-7", "", "efficiency"): 0.9}, TagSource.CALC)
    file = resolve(engine, {("ftp-1", "station-3", "flow"): 1.0}, TagSource.FILE)
    assert [t[1:5] for t in tags(engine)] == [("calc", "calc/script-7//efficiency", "FLOAT64", None),
                                             ("file", "file/ftp-1/station-3/flow", "FLOAT64", None)]
    assert resolve(engine, {("script-7", "", "efficiency"): 0.5}, TagSource.CALC) == calc
    assert list(file.values()) == [tags(engine)[1][0]]


def test_writers_creating_the_same_tags_at_once_get_one_tag_each(engine: Engine) -> None:
    """Several ingest workers discovering the same collector tags concurrently: no error, no duplicate."""
    wanted = {(f"edge-{e}", "1", f"v{n}"): float(n) for e in range(4) for n in range(60)}
    start = threading.Barrier(4)
    results: list[dict] = []
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        order = list(wanted)[seed::1] if seed % 2 else list(reversed(wanted))
        try:
            start.wait()
            for i in range(0, len(order), 40):
                results.append(resolve(engine, {k: wanted[k] for k in order[i:i + 40]}))
            results.append(resolve(engine, wanted))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    final = [r for r in results if len(r) == len(wanted)]
    assert len(final) == 4 and all(r == final[0] for r in final)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Tag)) == len(wanted)
