"""Stored values and configuration changes are typed events on the events stream, after the commit."""

from __future__ import annotations

import asyncio
import json

from tagpipe.contracts.events import ConfigChanged, StoredValues
from tests.helpers import async_wait_until


async def test_stored_values_are_published_by_tag_id_after_they_are_queryable(central) -> None:
    nc = await central.bus()
    seen: list[StoredValues] = []
    queryable_when_seen: list[bool] = []

    ids = central.plant("simulator", {}, [{"name": "cycle", "address": "count", "data_type": "INT64"}],
                        interval_ms=200)
    tag_id = ids["tags"]["cycle"]

    async def on_values(msg) -> None:  # type: ignore[no-untyped-def]
        event = StoredValues.model_validate_json(msg.data)
        mine = [row for row in event.values if row[0] == tag_id]
        if mine and len(seen) < 3:
            seen.append(event)
            stored = await asyncio.to_thread(central.samples, tag_id)
            queryable_when_seen.append(any(int(p["avg"]) == mine[-1][2] for p in stored))

    await nc.subscribe("tagpipe.events.values.>", cb=on_values)
    central.edge("edge-1").start()
    await async_wait_until(lambda: len(queryable_when_seen) >= 3, timeout=30, what="three value events")
    assert all(queryable_when_seen), "an event is published only after its values are committed"
    event = seen[0]
    assert event.v == 1 and event.partition == tag_id % 16
    row = next(r for r in event.values if r[0] == tag_id)
    assert isinstance(row[1], int) and isinstance(row[2], int) and row[3] == 0
    await nc.close()


async def test_a_configuration_change_is_an_event(central) -> None:
    nc = await central.bus()
    changes: list[ConfigChanged] = []

    async def on_config(msg) -> None:  # type: ignore[no-untyped-def]
        changes.append(ConfigChanged.model_validate_json(msg.data))

    await nc.subscribe("tagpipe.events.config.>", cb=on_config)
    await asyncio.to_thread(central.plant, "simulator", {}, [{"name": "t", "address": "sine"}], edge_id="edge-7")
    await async_wait_until(lambda: any("edge-7" in c.edges for c in changes), timeout=10)
    assert {c.feature for c in changes} == {"plant"}
    js = nc.jetstream()
    info = await js.stream_info("TAGPIPE_EVENTS")
    assert info.state.messages >= 1, "events are kept in the events stream, not only sent"
    raw = json.loads((await js.get_last_msg("TAGPIPE_EVENTS", "tagpipe.events.config.plant")).data)
    assert raw["v"] == 1 and raw["feature"] == "plant"
    await nc.close()


def test_an_encoded_values_event_holds_every_kind_of_stored_value() -> None:
    from tagpipe.bus.events import compact

    rows = [(1, 10, 2.5, 0), (2, 10, -0.0, 0), (3, 10, 2**63 - 1, 0), (4, 10, None, 1), (5, 10, "text", 0),
            (6, 10, {"nested": [1, True]}, 0)]
    event = StoredValues.model_validate_json(compact(rows, 3))
    assert event.partition == 3 and event.values == rows
    big = [(7, 10, 2**70, 0)]  # beyond 64 bits: still exact
    assert StoredValues.model_validate_json(compact(big, 3)).values == big
