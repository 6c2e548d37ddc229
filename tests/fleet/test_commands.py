"""Commands are request/reply with an idempotency key: a retried command is never carried out twice."""

from __future__ import annotations

import asyncio
import json

from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tests.helpers import async_wait_until
from tests.plant.test_plc_features import mb_table, post


async def _online_writable(central, sim: ModbusSim) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port},
                        [{"name": "setpoint", "address": "40005", "writable": True}])
    central.edge("edge-1").start()
    await async_wait_until(lambda: any(d["id"] == "edge-1" and d["status"] == "online"
                                       for d in central.get("/api/fleet/devices").json()), timeout=20)
    await async_wait_until(lambda: central.tag_values()["setpoint"]["value"] is not None, timeout=20)
    return ids["tags"]["setpoint"], str(ids["connection"]["id"])


async def test_a_command_sent_again_with_its_id_is_answered_not_repeated(central) -> None:
    async with ModbusSim() as sim:
        _, device = await _online_writable(central, sim)
        body = {"id": "retry-1", "command": "write", "params": {"device_id": device, "tag": "setpoint", "value": 11}}
        first = await post(central, "/api/fleet/devices/edge-1/commands?wait_s=5", body)
        assert first.status_code == 202 and first.json()["status"] == "ok", first.text
        assert (await sim.get_raw(mb_table("40005"), 4))[0] == 11

        await sim.set_value("40005", 3)  # the operator changed it at the panel since
        again = await post(central, "/api/fleet/devices/edge-1/commands?wait_s=5", body)
        assert again.json() == first.json(), "the stored answer, not a second write"
        assert (await sim.get_raw(mb_table("40005"), 4))[0] == 3

        other = await post(central, "/api/fleet/devices/edge-1/commands",
                           {**body, "command": "ping", "params": {}})
        assert other.status_code == 409 and other.headers["content-type"] == "application/problem+json"


async def test_the_edge_executes_a_repeated_command_id_once(central) -> None:
    """Even straight on the bus (a server that retried after losing the answer), one id is one write."""
    async with ModbusSim() as sim:
        _, device = await _online_writable(central, sim)
        nc = await central.bus()
        answers: list[dict] = []

        async def on_answer(msg) -> None:  # type: ignore[no-untyped-def]
            answers.append(json.loads(msg.data))

        await nc.subscribe("tagpipe.devices.edge-1.responses", cb=on_answer)
        command = json.dumps({"id": "bus-1", "command": "write",
                              "params": {"device_id": device, "tag": "setpoint", "value": 21}}).encode()
        await nc.publish("tagpipe.devices.edge-1.commands", command)
        await async_wait_until(lambda: len(answers) == 1, timeout=10)
        await sim.set_value("40005", 5)
        await nc.publish("tagpipe.devices.edge-1.commands", command)
        await async_wait_until(lambda: len(answers) == 2, timeout=10)
        assert answers[0] == answers[1] and answers[0]["ok"] is True
        await asyncio.sleep(0)
        assert (await sim.get_raw(mb_table("40005"), 4))[0] == 5, "the second delivery did not write again"
        await nc.close()


async def test_a_write_answers_without_polling_the_database(central) -> None:
    """The answer arrives over the bus: the server sends no query while it waits."""
    async with ModbusSim() as sim:
        setpoint, _ = await _online_writable(central, sim)

        def queries() -> int:
            text = central.get("/api/metrics").text
            return int(next(line.split()[1] for line in text.splitlines()
                            if line.startswith("tagpipe_db_queries_total")))

        before = queries()
        r = await post(central, f"/api/tags/{setpoint}/write", {"value": 17})
        assert r.status_code == 200 and r.json()["value"] == 17, r.text
        # validating the tag, the edge's status and recording the command: a handful, not one per 50 ms of waiting
        assert queries() - before < 15
