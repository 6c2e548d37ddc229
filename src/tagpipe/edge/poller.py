"""One polling loop per device at its interval, drift-free, with back-off while the device does not answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tagpipe.backoff import Backoff
from tagpipe.codec import scale_value, unscale_value
from tagpipe.contracts import DataPayload, DeviceConfig, TagConfig
from tagpipe.drivers import Driver, Material, make_driver
from tagpipe.errors import DeviceMisconfigured, DeviceUnreachable, InvalidInput, TagpipeError

log = logging.getLogger(__name__)
Emit = Callable[[DeviceConfig, DataPayload], Awaitable[None]]


def next_tick(start: float, interval: float, now: float) -> float:
    """The first tick ``start + k * interval`` after ``now``: missed cycles are skipped, never bunched."""
    if now < start:
        return start
    return start + (int((now - start) / interval) + 1) * interval


@dataclass
class DeviceStats:
    reads: int = 0
    errors: int = 0
    last_error: str | None = None
    read_time_total: float = 0.0
    status: str = "starting"
    bad_tags: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"reads": self.reads, "errors": self.errors, "last_error": self.last_error, "status": self.status,
                "mean_read_ms": round(1000 * self.read_time_total / self.reads, 3) if self.reads else None,
                "bad_tags": len(self.bad_tags)}


class DevicePoller:
    """Polls one device; writes go through the same lock so they are serialised with reads."""

    def __init__(self, device: DeviceConfig, emit: Emit, *, backoff: Backoff | None = None,
                 material: Material | None = None) -> None:
        self.device = device
        self.material = material if material is not None else {}
        self.emit = emit
        self.stats = DeviceStats()
        self._backoff = backoff or Backoff(base=0.5, cap=30.0)
        self._driver: Driver | None = None
        self._lock = asyncio.Lock()
        self._tags = list(device.tags)

    async def _ensure_connected(self) -> Driver:
        if self._driver is None:
            driver = make_driver(self.device.protocol, self.device.connection, self.material)
            await driver.connect()
            self._driver = driver
        return self._driver

    async def _drop_connection(self) -> None:
        if self._driver is not None:
            try:
                await self._driver.close()
            except Exception as e:  # noqa: BLE001 - the connection is gone either way
                log.debug("closing device %s: %s", self.device.id, e)
            self._driver = None

    async def poll_once(self) -> DataPayload:
        """Read every tag; returns the payload (bad tags carry None and a quality entry)."""
        t0 = time.perf_counter()
        async with self._lock:
            driver = await self._ensure_connected()
            readings = await driver.read(self._tags)
        self.stats.reads += 1
        self.stats.read_time_total += time.perf_counter() - t0
        tags: dict[str, Any] = {}
        quality: dict[str, str] = {}
        for tag in self._tags:
            r = readings.get(tag.name)
            if r is None or not r.good:
                tags[tag.name] = None
                quality[tag.name] = "bad"
                self.stats.bad_tags[tag.name] = r.error if r else "not read"
            else:
                tags[tag.name] = scale_value(r.value, tag.scale, tag.offset)
                self.stats.bad_tags.pop(tag.name, None)
        self.stats.last_error = next(iter(self.stats.bad_tags.values())) if quality else None
        return self._payload(tags, quality)

    def _payload(self, tags: dict[str, Any], quality: dict[str, str]) -> DataPayload:
        equipment = self.device.equipment_id
        return DataPayload(ts=int(time.time() * 1000), tags=tags, quality=quality, connection_id=self.device.id,
                           equipment_id="" if equipment is None else str(equipment))

    async def run(self) -> None:
        interval = self.device.interval_ms / 1000
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = start
        while True:
            try:
                payload = await self.poll_once()
                self._backoff.reset()
                self.stats.status = "partial" if payload.quality else "ok"
                await self.emit(self.device, payload)
                tick = next_tick(start, interval, loop.time())
            except (DeviceUnreachable, DeviceMisconfigured, InvalidInput, TagpipeError, OSError) as e:
                self.stats.errors += 1
                self.stats.last_error = str(e)
                self.stats.status = "unreachable" if isinstance(e, (DeviceUnreachable, OSError)) else "error"
                log.warning("device %s (%s): %s", self.device.id, self.device.name, e)
                await self._drop_connection()
                await self.emit(self.device, self._payload({t.name: None for t in self._tags},
                                                           {t.name: "bad" for t in self._tags}))
                tick = next_tick(start, interval, loop.time() + self._backoff.delay())
            await asyncio.sleep(max(0.0, tick - loop.time()))

    async def write(self, tag_name: str, value: Any) -> Any:
        """Write a tag in engineering units; returns the value read back after the write."""
        tag = self._tag(tag_name)
        if not tag.writable:
            raise InvalidInput("tag", f"a writable tag; {tag_name} is read-only", tag_name)
        raw = unscale_value(value, tag.scale, tag.offset, tag.data_type)
        async with self._lock:
            driver = await self._ensure_connected()
            try:
                await driver.write(tag, raw)
                back = await driver.read([tag])
            except DeviceUnreachable:
                await self._drop_connection()
                raise
        r = back.get(tag.name)
        return scale_value(r.value, tag.scale, tag.offset) if r and r.good else None

    def _tag(self, name: str) -> TagConfig:
        for tag in self._tags:
            if tag.name == name:
                return tag
        raise InvalidInput("tag", f"one of the tags of device {self.device.id}", name)

    async def close(self) -> None:
        async with self._lock:
            await self._drop_connection()
