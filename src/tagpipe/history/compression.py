"""Optional lossy storage per tag, with its error bound stated: a deadband or a swinging door (the PI convention).

Off by default: every value is stored. A tag may instead keep only the values needed to redraw what arrived within a
stated deviation:

- ``deadband`` d: a value is stored when it differs by more than d from the last stored one. Every value that arrived
  is within ±d of the stored value before it (a step trend).
- ``swinging-door`` d: OSIsoft PI's compression. Every value that arrived is within ±d of the straight line between
  the stored values around it (a linear trend). A value is held until the next one shows that the line from the last
  stored value to it would not pass within d of every value since; then the held value is stored (a stricter test than
  the classic door's, which only asks whether some line still would: the bound holds for the line actually drawn).

With either, a value is stored at least every ``max_s`` seconds. Bad and non-numeric values are always stored, and a
value older than the last one seen (late) is stored as it is. The latest value and the live dashboard see every value;
rollups and trends see what is stored. Pure: the state is returned, and kept by the caller only once its transaction
committed (a batch written twice must not see its own values as old the second time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

Mode = Literal["deadband", "swinging-door"]
MODES: tuple[Mode, ...] = ("deadband", "swinging-door")


@dataclass(frozen=True, slots=True)
class Policy:
    mode: Mode
    deviation: float  # in the tag's unit, >= 0
    max_s: int  # a value is stored at least this often (0: no limit)

    def bound(self) -> str:
        """The error bound, as the tag's settings show it."""
        d = f"±{self.deviation:g}"
        what = (f"within {d} of the stored value before it" if self.mode == "deadband"
                else f"within {d} of the straight line between the stored values around it")
        every = f"; a value is stored at least every {self.max_s} s" if self.max_s else ""
        return f"Every value that arrived is {what}{every}."


@dataclass(frozen=True, slots=True)
class State:
    """One tag's: the last stored value, the held one (not stored yet) and the door's slopes (per ms)."""

    stored_ts: int
    stored: float
    held_ts: int | None = None
    held: float = 0.0
    low: float = -math.inf
    high: float = math.inf

    @property
    def last_ts(self) -> int:
        return self.stored_ts if self.held_ts is None else self.held_ts


def step(policy: Policy, state: State | None, ts: int, value: float) -> tuple[State, list[tuple[int, float]]]:
    """The state after one value of a tag and the (ts, value) pairs to store now, in time order."""
    if state is None or ts <= state.last_ts:  # the first, or a late one: stored as it is
        return (State(ts, value) if state is None else state), [(ts, value)]
    due = bool(policy.max_s) and ts - state.stored_ts >= policy.max_s * 1000
    d = policy.deviation
    if policy.mode == "deadband" or (due and state.held_ts is None):
        if due or abs(value - state.stored) > d:
            return State(ts, value), [(ts, value)]
        return state, []
    dt = ts - state.stored_ts
    if not due and state.low <= (value - state.stored) / dt <= state.high:
        # The line from the stored value to this one passes within d of every value since: hold this one instead,
        # and narrow the door to the slopes that pass within d of it too.
        return replace(state, held_ts=ts, held=value, low=max(state.low, (value - d - state.stored) / dt),
                       high=min(state.high, (value + d - state.stored) / dt)), []
    # It does not (or the last stored value is max_s old): the held value is stored, the door opens again from it.
    assert state.held_ts is not None  # with nothing held the door is wide open
    ht, hv = state.held_ts, state.held
    dt = ts - ht
    return State(ht, hv, ts, value, (value - d - hv) / dt, (value + d - hv) / dt), [(ht, hv)]


def compress(policies: dict[int, Policy], states: dict[int, State], flat: list) -> tuple[list, dict[int, State]]:
    """A batch's good numbers (flat [tag id, ts, value, ...]) without what the tags' policies drop, and the states
    after it (only those that changed)."""
    if not policies:
        return flat, {}
    out: list = []
    changed: dict[int, State] = {}
    for i in range(0, len(flat), 3):
        tag_id = flat[i]
        policy = policies.get(tag_id)
        if policy is None:
            out.extend(flat[i:i + 3])
            continue
        state = changed.get(tag_id, states.get(tag_id))
        changed[tag_id], keep = step(policy, state, flat[i + 1], float(flat[i + 2]))
        for ts, v in keep:
            out.extend((tag_id, ts, v))
    return out, changed
