"""Edges coming online and going offline, and answered commands, are events on the events stream."""

from __future__ import annotations

import asyncio

from tagpipe.contracts.events import CommandAnswered, EdgeStatusChanged
from tests.helpers import async_wait_until
from tests.plant.test_plc_features import post


async def test_edge_status_and_command_answers_are_events(central) -> None:
    nc = await central.bus()
    statuses: list[EdgeStatusChanged] = []
    answers: list[CommandAnswered] = []

    async def on_status(msg) -> None:  # type: ignore[no-untyped-def]
        statuses.append(EdgeStatusChanged.model_validate_json(msg.data))

    async def on_answer(msg) -> None:  # type: ignore[no-untyped-def]
        answers.append(CommandAnswered.model_validate_json(msg.data))

    await nc.subscribe("tagpipe.events.edges.>", cb=on_status)
    await nc.subscribe("tagpipe.events.commands.>", cb=on_answer)
    central.plant("simulator", {}, [{"name": "t", "address": "sine"}])
    edge = central.edge("edge-1", heartbeat=0.5).start()
    await async_wait_until(lambda: [s for s in statuses if s.status == "online"], timeout=20, what="online event")

    r = await post(central, "/api/fleet/devices/edge-1/commands?wait_s=5", {"command": "ping", "id": "ping-1"})
    assert r.json()["status"] == "ok", r.text
    await async_wait_until(lambda: answers, timeout=10, what="the command-answered event")
    assert answers[0].id == "ping-1" and answers[0].command == "ping" and answers[0].status == "ok"

    await asyncio.to_thread(edge.stop)
    await async_wait_until(lambda: [s for s in statuses if s.status == "offline"], timeout=20, what="offline event")
    assert [s.status for s in statuses] == ["online", "offline"], "one event per change, not per heartbeat"
    assert all(s.edge_id == "edge-1" for s in statuses)
    await nc.close()
