"""The dead-letter path and tag discovery on PostgreSQL, the production backend, against real processes."""

from __future__ import annotations

import asyncio
import json
import time

from sqlalchemy import create_engine, text

from tagpipe.contracts import iso_timestamp
from tests.helpers import async_wait_until
from tests.history.poison import CORPUS
from tests.history.test_poison import edge_of, letters, steady

REFUSE_666 = """
CREATE FUNCTION refuse_666() RETURNS trigger AS $$
BEGIN
  IF NEW.value = 666 THEN RAISE EXCEPTION 'value 666 is refused by the database'; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER poison BEFORE INSERT ON samples_hot FOR EACH ROW EXECUTE FUNCTION refuse_666();
"""


async def test_poison_and_a_refused_value_are_dead_lettered_on_postgres(central_pg, postgres_db: str) -> None:
    db = create_engine(postgres_db)
    with db.begin() as c:
        c.execute(text(REFUSE_666))
    dead = [c for c in CORPUS if c.outcome == "dead" and len(c.raw) < 300_000]
    nc = await central_pg.bus()
    good = asyncio.create_task(steady(nc, 200, 0.02))
    js = nc.jetstream()
    for case in dead:
        await js.publish(f"tagpipe.devices.{edge_of('nats', case.name)}.data", case.raw)
    now = int(time.time() * 1000)
    for i in range(20):
        body = {"timestamp": iso_timestamp(now - 100 + i), "tags": {"v": 666 if i == 10 else i, f"n{i}": i}}
        await js.publish("tagpipe.devices.refused.data", json.dumps(body).encode())
    await good
    await nc.close()

    def count(sql: str) -> int:
        with db.connect() as c:
            return c.execute(text(sql)).scalar_one()

    await async_wait_until(lambda: len(letters(central_pg)) == len(dead) + 1, timeout=60,
                           what="the poison and the refused message dead-lettered")
    by_edge = {x["edge_id"]: x for x in letters(central_pg)}
    for case in dead:
        assert case.reason in by_edge[edge_of("nats", case.name)]["reason"], case.name
    refused = by_edge["refused"]
    assert refused["reason"].startswith("delivered 5 times without being stored; last error: ProgrammingError: "
                                        "value 666 is refused by the database")
    in_samples = "SELECT COUNT(*) FROM samples s JOIN tags t ON t.id = s.tag_id WHERE t.edge_id = '{}'"
    await async_wait_until(lambda: count(in_samples.format("steady")) == 200, timeout=20, what="steady merged")
    # the refused message's other tag was created (tags are resolved before the data) but holds no sample
    await async_wait_until(lambda: count(in_samples.format("refused")) == 38, timeout=20, what="the rest merged")
    assert count("SELECT COUNT(*) FROM tags WHERE edge_id = 'refused'") == 21
    assert central_pg.get("/api/tags").status_code == 200
    assert central_pg.procs[1].poll() is None
    db.dispose()
