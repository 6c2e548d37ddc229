"""Deleted means deleted: a deleted tag, connection or equipment takes its history with it, ids are never reused,
and the 0005_ids migration repairs databases the old behaviour left behind (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.db import make_engine, upgrade
from tagpipe.db.migrate import alembic_config
from tagpipe.plant import TagSource, resolve_or_create

NOW = int(time.time() * 1000)
HISTORY = ("samples", "latest", "rollup_1m", "rollup_1h")


def store_history(engine: Engine, tag_id: int, value: float = 7.0) -> None:
    """What ingest leaves for a tag: two samples, a latest value, a 1-minute and a 1-hour rollup."""
    with engine.begin() as db:
        for ts in (NOW - 2000, NOW - 1000):
            db.execute(text("INSERT INTO samples (tag_id, ts, value, quality) VALUES (:t, :ts, :v, 0)"),
                       {"t": tag_id, "ts": ts, "v": value})
        db.execute(text("INSERT INTO latest (tag_id, ts, value_json, quality) VALUES (:t, :ts, :v, 0)"),
                   {"t": tag_id, "ts": NOW - 1000, "v": str(value)})
        for table, width in (("rollup_1m", 60_000), ("rollup_1h", 3_600_000)):
            db.execute(text(f'INSERT INTO {table} (tag_id, bucket, "min", "max", "sum", "count", "last", last_ts) '
                            "VALUES (:t, :b, :v, :v, :v, 1, :v, :ts)"),
                       {"t": tag_id, "b": NOW - NOW % width, "v": value, "ts": NOW - 1000})


def history_rows(engine: Engine, tag_id: int) -> dict[str, int]:
    with engine.connect() as db:
        return {t: db.execute(text(f"SELECT COUNT(*) FROM {t} WHERE tag_id = :t"), {"t": tag_id}).scalar() or 0
                for t in HISTORY}


def plant(central, name: str) -> tuple[int, int, int]:
    eq = central.post("/api/equipment", {"name": name}).json()["id"]
    conn = central.post("/api/connections", {"equipment_id": eq, "edge_id": "edge-1", "name": "PLC",
                                             "protocol": "simulator"}).json()["id"]
    return eq, conn, new_tag(central, conn, "temperature")


def new_tag(central, conn: int, name: str) -> int:
    r = central.post("/api/tags", {"connection_id": conn, "name": name, "address": "sine", "data_type": "FLOAT64"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_deleted_tag_takes_its_history_and_its_id_is_never_given_again(shared_central) -> None:
    engine = make_engine(shared_central.db_url)
    _, conn, tag = plant(shared_central, "Deleting tags")
    store_history(engine, tag)
    assert shared_central.get(f"/api/tags/{tag}").json()["value"] == 7.0
    assert shared_central.delete(f"/api/tags/{tag}").status_code == 204
    assert history_rows(engine, tag) == dict.fromkeys(HISTORY, 0)
    assert shared_central.get(f"/api/tags/{tag}").status_code == 404

    again = new_tag(shared_central, conn, "temperature")  # the same name on the same connection
    assert again > tag
    fresh = shared_central.get(f"/api/tags/{again}").json()
    assert fresh["value"] is None and fresh["quality"] is None
    history = shared_central.get(f"/api/tags/{again}/history", params={"start": str(NOW - 3_600_000)}).json()
    assert history["points"] == []
    engine.dispose()


def test_deleting_a_connection_or_equipment_takes_the_history_of_all_its_tags(shared_central) -> None:
    engine = make_engine(shared_central.db_url)
    eq, conn, tag = plant(shared_central, "Deleting equipment")
    second = new_tag(shared_central, conn, "pressure")
    conn2 = shared_central.post("/api/connections", {"equipment_id": eq, "edge_id": "edge-1", "name": "PLC 2",
                                                     "protocol": "simulator"}).json()["id"]
    third = new_tag(shared_central, conn2, "speed")
    # A tag discovered from data published under the connection's id belongs to it too.
    with Session(engine) as session, session.begin():
        ref = ("edge-1", str(conn), "extra")
        discovered = resolve_or_create(session, TagSource.COLLECTOR, {ref: 1.5})[ref]
    for t in (tag, second, third, discovered):
        store_history(engine, t)

    assert shared_central.delete(f"/api/connections/{conn}").status_code == 204
    for t in (tag, second, discovered):
        assert history_rows(engine, t) == dict.fromkeys(HISTORY, 0), t
        assert shared_central.get(f"/api/tags/{t}").status_code == 404
    assert history_rows(engine, third)["samples"] == 2

    assert shared_central.delete(f"/api/equipment/{eq}").status_code == 204
    assert history_rows(engine, third) == dict.fromkeys(HISTORY, 0)
    assert shared_central.get(f"/api/tags/{third}").status_code == 404

    eq2, conn3, tag4 = plant(shared_central, "Deleting equipment")
    assert eq2 > eq and conn3 > conn2 and tag4 > discovered
    assert shared_central.get(f"/api/tags/{tag4}").json()["value"] is None
    engine.dispose()


HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _old_database(url: str) -> Engine:
    """A database at 0003 where tag 3 was deleted the old way: its history stayed and SQLite would reuse its id."""
    engine = make_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as db:
        cfg.attributes["connection"] = db
        command.upgrade(cfg, "0003")
    with engine.begin() as db:
        db.execute(text("INSERT INTO equipment (name, description) VALUES ('Press', '')"))
        db.execute(text("INSERT INTO connections (equipment_id, edge_id, name, protocol, settings, interval_ms, "
                        "enabled) VALUES (1, 'e', 'c', 'simulator', '{}', 1000, true)"))
        for name in ("a", "b", "c"):
            db.execute(text("INSERT INTO tags (connection_id, name, address, data_type, byte_order, scale, \"offset\", "
                            "unit, writable) VALUES (1, :n, 'sine', 'FLOAT64', NULL, 1, 0, '', false)"), {"n": name})
        db.execute(text("INSERT INTO scripts (name, description, hook_type, scope, priority, timeout_ms, enabled, "
                        "version, code, created_at, updated_at) VALUES ('s', '', 'transform', 'global', 1, 1, true, 1, "
                        "'x', '2026-01-01', '2026-01-01')"))
        db.execute(text("INSERT INTO script_versions (script_id, version, code, settings, comment, created_at) "
                        "VALUES (1, 1, 'x', '{}', '', '2026-01-01')"))
    for tag_id in (1, 3):
        store_history(engine, tag_id)
    with engine.begin() as db:
        db.execute(text("DELETE FROM tags WHERE id = 3"))
    return engine


def _check_migrated(engine: Engine) -> None:
    with engine.begin() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        # Children survived the table rebuilds (no cascade ran), the orphaned history is gone, the rest kept.
        assert db.execute(text("SELECT COUNT(*) FROM connections")).scalar() == 1
        assert sorted(db.execute(text("SELECT id FROM tags")).scalars()) == [1, 2]
        assert db.execute(text("SELECT COUNT(*) FROM script_versions")).scalar() == 1
    assert history_rows(engine, 3) == dict.fromkeys(HISTORY, 0)
    assert history_rows(engine, 1) == dict.fromkeys(HISTORY, 1) | {"samples": 2}
    with engine.begin() as db:
        db.execute(text("INSERT INTO tags (connection_id, name, address, data_type, scale, \"offset\", unit, writable, "
                        "source, key) VALUES (1, 'd', 'sine', 'FLOAT64', 1, 0, '', false, 'plc', 'plc/1/d')"))
        assert db.execute(text("SELECT MAX(id) FROM tags")).scalar() == 4  # not 3, whose history was there
        db.execute(text("DELETE FROM tags WHERE id = 4"))
        db.execute(text("INSERT INTO tags (connection_id, name, address, data_type, scale, \"offset\", unit, writable, "
                        "source, key) VALUES (1, 'e', 'sine', 'FLOAT64', 1, 0, '', false, 'plc', 'plc/1/e')"))
        assert db.execute(text("SELECT MAX(id) FROM tags")).scalar() == 5  # a deleted id is never given again
    engine.dispose()


def test_the_migration_on_sqlite_keeps_children_removes_orphaned_history_and_stops_id_reuse(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _old_database(url).dispose()
    upgrade(url)
    _check_migrated(make_engine(url))
    with make_engine(url).connect() as db:
        assert db.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # a new connection has them on again


@pytest.mark.timeout(300)
def test_the_migration_on_postgres(postgres_db: str) -> None:
    _old_database(postgres_db).dispose()
    upgrade(postgres_db)
    _check_migrated(make_engine(postgres_db))
