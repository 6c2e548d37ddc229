"""The live dashboard's feed: one per server process, however many browser tabs are open.

It listens to StoredValues events (one subscription), keeps every tag's latest value in memory (seeded from the
database once), keeps the tag catalogue (refreshed when a ConfigChanged event says it changed, and every
``CATALOG_REFRESH_S`` as a fallback), and builds the dashboard's rows at most once a second for all tabs together.
In steady state a tab costs no database query at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tagpipe import plant
from tagpipe.bus import events
from tagpipe.contracts.events import ConfigChanged, StoredValues
from tagpipe.history.models import BAD
from tagpipe.ports import LatestValue

if TYPE_CHECKING:
    from tagpipe.services import Services

log = logging.getLogger(__name__)
STATE_KEY = "history.live"
CATALOG_REFRESH_S = 30.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The dashboard's rows per equipment, built once for every tab; ``version`` changes when anything shown does."""

    version: tuple[int, int, int]
    equipment: dict[str, list[dict[str, Any]]]


class LiveFeed:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.values: dict[int, LatestValue] = {}
        # (id, equipment, name, unit, writable, data_type) per tag, by equipment and id: what a row shows, in a tuple
        # (a dict of the full catalogue per tag cost ~1 KB, 100 MB at 100,000 tags).
        self.catalog: list[tuple[int, str, str, str, bool, str]] = []
        self.value_version = 0
        self.catalog_version = 0
        self._catalog_stale = asyncio.Event()
        self._snapshot: Snapshot | None = None
        self.events = 0

    # -- feeding ---------------------------------------------------------------------------------

    def on_values(self, event: StoredValues) -> None:
        self.events += 1
        values = self.values
        changed = False
        for tag_id, ts, value, quality in event.values:
            old = values.get(tag_id)
            if old is None or ts >= old.ts:
                # A bad reading keeps the last good value on show, as the stored latest value does.
                shown = old.value if quality == BAD and old is not None else value
                values[tag_id] = LatestValue(tag_id, ts, shown, "bad" if quality == BAD else "good")
                changed = True
        if changed:
            self.value_version += 1

    def on_config(self, _: ConfigChanged) -> None:
        self._catalog_stale.set()

    async def _refresh_catalog(self) -> None:
        full = await self.services.run_db(plant.tag_catalog)
        self.catalog = sorted(((t["id"], t["equipment"], t["name"], t["unit"], t["writable"], t["data_type"])
                               for t in full), key=lambda t: (t[1], t[0]))
        del full
        self.catalog_version += 1

    async def fresh(self) -> None:
        """Refresh the catalogue when a dashboard opens (one query per page load, none while it stays open), for a
        change that reached the database without an event (another tool, a lost event)."""
        await self._refresh_catalog()

    async def _seed(self) -> None:
        stored = await self.services.run_db(self.services.ports.latest_values)
        for tag_id, lv in stored.items():
            old = self.values.get(tag_id)
            if old is None or lv.ts > old.ts:
                self.values[tag_id] = lv
        self.value_version += 1

    async def run(self) -> None:
        """Refresh the catalogue now and whenever it changes; subscribe to values once the bus is there."""
        await self._refresh_catalog()
        while self.services.nc is None:  # noqa: ASYNC110 - the server connects in the background, signalling nothing
            await asyncio.sleep(0.2)
        nc, subjects = self.services.nc, self.services.subjects
        await events.listen(nc, subjects, StoredValues, self.on_values)
        await events.listen(nc, subjects, ConfigChanged, self.on_config)
        await self._seed()  # after subscribing: nothing stored in between is missed
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CATALOG_REFRESH_S):
                    await self._catalog_stale.wait()
            self._catalog_stale.clear()
            try:
                await self._refresh_catalog()
            except Exception as e:  # noqa: BLE001 - keep showing the last catalogue
                log.warning("refreshing the tag catalogue failed: %s", e)

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self, fmt: Any) -> Snapshot:
        """Rows per equipment (sorted), formatted by ``fmt(value, age_s)``; rebuilt at most once a second."""
        version = (self.value_version, self.catalog_version, int(time.time()))
        if self._snapshot is not None and self._snapshot.version == version:
            return self._snapshot
        now_ms = time.time() * 1000
        by_equipment: dict[str, list[dict[str, Any]]] = {}
        for tag_id, equipment, name, unit, writable, data_type in self.catalog:
            lv = self.values.get(tag_id)
            value, age = fmt(lv.value if lv else None, (now_ms - lv.ts) / 1000 if lv else None)
            by_equipment.setdefault(equipment, []).append(
                {"id": tag_id, "name": name, "value": value, "unit": unit, "quality": lv.quality if lv else "—",
                 "age": age, "writable": writable, "data_type": data_type})
        self._snapshot = Snapshot(version, by_equipment)
        return self._snapshot


@contextlib.asynccontextmanager
async def live_feed(services: Services) -> AsyncIterator[None]:
    """The history feature's lifespan in a server process: the feed runs as long as the server."""
    feed = LiveFeed(services)
    services.state[STATE_KEY] = feed
    task = asyncio.create_task(feed.run(), name="history-live-feed")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        services.state.pop(STATE_KEY, None)


def feed_of(services: Services) -> LiveFeed:
    feed = services.state.get(STATE_KEY)
    if feed is None:
        raise RuntimeError("the live feed runs in the server's lifespan")
    assert isinstance(feed, LiveFeed)
    return feed
