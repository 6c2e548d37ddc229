"""Batches: the jobs that wait while every worker is busy go to the next free worker in one round trip.

A batch is one ``batch`` request of items, ``["c", ...]`` per hook cycle and ``["r", ...]`` per program run. An
item whose program kills the worker is answered at once (a cycle runs again without that hook); the batch goes
again to the restarted worker, whose programs carry their last good state. Runs of one stateful program never
overlap: a job running a program another batch is running waits for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from tagpipe.sandbox.hooks import HookProgram
from tagpipe.sandbox.jobs import CycleJob, Job, RunsJob, fail
from tagpipe.sandbox.plain import fresh
from tagpipe.sandbox.process import WorkerDied, WorkerProcess
from tagpipe.sandbox.protocol import TagMap
from tagpipe.sandbox.registry import Registry
from tagpipe.sandbox.results import CycleResult, ProgramKey, RunResult, SandboxError, ScriptError
from tagpipe.sandbox.workers import Workers, death

# A batch stops growing at this many jobs or tag values and runs.
BATCH_CYCLES = 64
BATCH_VALUES = 20_000


class Batches:
    """The queue of waiting jobs and one server per worker that takes them to a free worker."""

    def __init__(self, workers: Workers, book: Registry) -> None:
        self._workers = workers
        self._book = book
        self._jobs: deque[Job] = deque()
        self._jobs_waiting = asyncio.Event()
        self._running: set[ProgramKey] = set()  # stateful programs in a batch under way
        self._servers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._servers = [asyncio.create_task(self._serve(), name=f"{self._workers.name}-batches-{i}")
                         for i in range(len(self._workers.all))]  # fmt: skip

    async def stop(self) -> None:
        servers, self._servers = self._servers, []
        for task in servers:
            task.cancel()
        await asyncio.gather(*servers, return_exceptions=True)
        while self._jobs:
            fail(self._jobs.popleft(), SandboxError("the sandbox pool was closed"))

    def submit(self, job: Job) -> None:
        if not self._servers:
            raise SandboxError("the sandbox pool is not running")
        self._jobs.append(job)
        self._jobs_waiting.set()

    async def _serve(self) -> None:
        """One per worker: take the waiting jobs, run them on a free worker, answer their callers."""
        jobs = self._jobs
        while True:
            while not jobs:
                self._jobs_waiting.clear()
                await self._jobs_waiting.wait()
            worker = await self._workers.idle.get()
            batch: list[Job] = []
            claimed: set[ProgramKey] = set()
            try:
                batch, claimed = self._take()
                if batch:
                    await self._run_batch(worker, batch)
            except asyncio.CancelledError:
                for job in batch:
                    fail(job, SandboxError("the sandbox pool was closed"))
                raise
            except Exception as e:  # noqa: BLE001 - the callers get it; this loop goes on
                for job in batch:
                    fail(job, e)
            finally:
                self._workers.idle.put_nowait(worker)
                self._running -= claimed
                if claimed:
                    self._jobs_waiting.set()  # runs that waited for these programs may go now
            if not batch:
                # Everything waiting runs a stateful program another worker is running: wait for that batch to
                # end (or for new jobs).
                self._jobs_waiting.clear()
                await self._jobs_waiting.wait()

    def _take(self) -> tuple[list[Job], set[ProgramKey]]:
        """The waiting jobs for one batch, but none running a stateful program another batch is running: its
        runs must start from the state that one leaves. Those wait, in order, at the head of the queue."""
        jobs = self._jobs
        batch: list[Job] = []
        claimed: set[ProgramKey] = set()
        held: list[Job] = []
        values = 0
        while jobs and len(batch) < BATCH_CYCLES and values < BATCH_VALUES:
            job = jobs.popleft()
            if job.future.done():  # its caller gave up
                continue
            if isinstance(job, RunsJob):
                keys = {r.key for r in job.runs if (e := self._book.entries.get(r.key)) is not None and e.stateful}
                if keys & self._running:
                    held.append(job)
                    continue
                claimed |= keys
                self._running |= keys
            batch.append(job)
            values += job.size()
        jobs.extendleft(reversed(held))
        return batch, claimed

    async def _run_batch(self, worker: WorkerProcess, batch: list[Job]) -> None:
        """Run ``batch`` in one round trip; a program that kills the worker is skipped in the item it was on."""
        book = self._book
        for _ in range((len(book.entries) + 2) * (len(batch) + 2)):
            items, owners = self._items(worker, batch)
            try:
                reply = await self._workers.request(worker, ["batch", items])
            except WorkerDied as died:
                await self._workers.restart(worker)
                if 0 <= died.cycle < len(owners):
                    job, index, _ = owners[died.cycle]
                    self._blame(died, job, index)
                continue  # the whole batch again: the items before it ran in the worker that died
            try:
                replies, runs = reply
                for sid, n in runs:
                    book.count(("hook", sid), n, 0, None, None, False)
                restart = False
                cycles: list[tuple[CycleJob, CycleResult]] = []
                for (job, index, generation), item in zip(owners, replies, strict=True):
                    if isinstance(job, CycleJob):
                        cycles.append((job, self._cycle_result(item, job.failed, worker.tag_map)))
                        restart = restart or bool(item[3])
                    else:
                        job.results[index] = self._run_result(job.runs[index].key, item, worker, generation)
                        restart = restart or bool(item[8])
            except (TypeError, ValueError, IndexError, KeyError) as e:
                raise SandboxError("malformed batch reply from sandbox worker") from e
            if restart:
                await self._workers.restart(worker)  # after a MemoryError: leaked memory must not poison other programs
            for cycle_job, result in cycles:
                if not cycle_job.future.done():
                    cycle_job.future.set_result(result)
            for job in batch:
                if isinstance(job, RunsJob) and not job.future.done():
                    job.future.set_result([r for r in job.results if r is not None])
            return
        raise SandboxError("sandbox worker keeps dying during a batch")

    def _items(self, worker: WorkerProcess, batch: list[Job]) -> tuple[list[Any], list[tuple[Job, int, int]]]:
        """The batch's wire items and, for each, its job, the index of the run in it (-1: a cycle) and the
        generation of the program's state it starts from."""
        items: list[Any] = []
        owners: list[tuple[Job, int, int]] = []
        pack = worker.tag_map.pack
        for job in batch:
            if isinstance(job, CycleJob):
                items.append(["c", pack(job.payload), job.context, job.skip])
                owners.append((job, -1, 0))
                continue
            for index, run in enumerate(job.runs):
                if job.results[index] is not None:
                    continue
                entry = self._book.entries.get(run.key)
                if entry is None:
                    job.results[index] = RunResult(key=run.key, ok=False, error="the program is not loaded")
                    continue
                state = self._book.to_send(entry, worker.name)
                items.append(["r", entry.slot, job.inputs[index], job.contexts[index], state, run.trace])
                owners.append((job, index, entry.generation))
        return items, owners

    def _blame(self, died: WorkerDied, job: Job, index: int) -> None:
        """The program on ``died``'s mark killed the worker on this item: skip it there, report it."""
        entry = self._book.slots.get(died.script_id)
        if entry is None:
            return
        message = death(died)
        if isinstance(job, CycleJob):
            program = entry.program
            if not isinstance(program, HookProgram) or program.id in job.skip:
                return
            job.skip.append(program.id)
            job.failed.append(ScriptError(script_id=program.id, hook_type=program.hook_type, message=message,
                                          timeout=died.timed_out))  # fmt: skip
        else:
            if job.runs[index].key != entry.key:
                return
            job.results[index] = RunResult(key=entry.key, ok=False, error=message, timeout=died.timed_out,
                                           state=fresh(entry.state) if entry.stateful else None)  # fmt: skip
        self._book.count(entry.key, 1, 1, message, None, died.timed_out)

    def _cycle_result(self, reply: list[Any], failed: list[ScriptError], tag_map: TagMap) -> CycleResult:
        """One cycle's ``[payload, alarms, errors, restart]`` from the worker, its errors counted."""
        packed, alarms, reported, _ = reply
        errors = list(failed)
        for sid, hook_type, message, line, count, timeout in reported:
            errors.append(ScriptError(script_id=sid, hook_type=hook_type, message=message, line=line,
                                      count=count, timeout=timeout))  # fmt: skip
            self._book.count(("hook", sid), 0, count, message, line, timeout)
        return CycleResult(payload=tag_map.unpack(packed), alarms=[a for a in alarms if type(a) is dict],
                           errors=errors)  # fmt: skip

    def _run_result(self, key: ProgramKey, reply: list[Any], worker: WorkerProcess, generation: int) -> RunResult:
        ok, result, prints, duration, error, line, state, trace, _ = reply
        entry = self._book.entries[key]
        # A state set while the run was under way wins over what the run made of the one before.
        if ok and state is not None and entry.stateful and entry.generation == generation:
            self._book.accept(entry, state, worker.name)
        self._book.count(key, 1, 0 if ok else 1, error, line, False)
        return RunResult(key=key, ok=bool(ok), result=result, prints=prints, duration_ms=float(duration), error=error,
                         line=line, state=fresh(entry.state) if entry.stateful else None, trace=trace)  # fmt: skip
