"""Every PLC from the user's side: Test connection, OPC UA browse, writes, bad input, a dead or restarted device.

The simulators run in this test's event loop, so API calls that make the server or an edge talk to them go
through ``asyncio.to_thread`` (a blocking call would starve the simulator).
"""

from __future__ import annotations

import asyncio
import time
from typing import Self

import pytest

from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tagpipe.drivers.sims.opcua import OpcUaSim
from tagpipe.drivers.sims.s7 import S7Sim
from tagpipe.drivers.sims.xgt import XgtSim
from tests.helpers import async_wait_until, free_port


async def post(central, path: str, body: object):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(central.post, path, body)


# -- Test connection ------------------------------------------------------------------------------

async def test_test_connection_reads_every_tag_of_each_protocol(central) -> None:
    async with ModbusSim() as mb, S7Sim() as s7, XgtSim() as xgt, OpcUaSim() as ua:
        await mb.set_value("40001", 2254)
        s7.set_value("DB1.DBD4", 12.5, "FLOAT32")
        xgt.set_value("%DW10", -7, "INT16")
        cases = [
            ("modbus_tcp", {"host": "127.0.0.1", "port": mb.port},
             [{"name": "temperature", "address": "40001", "scale": 0.1}], {"temperature": 225.4}),
            ("s7", {"host": "127.0.0.1", "port": s7.port},
             [{"name": "flow", "address": "DB1.DBD4", "data_type": "FLOAT32"}], {"flow": 12.5}),
            ("plc_ethernet", {"host": "127.0.0.1", "port": xgt.port},
             [{"name": "level", "address": "%DW10", "data_type": "INT16"}], {"level": -7}),
            ("opcua", {"endpoint_url": ua.url},
             [{"name": "t", "address": ua.nodes["FLOAT32"], "data_type": "FLOAT32"}], {"t": 21.5}),
        ]
        for protocol, settings, tags, expected in cases:
            r = await post(central, "/api/connections/test", {"protocol": protocol, "settings": settings, "tags": tags})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["ok"] is True and body["error"] is None, (protocol, body)
            assert {k: v["value"] for k, v in body["values"].items()} == pytest.approx(expected), protocol
    assert central.get("/api/connections").json() == [], "a test saves nothing"


async def test_test_connection_says_precisely_why_it_failed(central) -> None:
    closed = free_port()
    r = await post(central, "/api/connections/test", {"protocol": "modbus_tcp",
                                                      "settings": {"host": "127.0.0.1", "port": closed}, "tags": []})
    body = r.json()
    assert r.status_code == 200 and body["ok"] is False and body["reason"] == "refused"
    assert f"127.0.0.1:{closed}" in body["error"] and "refused" in body["error"]

    async with S7Sim() as s7:
        r = await post(central, "/api/connections/test", {
            "protocol": "s7", "settings": {"host": "127.0.0.1", "port": s7.port},
            "tags": [{"name": "ok_tag", "address": "DB1.DBW0", "data_type": "INT16"},
                     {"name": "missing_db", "address": "DB42.DBW0", "data_type": "INT16"}]})
    body = r.json()
    assert body["ok"] is False and body["reason"] == "tags failed"
    assert body["values"]["ok_tag"] == {"value": 0, "error": None, "reason": None}
    assert body["values"]["missing_db"]["reason"] == "unknown address"
    assert "missing_db" in body["error"] and "DB42" in body["error"]

    async with OpcUaSim() as ua:
        r = await post(central, "/api/connections/test", {
            "protocol": "opcua", "settings": {"endpoint_url": ua.url},
            "tags": [{"name": "s", "address": ua.nodes["STRING"], "data_type": "INT16"}]})
    assert r.json()["values"]["s"]["reason"] == "wrong data type"


async def test_a_saved_connection_is_tested_with_its_stored_tags(central) -> None:
    async with ModbusSim() as mb:
        await mb.set_value("40003", 77)
        ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": mb.port},
                            [{"name": "speed", "address": "40003"}])
        r = await post(central, f"/api/connections/{ids['connection']['id']}/test", {})
    assert r.json()["values"] == {"speed": {"value": 77, "error": None, "reason": None}}


# -- OPC UA browse --------------------------------------------------------------------------------

async def test_browse_lists_plc1_variables_with_type_and_unit(central) -> None:
    async with OpcUaSim() as ua:
        top = await post(central, "/api/opcua/browse", {"settings": {"endpoint_url": ua.url}})
        assert top.status_code == 200, top.text
        plc1 = next(n for n in top.json() if n["display_name"] == "PLC1")
        assert plc1["node_class"] == "Object"
        r = await post(central, "/api/opcua/browse", {"settings": {"endpoint_url": ua.url}, "node_id": plc1["node_id"]})
    children = {n["display_name"]: n for n in r.json()}
    assert children["Float32"] == {"node_id": ua.nodes["FLOAT32"], "browse_name": "2:Float32",
                                   "display_name": "Float32", "node_class": "Variable", "data_type": "FLOAT32",
                                   "unit": "°C", "writable": True}
    assert children["ReadOnly"]["writable"] is False and children["Motor"]["node_class"] == "Object"
    bad = await post(central, "/api/opcua/browse", {"settings": {"endpoint_url": ua.url}, "node_id": "ns=x;s="})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "node_id"


# -- bad input is refused at save, per protocol ---------------------------------------------------

BAD_TAGS = [  # protocol, settings, tag change, field named
    ("s7", {"host": "10.0.0.1"}, {"address": "DB1.DBQ4"}, "address"),
    ("s7", {"host": "10.0.0.1"}, {"address": "DB1.DBX0.0", "data_type": "FLOAT32"}, "data_type"),
    ("xgt", {"host": "10.0.0.1"}, {"address": "%YW1"}, "address"),  # %ZW1 is XGK's index register: valid
    ("plc_ethernet", {"host": "10.0.0.1"}, {"address": "MW"}, "address"),
    ("opcua", {"endpoint_url": "opc.tcp://10.0.0.1:4840"}, {"address": "ns=x;s="}, "address"),
    ("modbus_tcp", {"host": "10.0.0.1"}, {"address": "4x1"}, "address"),
    ("modbus_tcp", {"host": "10.0.0.1"}, {"address": "00001", "data_type": "FLOAT32"}, "data_type"),
    ("simulator", {}, {"address": "square"}, "address"),
]
BAD_SETTINGS = [  # protocol, settings, field named
    ("modbus_tcp", {"host": "10.0.0.1", "port": "many"}, "connection.port"),
    ("modbus_tcp", {"host": "10.0.0.1", "unit_id": 300}, "connection.unit_id"),
    ("s7", {"host": "10.0.0.1", "rack": "zero"}, "connection.rack"),
    ("xgt", {"host": "10.0.0.1", "cpu": "XGZ"}, "connection.cpu"),
    ("opcua", {"endpoint_url": "http://10.0.0.1"}, "connection.endpoint_url"),
    ("opcua", {"endpoint_url": "opc.tcp://h:4840", "timeout_s": "soon"}, "connection.timeout_s"),
    ("profibus", {}, "protocol"),
]


def test_bad_tags_and_settings_are_refused_per_protocol_and_nothing_is_saved(central) -> None:
    eq = central.post("/api/equipment", {"name": "Line"}).json()["id"]
    for protocol, settings, change, field in BAD_TAGS:
        r = central.post("/api/connections", {"equipment_id": eq, "edge_id": "e1", "name": protocol,
                                              "protocol": protocol, "settings": settings})
        assert r.status_code == 201, r.text
        r = central.post("/api/tags", {"connection_id": r.json()["id"], "name": "bad", "address": "x", **change})
        assert r.status_code == 422, (protocol, change, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        error = r.json()["errors"][0]
        assert error["field"] == field and "expected" in error["message"], (protocol, change, error)
        probe = central.post("/api/connections/test", {"protocol": protocol, "settings": settings,
                                                       "tags": [{"name": "bad", "address": "x", **change}]})
        assert probe.status_code == 422 and probe.json()["errors"][0]["field"] == f"tags.0.{field}", probe.text
    for protocol, settings, field in BAD_SETTINGS:
        r = central.post("/api/connections", {"equipment_id": eq, "edge_id": "e1", "name": "bad",
                                              "protocol": protocol, "settings": settings})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (protocol, settings, r.text)
        probe = central.post("/api/connections/test", {"protocol": protocol, "settings": settings})
        assert probe.status_code == 422 and probe.json()["errors"][0]["field"] == field, probe.text
    assert central.get("/api/tags").json() == []
    assert all(c["name"] != "bad" for c in central.get("/api/connections").json())


# -- writes ---------------------------------------------------------------------------------------

async def test_a_write_reaches_the_plc_through_the_edge_and_reads_back(central) -> None:
    async with ModbusSim() as mb:
        await mb.set_value("40005", 100)
        ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": mb.port}, [
            {"name": "setpoint", "address": "40005", "scale": 0.1, "unit": "°C", "writable": True},
            {"name": "actual", "address": "40006"},
        ])
        setpoint, actual = ids["tags"]["setpoint"], ids["tags"]["actual"]
        offline = await post(central, f"/api/tags/{setpoint}/write", {"value": 1})
        assert offline.status_code == 409 and "never connected" in offline.json()["detail"]

        central.edge("edge-1").start()
        await async_wait_until(lambda: central.tag_values()["setpoint"]["value"] == 10.0, timeout=20)
        await async_wait_until(lambda: any(d["id"] == "edge-1" and d["status"] == "online"
                                           for d in central.get("/api/fleet/devices").json()), timeout=10)
        r = await post(central, f"/api/tags/{setpoint}/write", {"value": 42.5})
        assert r.status_code == 200, r.text
        assert r.json()["ok"] is True and r.json()["value"] == 42.5
        assert (await mb.get_raw(mb_table("40005"), 4))[0] == 425

        not_writable = await post(central, f"/api/tags/{actual}/write", {"value": 1})
        assert not_writable.status_code == 422 and not_writable.json()["errors"][0]["field"] == "writable"
        for value in (7000, -1, "hot", True):  # 7000 °C is 70000 raw: beyond UINT16
            r = await post(central, f"/api/tags/{setpoint}/write", {"value": value})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "value", (value, r.text)
        assert (await mb.get_raw(mb_table("40005"), 4))[0] == 425, "a refused write changes nothing"
        assert (await post(central, "/api/tags/99999/write", {"value": 1})).status_code == 404


def mb_table(address: str):  # type: ignore[no-untyped-def]
    from tagpipe.codec.modbus_address import parse_modbus_address

    return parse_modbus_address(address).table


# -- a dead device, a restarted device ------------------------------------------------------------

class BlackHole:
    """A TCP port that accepts connections and never answers."""

    async def __aenter__(self) -> Self:
        self.held: list[asyncio.StreamWriter] = []

        async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.held.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self.held:
            w.close()
        self.server.close()


async def test_a_dead_device_does_not_slow_a_healthy_one_on_the_same_edge(central) -> None:
    interval_s = 0.2
    async with ModbusSim() as mb, BlackHole() as hole:
        healthy = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": mb.port},
                                [{"name": "counter", "address": "40001"}], interval_ms=int(interval_s * 1000))
        central.plant("modbus_tcp", {"host": "127.0.0.1", "port": hole.port, "timeout_s": 1.0},
                      [{"name": "dead", "address": "40001"}], interval_ms=int(interval_s * 1000), equipment="Dead")
        central.edge("edge-1").start()
        await async_wait_until(lambda: central.tag_values()["counter"]["quality"] == "good", timeout=20)
        await async_wait_until(lambda: central.tag_values()["dead"]["quality"] == "bad", timeout=10)
        tag_id = healthy["tags"]["counter"]
        window_s = 4.0
        start_ms = int(time.time() * 1000)
        await asyncio.sleep(window_s)
        end_ms = start_ms + int(window_s * 1000)
        await asyncio.sleep(1.0)  # let the window's last samples land
        samples = await asyncio.to_thread(central.samples, tag_id)
    in_window = [p for p in samples if start_ms <= p["ts"] < end_ms]
    expected = window_s / interval_s
    assert len(in_window) >= 0.9 * expected, f"{len(in_window)} samples in {window_s} s, expected {expected:.0f}"


async def test_a_restarted_simulator_recovers_without_restarting_the_agent(central) -> None:
    port = free_port()
    sim = ModbusSim(port=port)
    await sim.start()
    await sim.set_value("40001", 11)
    central.plant("modbus_tcp", {"host": "127.0.0.1", "port": port, "timeout_s": 0.5},
                  [{"name": "level", "address": "40001"}], interval_ms=200)
    edge = central.edge("edge-1").start()
    try:
        await async_wait_until(lambda: central.tag_values()["level"]["value"] == 11, timeout=20)
        await sim.stop()
        await async_wait_until(lambda: central.tag_values()["level"]["quality"] == "bad", timeout=10,
                               what="bad quality while the PLC is down")
        sim = ModbusSim(port=port)
        await sim.start()
        await sim.set_value("40001", 12)
        await async_wait_until(lambda: (t := central.tag_values()["level"])["value"] == 12 and t["quality"] == "good",
                               timeout=15, what="recovery after the PLC came back")
        assert edge.proc is not None and edge.proc.poll() is None, "the agent was not restarted"
        health = await async_wait_until(lambda: (d := central.get("/api/fleet/devices/edge-1").json()["devices"])
                                        and d["1"]["status"] == "ok" and d["1"], timeout=10)
        assert health["errors"] > 0 and health["last_error"] is None, health
    finally:
        await sim.stop()


# -- the mixed demo plant -------------------------------------------------------------------------

def test_the_mixed_demo_configures_one_valid_plc_of_every_protocol(tmp_path) -> None:
    from sqlalchemy.orm import Session

    from tagpipe import drivers
    from tagpipe.contracts.config import TagConfig
    from tagpipe.db import make_engine, upgrade
    from tagpipe.demo import seed_mixed
    from tagpipe.plant.models import Connection
    from tagpipe.settings import Settings

    settings = Settings(data_dir=tmp_path)
    upgrade(settings.db_url)
    seed_mixed(settings)
    seed_mixed(settings)  # a second start adds nothing
    with Session(make_engine(settings.db_url)) as s:
        conns = list(s.query(Connection))
        assert sorted(c.protocol for c in conns) == sorted(drivers.DRIVERS)
        for c in conns:
            drivers.validate_settings(c.protocol, c.settings)
            for t in c.tags:
                drivers.validate_tag(c.protocol, TagConfig.model_validate(t, from_attributes=True))
            assert c.tags and c.edge_id == "demo-edge"


async def test_an_xgt_tag_saved_without_byte_order_reads_in_the_plcs_own_order(central) -> None:
    async with XgtSim() as xgt:
        xgt.set_value("%DW10", -7, "INT16")
        xgt.set_value("%DD20", 123456, "INT32")
        ids = central.plant("xgt", {"host": "127.0.0.1", "port": xgt.port},
                            [{"name": "delta", "address": "%DW10", "data_type": "INT16"},
                             {"name": "count", "address": "%DD20", "data_type": "INT32"}])
        assert central.get(f"/api/tags/{ids['tags']['delta']}/config").json()["byte_order"] is None
        central.edge("edge-1").start()
        await async_wait_until(lambda: {k: v["value"] for k, v in central.tag_values().items()}
                               == {"delta": -7, "count": 123456}, timeout=20, what="XGT values in native order")
