"""PLC -> edge agent -> NATS -> ingest -> API, against real processes and a real Modbus simulator."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt

from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tests.helpers import async_wait_until, wait_until

PRESS = [
    {"name": "temperature", "address": "40001", "data_type": "UINT16", "scale": 0.1, "unit": "°C"},
    {"name": "pressure", "address": "40002", "data_type": "FLOAT32", "unit": "bar"},
    {"name": "motor_running", "address": "00001", "data_type": "BOOL"},
    {"name": "part_counter", "address": "40010", "data_type": "UINT32", "byte_order": "LITTLE_ENDIAN_BYTE_SWAP"},
]


async def test_values_from_a_modbus_plc_reach_the_api(central) -> None:
    async with ModbusSim() as sim:
        await sim.set_value("40001", 2254)
        await sim.set_value("40002", 11.5, "FLOAT32")
        await sim.set_value("00001", True)
        await sim.set_value("40010", 70_000, "UINT32", "LITTLE_ENDIAN_BYTE_SWAP")
        central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port}, PRESS)
        central.edge("edge-1").start()

        expected = {"temperature": 225.4, "pressure": 11.5, "motor_running": True, "part_counter": 70_000}
        await async_wait_until(lambda: {k: v["value"] for k, v in central.tag_values().items()} == expected,
                               timeout=20, what="the PLC's values on /api/tags")
        tag = central.tag_values()["temperature"]
        assert tag["quality"] == "good" and tag["unit"] == "°C" and tag["equipment"] == "Press 1"

        await sim.set_value("40001", 2301)
        await async_wait_until(lambda: central.tag_values()["temperature"]["value"] == 230.1, timeout=5,
                               what="a changed PLC value on the API")
        edge = await async_wait_until(lambda: [d for d in central.get("/api/fleet/devices").json()
                                               if d["id"] == "edge-1" and d["status"] == "online"], timeout=10)
        assert edge[0]["devices"]["1"]["reads"] > 0


async def test_a_config_change_reaches_a_running_edge_within_two_seconds(central) -> None:
    async with ModbusSim() as sim:
        await sim.set_value("40001", 100)
        await sim.set_value("40020", 4242)
        ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port}, PRESS[:1], interval_ms=100)
        central.edge("edge-1").start()
        await async_wait_until(lambda: central.tag_values()["temperature"]["value"] == 10.0, timeout=20)

        added = time.monotonic()
        r = central.post("/api/tags", {"connection_id": ids["connection"]["id"], "name": "stroke", "address": "40020"})
        assert r.status_code == 201, r.text
        await async_wait_until(lambda: central.tag_values()["stroke"]["value"] == 4242, timeout=5, interval=0.02)
        assert time.monotonic() - added < 2.0


def test_edge_config_has_a_strong_etag_and_answers_304(central) -> None:
    ids = central.plant("simulator", {}, [{"name": "t", "address": "sine", "data_type": "FLOAT32"}])
    own = {"Authorization": f"Bearer {central.credentials('edge-1')}"}
    first = central.get("/api/fleet/v1/edges/edge-1/config", headers=own)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith('W/')
    body = first.json()
    assert body["version"] == etag.strip('"') and body["devices"][0]["tags"][0]["name"] == "t"
    for path in ("/api/fleet/v1/edges/edge-1/config", "/api/fleet/edge/edge-1/config"):
        assert central.get(path, headers={"If-None-Match": etag, **own}).status_code == 304
    central.post("/api/tags", {"connection_id": ids["connection"]["id"], "name": "u", "address": "ramp",
                               "data_type": "FLOAT32"})
    changed = central.get("/api/fleet/edge/edge-1/config", headers={"If-None-Match": etag, **own})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_bad_tags_are_refused_with_problem_json_naming_the_field(central) -> None:
    ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": 1502}, [])
    conn = ids["connection"]["id"]
    cases = [
        ({"data_type": "FLOAT128"}, "data_type"),
        ({"address": "4x0001"}, "address"),
        ({"address": "hr:70000"}, "address"),
        ({"scale": "ten"}, "scale"),
        ({"address": "00005", "data_type": "INT16"}, "data_type"),
    ]
    for change, field in cases:
        r = central.post("/api/tags", {"connection_id": conn, "name": "bad", "address": "40001", **change})
        assert r.status_code == 422, (change, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    r = central.post("/api/connections", {"equipment_id": ids["equipment_id"], "edge_id": "edge-1", "name": "x",
                                          "protocol": "modbus_tcp", "settings": {"host": "h", "port": "many"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "connection.port"
    assert central.get("/api/tags").json() == []


def test_a_plain_mqtt_client_publishing_the_seed_payload_is_stored(central) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="third-party")
    client.username_pw_set("edge-test-001", central.credentials("edge-test-001", kind="collector"))
    client.connect("127.0.0.1", central.nats.mqtt_port)
    client.loop_start()
    payload = {"timestamp": "2026-04-17T08:00:00.123Z", "equipment_id": 4, "connection_id": 1,
               "tags": {"temperature": 25.4, "pressure": 11.2, "status": True, "mode": "AUTO"}}
    client.publish("tagpipe/devices/edge-test-001/data", json.dumps(payload), qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    values = wait_until(lambda: central.tag_values() if len(central.tag_values()) == 4 else None, timeout=10)
    assert {k: v["value"] for k, v in values.items()} == payload["tags"]
    assert values["mode"]["edge_id"] == "edge-test-001"
    assert values["temperature"]["timestamp"] == "2026-04-17T08:00:00.123Z"


async def test_garbage_on_a_data_subject_is_counted_and_ingest_goes_on(central) -> None:
    nc = await central.bus()  # the server's principal may publish as any edge (it republishes dead letters)
    js = nc.jetstream()
    await js.publish("tagpipe.devices.bad-edge.data", b"not json at all")
    await js.publish("tagpipe.devices.bad-edge.data", json.dumps({"tags": [1, 2]}).encode())
    await js.publish("tagpipe.devices.good-edge.data", json.dumps({"timestamp": "2026-01-01T00:00:00Z",
                                                                    "tags": {"ok": 1}}).encode())
    await nc.close()
    await async_wait_until(lambda: "ok" in central.tag_values(), timeout=10, what="the good message stored")
    rejects = central.get("/api/ingest/rejects").json()
    assert rejects.get("bad-edge", {}).get("count") == 2, rejects
    assert "tags" in rejects["bad-edge"]["last_error"]
    assert set(central.tag_values()) == {"ok"}


async def test_a_heartbeat_of_an_approved_edge_makes_it_online_and_an_unknown_edge_registers_nothing(central) -> None:
    beat = {"cpu_percent": 25, "memory_percent": 45, "disk_percent": 60, "ip_address": "192.168.1.100",
            "status": "online", "heartbeat_interval_s": 0.5}
    server = await central.bus()  # may publish as any edge: an unknown edge's heartbeat reaches the worker
    await server.publish("tagpipe.devices.stranger.status", json.dumps(beat).encode())
    await server.flush()
    await server.close()
    nc = await central.edge_bus("edge-test-001", central.credentials("edge-test-001"))
    await nc.publish("tagpipe.devices.edge-test-001.status", json.dumps(beat).encode())
    await nc.flush()
    await nc.close()
    edge = await async_wait_until(lambda: [d for d in central.get("/api/fleet/devices").json()
                                           if d["id"] == "edge-test-001" and d["status"] == "online"], timeout=10)
    assert edge[0]["cpu_percent"] == 25 and edge[0]["ip_address"] == "192.168.1.100"
    assert edge[0]["admission"] == "approved"
    await async_wait_until(lambda: central.get("/api/fleet/devices/edge-test-001").json()["status"] == "offline",
                           timeout=10, what="offline after 3 missed heartbeats")
    detail = central.get("/api/fleet/devices/edge-test-001").json()
    assert len(detail["metrics"]) == 1 and detail["metrics"][0]["disk_percent"] == 60
    assert "stranger" not in {d["id"] for d in central.get("/api/fleet/devices").json()}
    assert central.get("/api/fleet/devices/stranger").status_code == 404
