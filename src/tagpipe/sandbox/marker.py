"""The deadline marker: a tiny shared-memory record saying which script the worker runs and until when."""

from __future__ import annotations

import struct
import time
from functools import partial
from typing import Any

# script id (0 = no user code running), deadline on CLOCK_MONOTONIC, budget in ms; native byte order
# (parent and worker share one host) so the deadline field can also be written as a plain double.
_RECORD = struct.Struct("=qdd")
SIZE = _RECORD.size
_IDLE = bytes(8)

DRY_RUN_ID = -1
COMPILE_ID = -2


class Marker:
    """Worker side: writes the running script id and its deadline before each call."""

    def __init__(self, buf: Any) -> None:
        self._buf = buf
        self._pack = _RECORD.pack_into
        # mark(script_id, deadline, budget_ms): a C-level partial, as it runs before every hook call.
        self.mark = partial(_RECORD.pack_into, buf, 0)
        # The deadline field alone, as a one-double view: ``deadline[0] = t`` moves the deadline of the script
        # already marked, for the next call of a per-tag batch (no struct call).
        self.deadline = memoryview(buf).cast("B")[8:16].cast("d")

    def enter(self, script_id: int, budget_ms: float) -> float:
        """Mark ``script_id`` as running for at most ``budget_ms``; return the deadline."""
        deadline = time.monotonic() + budget_ms / 1000.0
        self._pack(self._buf, 0, script_id, deadline, budget_ms)
        return deadline

    def leave(self) -> None:
        """Mark that no user code is running."""
        self._buf[0:8] = _IDLE


def read(buf: Any) -> tuple[int, float, float]:
    """Parent side: (script id, deadline, budget ms), read twice so a torn write is never believed."""
    first = bytes(buf[0:SIZE])
    second = bytes(buf[0:SIZE])
    if first != second:
        return 0, 0.0, 0.0
    sid, deadline, budget = _RECORD.unpack(first)
    return int(sid), float(deadline), float(budget)
