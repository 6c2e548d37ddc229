"""The seed's hook examples end to end: API -> edge config -> sandbox on a real edge -> NATS -> values stored
centrally."""

from __future__ import annotations

import asyncio
import json
import time

from nats.js.api import DeliverPolicy

from tagpipe.bus.security import WORKER
from tagpipe.contracts.config import DataType
from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tests.helpers import async_wait_until

API = "/api/fleet/scripts"
LINE = [
    {"name": "voltage", "address": "40001", "data_type": "FLOAT32", "unit": "V"},
    {"name": "current", "address": "40003", "data_type": "FLOAT32", "unit": "A"},
    {"name": "temperature", "address": "40005", "data_type": "UINT16"},
    {"name": "running", "address": "00001", "data_type": "BOOL"},
]


def _examples(central) -> dict[str, str]:
    return {t["name"]: t["example"] for t in central.get(f"{API}/hook-types").json()}


async def _line(sim: ModbusSim, *, voltage: float = 220.0, current: float = 5.0, temperature: int = 25,
                running: bool = True) -> None:
    await sim.set_value("40001", voltage, DataType.FLOAT32)
    await sim.set_value("40003", current, DataType.FLOAT32)
    await sim.set_value("40005", temperature)
    await sim.set_value("00001", running)


async def test_seed_examples_derive_power_raise_alarms_and_shape_the_payload(central) -> None:
    examples = _examples(central)
    async with ModbusSim() as sim:
        await _line(sim, voltage=230.0, current=4.5, temperature=85)
        ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port}, LINE)
        conn = ids["connection"]["id"]
        for hook, name in (("derived_tags", "power"), ("alarm", "hot"), ("pre_send", "meta")):
            r = central.post(API, {"name": name, "hook_type": hook, "scope": "connection", "connection_id": conn,
                                   "code": examples[hook]})
            assert r.status_code == 201, r.text
        alarm_id = central.get(API, params={"hook_type": "alarm"}).json()[0]["id"]

        nc = await central.bus(WORKER)  # reads what an edge publishes through the stream, as the workers do
        alarms = await nc.jetstream().subscribe("tagpipe.devices.edge-1.alarms", deliver_policy=DeliverPolicy.NEW)
        data = await nc.jetstream().subscribe("tagpipe.devices.edge-1.data", deliver_policy=DeliverPolicy.NEW)
        central.edge("edge-1").start()
        try:
            msg = await alarms.next_msg(timeout=30)
            alarm = json.loads(msg.data)
            assert alarm == {"level": "warning", "tag": "temperature", "value": 85, "message": "temperature 85 > 80",
                             "script_id": alarm_id}
            payload = json.loads((await data.next_msg(timeout=10)).data)
            assert payload["tag_count"] == 5 and payload["company_code"] == ""  # pre_send's metadata arrives
            assert payload["tags"]["power"] == 1035.0 and payload["connection_id"] == conn
        finally:
            await nc.close()
        await async_wait_until(lambda: central.tag_values().get("power", {}).get("value") == 1035.0, timeout=10,
                               what="the derived power tag on /api/tags")
        assert central.tag_values()["power"]["equipment"] == "Press 1"

        await sim.set_value("40003", 2.0, DataType.FLOAT32)
        await async_wait_until(lambda: central.tag_values()["power"]["value"] == 460.0, timeout=5)


async def test_a_filter_publishes_only_while_running(central) -> None:
    async with ModbusSim() as sim:
        await _line(sim, running=True)
        ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port}, LINE, interval_ms=100)
        central.post(API, {"name": "only running", "hook_type": "filter", "scope": "equipment",
                           "equipment_id": ids["equipment_id"], "code": _examples(central)["filter"]})
        central.edge("edge-1").start()
        tag = ids["tags"]["voltage"]

        def count() -> int:
            return sum(p["count"] for p in central.samples(tag))

        await async_wait_until(lambda: count() >= 3, timeout=20, what="samples while running")

        await sim.set_value("00001", False)
        await asyncio.sleep(1.0)  # samples already in flight land
        stopped = count()
        await asyncio.sleep(2.0)
        assert count() == stopped, "no new samples while running is false"
        await sim.set_value("00001", True)
        await async_wait_until(lambda: count() >= stopped + 3, timeout=5, what="samples again once running")


async def test_a_changed_transform_applies_on_a_running_edge_within_two_seconds_and_stats_arrive(central) -> None:
    async with ModbusSim() as sim:
        await _line(sim, temperature=650)
        central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port}, LINE, interval_ms=100)
        code = ("def transform(tag_name, raw_value, context):\n    if tag_name == 'temperature':\n"
                "        return raw_value * 0.1\n    return raw_value\n")
        sid = central.post(API, {"name": "scale", "hook_type": "transform", "scope": "device", "device_id": "edge-1",
                                 "code": code}).json()["id"]
        central.edge("edge-1").start()
        await async_wait_until(lambda: central.tag_values()["temperature"]["value"] == 65.0, timeout=20)

        put = time.monotonic()
        r = central.put(f"{API}/{sid}", {"code": code.replace("raw_value * 0.1", "raw_value * 0.1 - 40")})
        assert r.status_code == 200 and r.json()["version"] == 2
        await async_wait_until(lambda: central.tag_values()["temperature"]["value"] == 25.0, timeout=5, interval=0.02)
        assert time.monotonic() - put < 2.0

        broken = code.replace("raw_value * 0.1", "raw_value / (tag_name == 'nothing')")
        central.put(f"{API}/{sid}", {"code": broken})
        stats = await async_wait_until(
            lambda: [s for s in central.get(f"{API}/{sid}/stats").json() if s["errors"] > 0], timeout=10,
            what="the edge's heartbeat to report the failing script")
        assert stats[0]["edge_id"] == "edge-1" and stats[0]["runs"] > 0
        assert "ZeroDivisionError" in stats[0]["last_error"] and stats[0]["last_error_line"] == 3
        assert central.tag_values()["voltage"]["value"] == 220.0, "collection goes on while a hook fails"
