"""The pool's book of loaded programs: slots, each program's last good state, what each worker holds, stats.

Pure bookkeeping, no I/O. A stateful program's state lives here; every new state bumps its version, and the
book remembers which version each worker holds, so that a run goes with the state only to a worker that lacks
it (another worker ran the program since, a restart, ``set_state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tagpipe.sandbox.program import Program
from tagpipe.sandbox.results import ProgramKey

STALE = -1


@dataclass(kw_only=True, eq=False)
class Entry:
    """One loaded program: its slot in every worker and, when its kind is stateful, its state."""

    program: Program
    slot: int
    stateful: bool
    state: dict[str, Any] | None = None
    version: int = 0  # bumps with every new state
    generation: int = 0  # bumps with every state set from outside: runs begun before it do not overwrite it

    @property
    def key(self) -> ProgramKey:
        return self.program.key


def new_stats() -> dict[str, Any]:
    return {"runs": 0, "errors": 0, "timeouts": 0, "last_error": None, "last_error_line": None}


class Registry:
    """Loaded programs by key and by slot, the state versions each worker holds, and per-program stats."""

    def __init__(self) -> None:
        self.entries: dict[ProgramKey, Entry] = {}
        self.slots: dict[int, Entry] = {}
        self.stats: dict[ProgramKey, dict[str, Any]] = {}
        self._held: dict[str, dict[int, int]] = {}
        self._last_slot = 0

    def slot_for(self, key: ProgramKey) -> int:
        """The slot ``key`` has, or a new one (never 0, the marker's "no user code")."""
        entry = self.entries.get(key)
        if entry is not None:
            return entry.slot
        self._last_slot += 1
        return self._last_slot

    def put(self, entry: Entry) -> None:
        """Register ``entry``, replacing the program of the same key (in the same slot: what workers hold stays)."""
        old = self.entries.get(entry.key)
        if old is not None and old.slot != entry.slot:
            self.remove(entry.key)
        self.entries[entry.key] = entry
        self.slots[entry.slot] = entry
        self.stats.setdefault(entry.key, new_stats())

    def remove(self, key: ProgramKey) -> Entry | None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.slots.pop(entry.slot, None)
            for held in self._held.values():
                held.pop(entry.slot, None)
        return entry

    # -- state -------------------------------------------------------------------------------

    def accept(self, entry: Entry, state: dict[str, Any], worker: str) -> None:
        """A run on ``worker`` left ``state``: it is the program's state now, and that worker holds it."""
        entry.state = state
        entry.version += 1
        self._held.setdefault(worker, {})[entry.slot] = entry.version

    def replace(self, entry: Entry, state: dict[str, Any]) -> None:
        """A state set from outside: no worker holds it yet."""
        entry.state = state
        entry.version += 1
        entry.generation += 1

    def to_send(self, entry: Entry, worker: str) -> dict[str, Any] | None:
        """The state to send with a run of ``entry`` on ``worker``: None when the worker holds it already."""
        if not entry.stateful:
            return None
        held = self._held.setdefault(worker, {})
        if held.get(entry.slot) == entry.version:
            return None
        held[entry.slot] = entry.version  # from this run on it does
        return entry.state

    def holds(self, worker: str, entry: Entry, current: bool = True) -> None:
        """``worker`` loaded ``entry`` with its current state (or with another one: ``current`` False)."""
        if entry.stateful:
            self._held.setdefault(worker, {})[entry.slot] = entry.version if current else STALE

    def forget(self, worker: str) -> None:
        """``worker`` was restarted: it holds nothing."""
        self._held[worker] = {}

    # -- stats -------------------------------------------------------------------------------

    def count(self, key: ProgramKey, runs: int, errors: int, message: str | None, line: int | None,
              timeout: bool) -> None:  # fmt: skip
        stats = self.stats.get(key)
        if stats is None:
            return
        stats["runs"] += runs
        stats["errors"] += errors
        if timeout:
            stats["timeouts"] += 1
        if message is not None:
            stats["last_error"] = message
            stats["last_error_line"] = line

    def note(self, key: ProgramKey, message: str, line: int | None) -> None:
        stats = self.stats.setdefault(key, new_stats())
        stats["last_error"] = message
        stats["last_error_line"] = line
