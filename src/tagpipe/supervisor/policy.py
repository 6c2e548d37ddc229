"""What the supervisor decides, without processes or clocks: when to restart a child and whether it is crash-looping.

A child's *failures* are its deaths since it last ran for ``STABLE_S`` seconds. The n-th failure waits the n-th
delay of the back-off helper (0.5 s, 1 s, 2 s, ... capped at 30 s, jittered), and from ``CRASH_LOOP_AFTER`` failures
on the child is reported as crash-looping, still retried at the capped delay, until one run lasts ``STABLE_S``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from tagpipe.backoff import Backoff

STABLE_S = 10.0
CRASH_LOOP_AFTER = 3
BASE_S, CAP_S = 0.5, 30.0

State = Literal["running", "restarting", "crash-looping", "stopped"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """What the supervisor remembers of one child across its runs."""

    restarts: int = 0
    failures: int = 0
    last_exit_code: int | None = None


def after_exit(record: Record, *, ran_s: float, exit_code: int | None, stable_s: float = STABLE_S) -> Record:
    """The record once a run of ``ran_s`` seconds ended with ``exit_code`` (None: it could not even be started)."""
    failures = 1 if ran_s >= stable_s else record.failures + 1
    return dataclasses.replace(record, failures=failures, last_exit_code=exit_code)


def after_restart(record: Record) -> Record:
    return dataclasses.replace(record, restarts=record.restarts + 1)


def settle(record: Record, *, running_s: float, stable_s: float = STABLE_S) -> Record:
    """A run that has lasted ``stable_s`` is a success: the failures (and the back-off) start over."""
    return dataclasses.replace(record, failures=0) if record.failures and running_s >= stable_s else record


def restart_backoff(record: Record, *, base_s: float = BASE_S, cap_s: float = CAP_S) -> Backoff:
    """The back-off whose next ``delay()`` is the wait before restarting after ``record.failures`` failures."""
    return Backoff(base=base_s, cap=cap_s, failures=max(0, record.failures - 1))


def classify(record: Record, *, running: bool, stopped: bool = False) -> State:
    """A child is up only while ``running``; crash-looping wins over a run that has not yet proven itself."""
    if stopped:
        return "stopped"
    if record.failures >= CRASH_LOOP_AFTER:
        return "crash-looping"
    return "running" if running else "restarting"
