"""The dashboard's live feed follows stored values only while a dashboard is open, and forgets them after."""

from __future__ import annotations

import asyncio

import nats
import pytest

from tagpipe.bus import events
from tagpipe.bus.security import SERVER
from tagpipe.contracts import Subjects
from tagpipe.features import FEATURES
from tagpipe.history import live
from tagpipe.services import build_services
from tagpipe.settings import Settings
from tests.conftest import login, sqlite_with_admin
from tests.helpers import async_wait_until


async def publish_values(nc: nats.NATS, subjects: Subjects, tag_id: int, ts: int, value: float) -> None:
    """Publish one StoredValues event and wait until this connection has delivered everything published before."""
    await nc.publish(subjects.event("values", tag_id % 16), events.compact([(tag_id, ts, value, 0)], tag_id % 16))
    sentinel = subjects.event("values", "sentinel")
    sub = await nc.subscribe(sentinel)
    await nc.publish(sentinel, b"")
    await sub.next_msg(timeout=5)  # messages of one connection arrive in order: the event was delivered first
    await sub.unsubscribe()


async def test_the_feed_holds_nothing_unless_a_dashboard_watches(tmp_path, nats_server, monkeypatch) -> None:
    monkeypatch.setattr(live, "LINGER_S", 0.2)
    monkeypatch.setattr(live, "CATALOG_REFRESH_S", 0.1)
    sqlite_with_admin(tmp_path / "tagpipe.db")
    services = build_services(Settings(data_dir=tmp_path), FEATURES)
    services.nc = await nats.connect(nats_server.url, **login(nats_server, SERVER))
    feed = live.LiveFeed(services)
    task = asyncio.create_task(feed.run())
    try:
        await publish_values(services.nc, services.subjects, 7, 1_000, 1.5)
        assert feed.values == {} and feed.events == 0, "nobody watches: no value is decoded or kept"

        await feed.watch()
        await async_wait_until(lambda: feed.value_version > 0, timeout=10, what="the feed seeded")
        await publish_values(services.nc, services.subjects, 7, 2_000, 2.5)
        assert feed.values[7].value == 2.5

        feed.unwatch()
        await async_wait_until(lambda: not feed.values, timeout=10, what="the feed forgot its values")
        await publish_values(services.nc, services.subjects, 7, 3_000, 3.5)
        seen = feed.events
        await publish_values(services.nc, services.subjects, 7, 4_000, 4.5)
        assert feed.values == {} and feed.events == seen, "after the last dashboard closed the feed stops following"

        await feed.watch()  # a dashboard opens again: following again

        async def followed() -> bool:
            await publish_values(services.nc, services.subjects, 7, 5_000, 5.5)
            return 7 in feed.values and feed.values[7].value == 5.5

        await async_wait_until(followed, timeout=10, what="the feed following again")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await services.nc.close()
        services.engine.dispose()
