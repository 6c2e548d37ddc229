"""The deadline marker: a tiny shared-memory record saying which script the worker runs and until when.

The record: script id (0 = no user code running), deadline on CLOCK_MONOTONIC, budget in ms, and a call
number; then, apart, the index of the cycle the worker is on within a batch. Native byte order: parent and
worker share one host.

A per-tag hook is called once per tag, each call with its own budget. Reading the clock before every call
costs more than the call, so the worker marks the first call with a deadline and then only bumps the call
number; the parent gives each call number it sees a fresh budget from the moment it first saw it. A call is
therefore never killed early, and at most one watch tick late.
"""

from __future__ import annotations

import struct
import time
from functools import partial
from typing import Any

_RECORD = struct.Struct("=qddq")
_INDEX = struct.Struct("=q")
SIZE = _RECORD.size + _INDEX.size
_IDLE = bytes(8)

DRY_RUN_ID = -1
COMPILE_ID = -2


class Marker:
    """Worker side: writes the running script id and its deadline before each call."""

    def __init__(self, buf: Any) -> None:
        self._buf = buf
        self._pack = _RECORD.pack_into
        # mark(script_id, deadline, budget_ms, 0): a C-level partial, as it runs before every hook call.
        self.mark = partial(_RECORD.pack_into, buf, 0)
        raw = memoryview(buf).cast("B")
        # ``call[0] = n``: call ``n`` (n > 0) of the script marked last has started, with a budget of its own.
        self.call = raw[24:32].cast("q")
        # ``cycle[0] = i``: the worker is on cycle ``i`` of the batch it was sent.
        self.cycle = raw[_RECORD.size : SIZE].cast("q")

    def enter(self, script_id: int, budget_ms: float) -> float:
        """Mark ``script_id`` as running for at most ``budget_ms``; return the deadline."""
        deadline = time.monotonic() + budget_ms / 1000.0
        self._pack(self._buf, 0, script_id, deadline, budget_ms, 0)
        return deadline

    def leave(self) -> None:
        """Mark that no user code is running."""
        self._buf[0:8] = _IDLE


def read(buf: Any) -> tuple[int, float, float, int]:
    """Parent side: (script id, deadline, budget ms, call), read twice so a torn write is never believed."""
    first = bytes(buf[0 : _RECORD.size])
    second = bytes(buf[0 : _RECORD.size])
    if first != second:
        return 0, 0.0, 0.0, 0
    sid, deadline, budget, call = _RECORD.unpack(first)
    return int(sid), float(deadline), float(budget), int(call)


def cycle_index(buf: Any) -> int:
    """Parent side: which cycle of its batch the worker was on (read once it has stopped)."""
    return int(_INDEX.unpack_from(buf, _RECORD.size)[0])


class Watch:
    """Parent side: the deadline of the call the marker shows, from successive reads."""

    def __init__(self) -> None:
        self._seen: tuple[int, float, int] | None = None
        self._seen_at = 0.0

    def limit(self, sid: int, deadline: float, budget_ms: float, call: int, now: float) -> float:
        """When the call now marked must end: its marked deadline, or its budget from when first seen."""
        if call == 0:
            return deadline
        key = (sid, deadline, call)
        if key != self._seen:
            self._seen, self._seen_at = key, now
        return max(deadline, self._seen_at + budget_ms / 1000.0)
