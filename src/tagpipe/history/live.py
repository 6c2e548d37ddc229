"""The live dashboard's feed: one per server process, however many browser tabs are open.

While a dashboard is open (and ``LINGER_S`` after the last one closed), it listens to StoredValues events (one
subscription), keeps every tag's latest value in memory (seeded from the database once), keeps the tag catalogue
(refreshed when a ConfigChanged event says it changed, and every ``CATALOG_REFRESH_S`` as a fallback), and builds the
dashboard's rows at most once a second for all tabs together. In steady state a tab costs no database query at all.
While nobody watches it holds nothing and decodes nothing: at 100,000 values/s following every value cost the server
a quarter of a core and the catalogue's refreshes ~100 MB.
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
READY_WAIT_S = 10.0
RETRY_S = 2.0
LINGER_S = 60.0  # after the last dashboard closed: a reload or the next page soon after finds the feed warm


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
        self.watchers = 0
        self._watched = asyncio.Event()  # set while a dashboard is open
        self._ready = asyncio.Event()  # set while the catalogue is loaded

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

    async def watch(self) -> None:
        """A dashboard opened: follow values (if nobody did) and refresh the catalogue, once per page load, for a
        change that reached the database without an event (another tool, a lost event). Pair with ``unwatch``."""
        self.watchers += 1
        self._watched.set()
        if self._ready.is_set():
            await self._refresh_catalog()
        else:  # the page shows what there is after a while and fills in when the feed is up
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_WAIT_S):
                    await self._ready.wait()

    def unwatch(self) -> None:
        self.watchers = max(0, self.watchers - 1)
        if not self.watchers:
            self._watched.clear()

    async def _seed(self) -> None:
        stored = await self.services.run_db(self.services.ports.latest_values)
        for tag_id, lv in stored.items():
            old = self.values.get(tag_id)
            if old is None or lv.ts > old.ts:
                self.values[tag_id] = lv
        self.value_version += 1

    async def run(self) -> None:
        """Follow values and the catalogue while anyone watches, then forget them until someone does again."""
        while True:
            await self._watched.wait()
            try:
                await self._follow()
            except Exception as e:  # noqa: BLE001 - the database or the bus is away: try again
                log.warning("the live feed stopped: %s", e)
                await asyncio.sleep(RETRY_S)
            finally:
                self._ready.clear()
                self.values, self.catalog, self._snapshot = {}, [], None
                self.catalog_version += 1

    async def _follow(self) -> None:
        await self._refresh_catalog()
        self._ready.set()
        while self.services.nc is None:  # noqa: ASYNC110 - the server connects in the background, signalling nothing
            await asyncio.sleep(0.2)
        nc, subjects = self.services.nc, self.services.subjects
        subs = [await events.listen(nc, subjects, StoredValues, self.on_values),
                await events.listen(nc, subjects, ConfigChanged, self.on_config)]
        try:
            await self._seed()  # after subscribing: nothing stored in between is missed
            while self.watchers or await self._still_wanted():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CATALOG_REFRESH_S):
                        await self._catalog_stale.wait()
                self._catalog_stale.clear()
                try:
                    await self._refresh_catalog()
                except Exception as e:  # noqa: BLE001 - keep showing the last catalogue
                    log.warning("refreshing the tag catalogue failed: %s", e)
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _still_wanted(self) -> bool:
        """Whether a dashboard opens within ``LINGER_S`` of the last one closing."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_S):
                await self._watched.wait()
        return self._watched.is_set()

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
