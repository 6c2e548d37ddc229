"""The ingest store and the tag registry: empty payloads store nothing, a tag configured later takes its name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import DataPayload
from tagpipe.db import make_engine, upgrade
from tagpipe.history.merge import merge_all
from tagpipe.history.store import IngestStore
from tagpipe.plant.models import Connection, Equipment, Tag

T0 = 1_700_000_000_000


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return make_engine(url)


def data(ts: int, edge: str = "edge-1", connection: str = "1", **tags: object) -> DataPayload:
    return DataPayload(ts=ts, tags=dict(tags), edge_id=edge, connection_id=connection)


def rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql))]


def test_payloads_without_tags_from_anywhere_store_nothing_beside_others(engine: Engine) -> None:
    """Issue 8: {"tags": {}} for a connection without tags raised KeyError in _rows and killed the worker."""
    store = IngestStore(engine)
    result = store.write([data(T0), data(T0, edge="unknown", connection="2"), data(T0, connection=""),
                          data(T0 + 1, x=1.5)])
    assert (result.messages, result.staged, merge_all(engine)) == (4, 1, 1)
    assert rows(engine, "SELECT source, key FROM tags") == [("collector", "collector/edge-1/1/x")]
    assert store.write([data(T0 + 2)]).staged == 0


def test_a_tag_configured_later_for_a_name_seen_already_takes_the_values_after_a_refresh(engine: Engine) -> None:
    store = IngestStore(engine, refresh_s=0)  # every batch resolves afresh
    store.write([data(T0, x=1.0)])
    with Session(engine) as s, s.begin():
        s.add(Equipment(name="Press", connections=[Connection(edge_id="edge-1", name="PLC", protocol="simulator",
                                                              settings={}, tags=[Tag(name="x", address="sine")])]))
    store.write([data(T0 + 1, x=2.0)])
    merge_all(engine)
    assert rows(engine, "SELECT t.source, s.value FROM samples s JOIN tags t ON t.id = s.tag_id ORDER BY s.ts") == [
        ("collector", 1.0), ("plc", 2.0)]
