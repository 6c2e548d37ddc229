"""PostgreSQL, the production backend: migrations, idempotent ingest, rollups and the whole spine on a real server."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.orm import Session

from tagpipe.contracts import parse_data
from tagpipe.db import make_engine, upgrade
from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tagpipe.history import service
from tagpipe.history.compact import Compactor
from tagpipe.history.merge import merge_all
from tagpipe.history.store import IngestStore
from tests.helpers import async_wait_until


def _message(ts: int, value: float) -> bytes:
    return json.dumps({"timestamp": ts, "connection_id": 1, "tags": {"temperature": value, "mode": "AUTO"}}).encode()


def test_ingest_on_postgres_is_idempotent_and_rolls_up(postgres_db: str) -> None:
    upgrade(postgres_db)
    engine = make_engine(postgres_db)
    store = IngestStore(engine)
    t0 = 1_776_412_800_000
    batch = [parse_data("e1", _message(t0 + i * 1000, float(i)), now_ms=t0, fallback_ms=0) for i in range(120)]
    store.write(batch)
    store.write(batch[:60])  # a redelivery of half the batch
    with Session(engine) as s:  # waiting for the merge, read once
        temperature = s.execute(text("SELECT id FROM tags WHERE name = 'temperature'")).scalar_one()
        assert [v for _, v in service.raw(s, temperature, t0, t0 + 3_600_000)] == [float(i) for i in range(120)]
        _, points = service.history(s, temperature, t0, t0 + 3_600_000, 10)
        assert sum(p.count for p in points) == 120
    assert merge_all(engine) == 240
    with Session(engine) as s:
        assert s.execute(text("SELECT COUNT(*) FROM samples")).scalar() == 240
        rows = s.execute(text("SELECT bucket, min, max, count FROM rollup_1m ORDER BY bucket")).all()
        assert [(r.min, r.max, r.count) for r in rows if r.count] == [(0.0, 59.0, 60), (60.0, 119.0, 60)]
        _, points = service.history(s, temperature, t0, t0 + 3_600_000, 10)
        assert sum(p.count for p in points) == 120 and points[0].min == 0.0
        assert service.latest_values(s)[temperature].value == 119.0
    # An hour long over: compacted into blocks; a redelivery after that adds nothing, a late value lands.
    with Session(engine) as s:
        before = service.raw(s, temperature, t0, t0 + 3_600_000)
    assert Compactor(engine).run(now_ms=t0 + 3 * 3_600_000) == 240
    store.write([*batch[:10], parse_data("e1", _message(t0 + 500, 0.5), now_ms=t0, fallback_ms=0)])
    assert merge_all(engine) == 2  # the late value's temperature and mode
    Compactor(engine).run(now_ms=t0 + 3 * 3_600_000)
    with Session(engine) as s:
        assert s.execute(text("SELECT COUNT(*) FROM samples")).scalar() == 0
        assert s.execute(text("SELECT SUM(count) FROM sample_blocks")).scalar() == 242
        after = service.raw(s, temperature, t0, t0 + 3_600_000)
        assert after == sorted([*before, (t0 + 500, 0.5)])
        assert s.execute(text("SELECT SUM(count) FROM rollup_1h WHERE tag_id = :t"), {"t": temperature}).scalar() == 121
    engine.dispose()


async def test_the_spine_runs_on_postgres(central_pg) -> None:
    async with ModbusSim() as sim:
        await sim.set_value("40001", 421)
        central_pg.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port},
                         [{"name": "temperature", "address": "40001", "scale": 0.1}])
        central_pg.edge("edge-1").start()
        await async_wait_until(lambda: central_pg.tag_values()["temperature"]["value"] == 42.1, timeout=20)
        await sim.set_value("40001", 430)
        await async_wait_until(lambda: central_pg.tag_values()["temperature"]["value"] == 43.0, timeout=10)
