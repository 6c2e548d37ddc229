"""What callers wait on while the pool's workers are busy: a hook cycle or a list of program runs.

Waiting jobs go to a worker together, in one round trip: the pool turns them into one ``batch`` request of
items (``["c", ...]`` per cycle, ``["r", ...]`` per run) and hands each job its results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tagpipe.sandbox.results import CycleResult, ProgramKey, RunResult, ScriptError


@dataclass(frozen=True, kw_only=True)
class Run:
    """One run of a loaded program: its key, its inputs (what its kind calls it with) and context."""

    key: ProgramKey
    inputs: Mapping[str, Any]
    context: Mapping[str, Any] | None = None
    trace: bool = False


class CycleJob:
    """One caller's cycle; ``skip`` and ``failed`` grow when a hook kills the worker."""

    __slots__ = ("context", "failed", "future", "payload", "skip")

    def __init__(self, payload: Mapping[str, Any], context: dict[str, Any], future: asyncio.Future[CycleResult]):
        self.payload = payload
        self.context = context
        self.future = future
        self.skip: list[int] = []
        self.failed: list[ScriptError] = []

    def size(self) -> int:
        tags = self.payload.get("tags")
        return len(tags) if isinstance(tags, dict) else 1


class RunsJob:
    """One caller's runs; a run that kills the worker gets its result at once and is not sent again."""

    __slots__ = ("contexts", "future", "inputs", "results", "runs")

    def __init__(self, runs: list[Run], future: asyncio.Future[list[RunResult]]) -> None:
        self.runs = runs
        self.future = future
        # plain dicts, checked once here: msgpack takes nothing else
        self.inputs = [dict(r.inputs) for r in runs]
        self.contexts = [dict(r.context or {}) for r in runs]
        self.results: list[RunResult | None] = [None] * len(runs)

    def size(self) -> int:
        return len(self.runs)


Job = CycleJob | RunsJob


def fail(job: Job, error: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(error)
