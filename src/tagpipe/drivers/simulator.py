"""Generated signals for demos: sine, ramp, random walk, counter and toggling bool, computed from the clock.

``count`` is the exception: it grows by ``step`` on every read, so each collection cycle has its own value.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.base import SETTINGS, DriverBase, Reading
from tagpipe.errors import InvalidInput

SIGNALS = {
    "sine": {"period": 60.0, "amplitude": 1.0, "center": 0.0},
    "ramp": {"period": 60.0, "min": 0.0, "max": 100.0},
    "random": {"start": 50.0, "step": 1.0, "min": 0.0, "max": 100.0},
    "counter": {"step": 1.0, "every": 1.0},
    "count": {"step": 1.0},
    "toggle": {"period": 10.0},
    "constant": {"value": 0.0},
}
EXPECTED = ("a signal " + " | ".join(SIGNALS)
            + " with optional parameters, e.g. 'sine:period=60,amplitude=10,center=50'")
_FORM = re.compile(r"^([a-z]+)(?::(.*))?$")


def parse_signal(address: str) -> tuple[str, dict[str, float]]:
    m = _FORM.match(address.strip())
    if not m or m[1] not in SIGNALS:
        raise InvalidInput("address", EXPECTED, address)
    params = dict(SIGNALS[m[1]])
    for part in filter(None, (m[2] or "").split(",")):
        key, _, val = part.partition("=")
        key = key.strip()
        if key not in params:
            raise InvalidInput("address", f"parameters of {m[1]}: {', '.join(params)}", address)
        try:
            params[key] = float(val)
        except ValueError:
            raise InvalidInput("address", f"a number for {key}", address) from None
    return m[1], params


class SimulatorSettings(BaseModel):
    model_config = SETTINGS

    seed: int | None = Field(None, description="Seed for the random walk, for repeatable demos.")


class Simulator(DriverBase):
    """A device that needs no network: every read computes each tag's signal at the current time."""

    settings_model: ClassVar[type[BaseModel]] = SimulatorSettings

    def __init__(self, settings: SimulatorSettings) -> None:
        self.requests = 0
        self._rng = random.Random(settings.seed)
        self._walk: dict[str, float] = {}
        self._written: dict[str, Any] = {}

    @classmethod
    def validate_tag(cls, tag: TagConfig) -> None:
        parse_signal(tag.address)

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _value(self, tag: TagConfig, now: float) -> Any:
        kind, p = parse_signal(tag.address)
        if kind == "sine":
            v: Any = p["center"] + p["amplitude"] * math.sin(2 * math.pi * now / p["period"])
        elif kind == "ramp":
            v = p["min"] + (p["max"] - p["min"]) * ((now % p["period"]) / p["period"])
        elif kind == "random":
            last = self._walk.get(tag.name, p["start"])
            v = min(p["max"], max(p["min"], last + self._rng.uniform(-p["step"], p["step"])))
            self._walk[tag.name] = v
        elif kind == "counter":
            v = int(now // p["every"]) * p["step"]
        elif kind == "count":
            v = self._walk.get(tag.name, 0.0) + p["step"]
            self._walk[tag.name] = v
        elif kind == "toggle":
            v = int(now // p["period"]) % 2 == 0
        else:
            v = p["value"]
        if tag.data_type is DataType.BOOL:
            return bool(v)
        if tag.data_type is DataType.STRING:
            return str(v)
        if tag.data_type not in (DataType.FLOAT32, DataType.FLOAT64):
            return int(v)
        return round(float(v), 6)

    async def read(self, tags: Sequence[TagConfig]) -> dict[str, Reading]:
        self.requests += 1
        now = time.time()
        return {t.name: Reading(value=self._written.get(t.name, self._value(t, now))) for t in tags}

    async def write(self, tag: TagConfig, value: Any) -> None:
        self._written[tag.name] = value
