"""No message can stop ingest: the poison corpus over NATS and MQTT amid steady traffic, a message the store cannot
write, a connection without tags, and two ingest workers discovering the same tags, against real processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time

import nats
import nats.js.errors
import paho.mqtt.client as mqtt

from tagpipe.contracts import iso_timestamp
from tests.conftest import Central
from tests.helpers import async_wait_until
from tests.history.poison import CORPUS

DEAD = [c for c in CORPUS if c.outcome == "dead"]
KEEP = 1024 * 1024  # bytes of a payload a dead letter keeps


def edge_of(transport: str, case: str) -> str:
    return f"p-{transport}-{case}"


def letters(central: Central, **params: object) -> list[dict]:
    return central.get("/api/ingest/dead-letters", params={"limit": 500, **params}).json()["items"]


def query(central: Central, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(f"file:{central.data_dir / 'tagpipe.db'}?mode=ro", uri=True, timeout=10) as db:
        return db.execute(sql, args).fetchall()


def worker_alive(central: Central) -> bool:
    return central.procs[1].poll() is None


async def steady(nc: nats.NATS, count: int, every_s: float) -> None:
    """Good traffic: ``seq`` 0..count-1 from edge 'steady', one message every ``every_s``."""
    js = nc.jetstream()
    start = int(time.time() * 1000) - count
    for i in range(count):
        body = {"timestamp": iso_timestamp(start + i), "connection_id": 1, "tags": {"seq": i}}
        await js.publish("tagpipe.devices.steady.data", json.dumps(body).encode())
        await asyncio.sleep(every_s)


def mqtt_publish(central: Central, messages: list[tuple[str, bytes]]) -> None:
    """Each message from its own collector (the topic's edge), logged in with that collector's credentials."""
    for topic, payload in messages:
        edge = topic.split("/")[2]
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"poison-{edge}")
        client.username_pw_set(edge, central.credentials(edge, kind="collector"))
        client.connect("127.0.0.1", central.nats.mqtt_port)
        client.loop_start()
        try:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
        finally:
            client.loop_stop()
            client.disconnect()


async def test_the_poison_corpus_over_nats_and_mqtt_is_dead_lettered_and_good_traffic_has_no_gap(central) -> None:
    nc = await central.bus()
    good = asyncio.create_task(steady(nc, 400, 0.02))
    await asyncio.sleep(0.5)
    js = nc.jetstream()
    for case in CORPUS:
        await js.publish(f"tagpipe.devices.{edge_of('nats', case.name)}.data", case.raw)
    await asyncio.to_thread(mqtt_publish, central,
                            [(f"tagpipe/devices/{edge_of('mqtt', c.name)}/data", c.raw) for c in CORPUS])
    await good
    await nc.close()

    steady_id = await async_wait_until(lambda: query(central, "SELECT id FROM tags WHERE edge_id = 'steady'"),
                                       timeout=20)
    stored = await async_wait_until(lambda: central.samples(steady_id[0][0]) if len(
        central.samples(steady_id[0][0])) == 400 else None, timeout=30, what="all 400 good messages stored")
    assert sorted(p["min"] for p in stored) == list(range(400))  # no gap
    await async_wait_until(lambda: len(letters(central)) == 2 * len(DEAD), timeout=30,
                           what="every poison message dead-lettered")
    by_edge = {x["edge_id"]: x for x in letters(central)}
    rejects = central.get("/api/ingest/rejects").json()
    for transport in ("nats", "mqtt"):
        for case in CORPUS:
            edge = edge_of(transport, case.name)
            if case.outcome != "dead":
                assert edge not in by_edge, (case.name, by_edge.get(edge))
                continue
            letter = by_edge[edge]
            assert case.reason in letter["reason"], (transport, case.name, letter["reason"])
            assert letter["consumer"] == "ingest" and letter["subject"] == f"tagpipe.devices.{edge}.data"
            assert letter["payload_size"] == len(case.raw)
            raw = central.get(f"/api/ingest/dead-letters/{letter['id']}/payload").content
            assert raw == case.raw[:KEEP]
            assert rejects[edge]["count"] == 1 and case.reason in rejects[edge]["recent"][0]["reason"]
    values = central.get("/api/tags")
    assert values.status_code == 200
    bad = {(t["edge_id"], t["name"]): t for t in values.json() if t["edge_id"] and t["edge_id"].startswith("p-")}
    for transport in ("nats", "mqtt"):
        for case in (c for c in CORPUS if c.outcome == "bad"):
            (name,) = json.loads(case.raw.replace(b"-Infinity", b"0").replace(b"Infinity", b"0").replace(
                b"NaN", b"0"))["tags"]
            tag = bad[(edge_of(transport, case.name), name)]
            assert (tag["value"], tag["quality"]) == (None, "bad"), (case.name, tag)
    assert not any(e.startswith(("p-nats-empty", "p-mqtt-empty")) for e, _ in bad)  # nothing stored for {"tags": {}}
    detail = central.get(f"/api/ingest/dead-letters/{by_edge[edge_of('nats', 'bad-utf8')]['id']}").json()
    assert detail["payload_text"] is None and detail["payload_truncated"] is False
    assert central.get(f"/api/ingest/dead-letters/{by_edge[edge_of('mqtt', '5mb-value')]['id']}").json()[
        "payload_truncated"] is True
    with central.browser() as browser:
        assert browser.get("/dead-letters").status_code == 200
    assert worker_alive(central)


async def test_a_connection_without_tags_and_its_empty_payloads_do_not_stop_ingest(central) -> None:
    """Issue 8: adding a connection with no tags made the edge publish {"tags": {}}, which killed the worker."""
    eq = central.post("/api/equipment", {"name": "Line 2"}).json()["id"]
    r = central.post("/api/connections", {"equipment_id": eq, "edge_id": "demo-edge", "name": "empty",
                                          "protocol": "simulator", "settings": {}, "interval_ms": 100})
    assert r.status_code == 201, r.text
    central.edge("demo-edge").start()
    nc = await central.bus()
    last = await async_wait_until(lambda: _last_data(nc, "demo-edge"), timeout=20, what="the edge publishing")
    await nc.close()
    assert last["tags"] == {} and last["connection_id"] == r.json()["id"]
    central.plant("simulator", {}, [{"name": "level", "address": "ramp", "data_type": "FLOAT64"}],
                  edge_id="demo-edge", interval_ms=100, equipment="Line 3")
    await async_wait_until(lambda: central.tag_values().get("level", {}).get("value") is not None, timeout=20,
                           what="values of the connection added after the empty one")
    assert worker_alive(central) and letters(central) == []


async def _last_data(nc: nats.NATS, edge: str) -> dict | None:
    try:
        msg = await nc.jetstream().get_last_msg("TAGPIPE_DEVICES", f"tagpipe.devices.{edge}.data")
    except nats.js.errors.NotFoundError:
        return None
    return json.loads(msg.data)


POISON_TRIGGER = ("CREATE TRIGGER poison BEFORE INSERT ON samples_hot WHEN NEW.value = 666 "
                  "BEGIN SELECT RAISE(ABORT, 'value 666 is refused by the database'); END")


async def test_a_message_the_store_cannot_write_is_dead_lettered_after_k_deliveries(central) -> None:
    """Validation lets 666 through, the database refuses it (a trigger stands for any constraint): its batch is
    bisected so the rest is stored, it is tried alone until delivered K (5) times, then parked; once the cause is
    gone, republishing it stores it."""
    with sqlite3.connect(central.data_dir / "tagpipe.db", timeout=30) as db:
        db.execute(POISON_TRIGGER)
    nc = await central.bus()
    js = nc.jetstream()
    now = int(time.time() * 1000)
    for i in range(50):
        body = {"timestamp": iso_timestamp(now - 1000 + i), "connection_id": 1, "tags": {"v": 666 if i == 25 else i}}
        await js.publish("tagpipe.devices.trigger-edge.data", json.dumps(body).encode())
    await nc.close()
    (letter,) = await async_wait_until(lambda: letters(central), timeout=40, what="the refused message parked")
    assert letter["reason"] == ("delivered 5 times without being stored; last error: IntegrityError: "
                                "value 666 is refused by the database")
    assert letter["deliveries"] == 5
    await async_wait_until(lambda: query(central, "SELECT COUNT(*) FROM samples s JOIN tags t ON t.id = s.tag_id "
                                                  "WHERE t.edge_id = 'trigger-edge'") == [(49,)],
                           timeout=20, what="the rest stored")
    assert worker_alive(central)

    with sqlite3.connect(central.data_dir / "tagpipe.db", timeout=30) as db:
        db.execute("DROP TRIGGER poison")
    r = central.post(f"/api/ingest/dead-letters/{letter['id']}/republish", {})
    assert r.status_code == 200, r.text
    await async_wait_until(lambda: query(central, "SELECT COUNT(*) FROM samples WHERE value = 666") == [(1,)],
                           timeout=20, what="the republished message stored")
    assert letters(central) == []
    assert central.get(f"/api/ingest/dead-letters/{letter['id']}").status_code == 404
    assert central.get("/api/ingest/rejects").json()["trigger-edge"]["count"] == 1  # counts stay


async def test_two_ingest_workers_discovering_the_same_new_tags_make_one_tag_each(central) -> None:
    second = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-m", "tagpipe", "worker", "--role", "ingest"], env=central.env,
        stdout=(central.data_dir / "worker-2.log").open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    central.procs.append(second)
    await asyncio.sleep(2.0)  # both consuming
    nc = await central.bus()
    js = nc.jetstream()
    now = int(time.time() * 1000)
    for round_ in range(40):
        for edge in range(5):  # every message brings new names, the same names from five edges' views
            tags = {f"t{round_}_{n}": float(n) for n in range(20)}
            body = {"timestamp": iso_timestamp(now - 1000 + round_), "connection_id": 7, "tags": tags}
            await js.publish(f"tagpipe.devices.race-{edge}.data", json.dumps(body).encode())
    await nc.close()
    await async_wait_until(lambda: query(central, "SELECT COUNT(*) FROM samples") == [(40 * 5 * 20,)], timeout=60,
                           what="every value stored")
    assert query(central, "SELECT COUNT(*), COUNT(DISTINCT key) FROM tags") == [(4000, 4000)]
    assert worker_alive(central) and second.poll() is None
    assert letters(central) == []
    logs = "".join(p.read_text() for p in central.data_dir.glob("worker*.log"))
    assert "IntegrityError" not in logs and "Traceback" not in logs
