"""Migration 0004_ingest on existing data: tags get their source and key, rejects counts become dead-letter counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tagpipe.db import make_engine
from tagpipe.db.migrate import migrate as db_migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield (f"sqlite:///{tmp_path / 'old.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_db"))


def migrate(engine: Engine, url: str, revision: str, *, down: bool = False) -> None:
    engine.dispose()  # the migration takes its own connection (foreign keys off on SQLite while tables are rebuilt)
    db_migrate(url, revision, down=down)


def rows(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql))]


def test_existing_tags_become_plc_or_collector_with_unique_keys(url: str) -> None:
    engine = make_engine(url)
    migrate(engine, url, "0003")
    with engine.begin() as c:
        c.execute(text("INSERT INTO equipment (id, name, description) VALUES (1, 'Press 1', '')"))
        c.execute(text("INSERT INTO connections (id, equipment_id, edge_id, name, protocol, settings, interval_ms, "
                       "enabled) VALUES (1, 1, 'edge-1', 'PLC', 'simulator', '{}', 1000, true)"))
        for conn, name, edge, source in [(1, "temperature", None, None), (None, "x", "edge-1", "1"),
                                         (None, "y", "edge-2", None), (None, "y", "edge-2", None)]:
            c.execute(text('INSERT INTO tags (connection_id, name, address, data_type, scale, "offset", unit, '
                           "writable, edge_id, source_connection) "
                           "VALUES (:c, :n, '', 'FLOAT64', 1, 0, '', false, :e, :s)"),
                      {"c": conn, "n": name, "e": edge, "s": source})
        c.execute(text("INSERT INTO ingest_rejects VALUES ('bad-edge', 3, 'not JSON', 5)"))
    migrate(engine, url, "head")
    assert rows(engine, "SELECT id, source, key FROM tags ORDER BY id") == [
        (1, "plc", "plc/1/temperature"), (2, "collector", "collector/edge-1/1/x"),
        (3, "collector", "collector/edge-2//y"), (4, "collector", "collector/edge-2//y#4")]  # twice created before
    assert rows(engine, "SELECT consumer, edge_id, count, last_reason FROM dead_letter_counts") == [
        ("ingest", "bad-edge", 3, "not JSON")]
    migrate(engine, url, "0003", down=True)
    assert rows(engine, "SELECT edge_id, count FROM ingest_rejects") == [("bad-edge", 3)]
    assert len(rows(engine, "SELECT id FROM tags")) == 4
    migrate(engine, url, "head")
    engine.dispose()
