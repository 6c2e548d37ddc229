"""SandboxPool: the async front of the worker processes that the edge agent, the server and workers call.

Every worker holds every loaded program, each in the slot the pool gave it. Loading and unloading take all
workers for a moment (waiting for the batches they run); runs and cycles go to the next free worker, and
those that arrive while every worker is busy go together in one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self

from tagpipe.errors import InvalidInput, NotFound
from tagpipe.sandbox.hooks import HOOK_TYPES, HookProgram
from tagpipe.sandbox.jobs import CycleJob, Job, Run, RunsJob, fail
from tagpipe.sandbox.kinds import kind_of
from tagpipe.sandbox.marker import COMPILE_ID
from tagpipe.sandbox.plain import NotPlain, fresh, keep_state
from tagpipe.sandbox.process import WorkerDied, WorkerProcess
from tagpipe.sandbox.program import MAX_TIMEOUT_MS, Program
from tagpipe.sandbox.protocol import TagMap
from tagpipe.sandbox.registry import Entry, Registry
from tagpipe.sandbox.results import (
    CodeError,
    CycleResult,
    DryRunResult,
    ProgramId,
    ProgramKey,
    RunResult,
    SandboxError,
    ScriptError,
)  # fmt: skip

if TYPE_CHECKING:
    from tagpipe.contracts.config import ScriptConfig

logger = logging.getLogger(__name__)

# A batch of jobs for one round trip stops growing at this many jobs or tag values and runs.
BATCH_CYCLES = 64
BATCH_VALUES = 20_000
DRY_CONTEXT = {"device_id": "dry-run", "equipment_id": None, "connection_id": None, "company_code": ""}


def _death(died: WorkerDied, doing: str = "") -> str:
    if died.timed_out:
        return f"timed out after {died.budget_ms:g} ms{doing}"
    return f"the worker died{doing or ' running this program'} (memory or resource limit); restarted"


class SandboxPool:
    """Runs user programs in limited worker processes; one bad program never blocks or crashes the caller."""

    def __init__(self, workers: int = 1, name: str = "sandbox", memory_mb: int = 512, cpu_seconds: int = 30) -> None:
        self.name = name
        self._workers = [WorkerProcess(f"{name}-{i}", memory_mb, cpu_seconds) for i in range(max(1, workers))]
        self._idle: asyncio.Queue[WorkerProcess] = asyncio.Queue()
        self._jobs: deque[Job] = deque()
        self._jobs_waiting = asyncio.Event()
        self._running: set[ProgramKey] = set()  # stateful programs in a batch under way
        self._servers: list[asyncio.Task[None]] = []
        self._recovering: set[asyncio.Task[None]] = set()
        self._changing = asyncio.Lock()
        self._book = Registry()
        self._round_trips = 0

    async def __aenter__(self) -> Self:
        await asyncio.gather(*(w.start() for w in self._workers))
        for w in self._workers:
            self._idle.put_nowait(w)
        self._servers = [asyncio.create_task(self._serve(), name=f"{self.name}-batches-{i}")
                         for i in range(len(self._workers))]  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        servers, self._servers = self._servers, []
        for task in [*servers, *self._recovering]:
            task.cancel()
        await asyncio.gather(*servers, *self._recovering, return_exceptions=True)
        while self._jobs:
            fail(self._jobs.popleft(), SandboxError("the sandbox pool was closed"))
        await asyncio.gather(*(w.stop() for w in self._workers), return_exceptions=True)

    @property
    def round_trips(self) -> int:
        """Requests sent to workers so far (a batch of cycles and runs is one)."""
        return self._round_trips

    async def _request(self, worker: WorkerProcess, message: list[Any]) -> Any:
        self._round_trips += 1
        return await worker.request(message)

    # -- programs ----------------------------------------------------------------------------

    async def load(self, scripts: Iterable[ScriptConfig | Mapping[str, Any]]) -> dict[int, CodeError]:
        """Make the loaded hooks exactly ``scripts``: new and changed ones compiled, unchanged ones left as they
        are, the others unloaded; return the ones that failed (they are not loaded)."""
        wanted = {p.id: p for p in map(HookProgram.from_script, scripts)}
        loaded = {key[1]: e.program for key, e in self._book.entries.items() if key[0] == "hook"}
        gone = [("hook", sid) for sid in loaded if sid not in wanted]
        changed: list[Program] = [p for sid, p in wanted.items() if loaded.get(sid) != p]
        errors = await self._change(changed, gone, {})
        for key in [k for k in self._book.stats if k[0] == "hook" and k[1] not in wanted]:
            del self._book.stats[key]
        return {int(key[1]): err for key, err in errors.items() if key[0] == "hook"}

    async def load_program(self, program: Program, *, state: Mapping[str, Any] | None = None) -> CodeError | None:
        """Load (or replace) one program; None when it loaded. A stateful program runs its initialization code,
        then ``state`` (the one it had, to keep it across an edit) goes over what that made."""
        states = {} if state is None else {program.key: state}
        return (await self.load_programs([program], states)).get(program.key)

    async def load_programs(
        self, programs: Iterable[Program], states: Mapping[ProgramKey, Mapping[str, Any]] | None = None
    ) -> dict[ProgramKey, CodeError]:
        """Load (or replace) several programs in one request per worker; return the ones that failed."""
        programs = list(programs)
        for program in programs:
            kind = kind_of(program.kind)
            if not isinstance(program, kind.program):
                raise TypeError(f"a {program.kind} program must be a {kind.program.__name__}")
        kept = {key: _checked_state(state) for key, state in (states or {}).items()}
        return await self._change(programs, [], kept)

    async def unload(self, *keys: ProgramKey) -> None:
        """Unload these programs (their state goes with them); unknown keys are ignored."""
        await self._change([], [k for k in keys if k in self._book.entries], {})
        for key in keys:
            self._book.stats.pop(key, None)

    def programs(self, kind: str | None = None) -> dict[ProgramKey, Program]:
        """The loaded programs (of one kind)."""
        return {k: e.program for k, e in self._book.entries.items() if kind is None or k[0] == kind}

    async def _change(
        self, new: list[Program], gone: list[ProgramKey], states: dict[ProgramKey, dict[str, Any]]
    ) -> dict[ProgramKey, CodeError]:
        """Unload ``gone`` and load ``new`` in every worker, the registry following; return the failures."""
        if not new and not gone:
            return {}
        book = self._book
        async with self._changing, self._every_worker() as workers:
            dropped = [e.slot for e in map(book.remove, gone) if e is not None]
            if dropped:
                await asyncio.gather(*(self._request(w, ["drop", dropped]) for w in workers))
            entries = [Entry(program=p, slot=book.slot_for(p.key), stateful=kind_of(p.kind).stateful,
                             state=states.get(p.key)) for p in {p.key: p for p in new}.values()]  # fmt: skip
            keys = {e.key for e in entries}
            base = [e for e in book.entries.values() if e.key not in keys]
            errors = await self._load_into(workers[0], entries, base, accept=True)
            good = [e for e in entries if e.key not in errors]
            for more in await asyncio.gather(*(self._load_into(w, good, base) for w in workers[1:])):
                errors.update(more)
            failed = [e.slot for e in [*entries, *base] if e.key in errors]
            if failed and len(workers) > 1:
                await asyncio.gather(*(self._request(w, ["drop", failed]) for w in workers))
            for entry in entries:
                if entry.key in errors:
                    book.remove(entry.key)
                else:
                    book.put(entry)
            for entry in base:
                if entry.key in errors:
                    book.remove(entry.key)
        for key, err in errors.items():
            book.note(key, err.message, err.line)
        return errors

    async def _load_into(
        self, worker: WorkerProcess, entries: list[Entry], base: list[Entry], accept: bool = False, fresh: bool = False
    ) -> dict[ProgramKey, CodeError]:
        """Load ``entries`` into ``worker``, which holds ``base`` (all of it after a restart: ``fresh``).

        A program that hangs or kills the worker while loading is left out with an error, and the worker,
        restarted, gets everything again. With ``accept``, the states the worker reports (a stateful
        program's initialization) become the programs' states.
        """
        pending = [*base, *entries] if fresh else list(entries)
        errors: dict[ProgramKey, CodeError] = {}
        for _ in range(len(entries) + len(base) + 3):
            items = [[e.slot, e.program.kind, e.program.fields(), e.state] for e in pending]
            try:
                reply = await self._request(worker, ["add", items]) if items else {"errors": {}, "states": {}}
            except WorkerDied as died:
                await self._restart_bare(worker)
                if not fresh:
                    pending, fresh = [*base, *pending], True
                culprit = next((e for e in pending if e.slot == died.script_id), None)
                if culprit is not None:
                    errors[culprit.key] = CodeError(message=_death(died, " while loading"), script_id=culprit.program.id)
                    pending.remove(culprit)
                continue
            by_slot = {e.slot: e for e in pending}
            for slot, err in reply["errors"].items():
                entry = by_slot[int(slot)]
                errors[entry.key] = CodeError(message=err["message"], line=err["line"], script_id=entry.program.id)
            for slot, state in reply["states"].items():
                entry = by_slot[int(slot)]
                if accept and entry.state != state:
                    self._book.replace(entry, state)
                self._book.holds(worker.name, entry, current=entry.state == state)
            return errors
        raise SandboxError("sandbox worker keeps dying while loading programs")

    @contextlib.asynccontextmanager
    async def _every_worker(self) -> AsyncIterator[list[WorkerProcess]]:
        """All workers, once the batches they run are done; cancelled midway, they are restarted."""
        taken: list[WorkerProcess] = []
        try:
            for _ in self._workers:
                taken.append(await self._idle.get())
            yield taken
        except asyncio.CancelledError:
            for worker in taken:
                self._spawn_recovery(worker)
            taken = []
            raise
        finally:
            for worker in taken:
                self._idle.put_nowait(worker)

    # -- state -------------------------------------------------------------------------------

    def state(self, key: ProgramKey) -> dict[str, Any] | None:
        """A copy of the state a stateful program keeps (None for other kinds)."""
        entry = self._entry(key)
        return fresh(entry.state) if entry.state is not None else None

    def set_state(self, key: ProgramKey, state: Mapping[str, Any]) -> None:
        """Replace a stateful program's state; its next run, in whichever worker, starts from it."""
        entry = self._entry(key)
        if not entry.stateful:
            raise InvalidInput("state", f"a program of a kind that keeps state, not {key[0]}")
        self._book.replace(entry, _checked_state(state))

    async def reset_state(self, key: ProgramKey) -> CodeError | None:
        """Load the program again so that its initialization code makes its state afresh."""
        return await self.load_program(self._entry(key).program)

    def _entry(self, key: ProgramKey) -> Entry:
        entry = self._book.entries.get(key)
        if entry is None:
            raise NotFound(f"no {key[0]} program {key[1]!r} is loaded")
        return entry

    # -- workers -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _borrow(self) -> AsyncIterator[WorkerProcess]:
        """A free worker for one request; if the caller is cancelled mid-request, a fresh one replaces it."""
        worker = await self._idle.get()
        try:
            yield worker
        except asyncio.CancelledError:
            # Its reply may still arrive and would answer the next request: restart it, then free it.
            self._spawn_recovery(worker)
            raise
        except BaseException:
            self._idle.put_nowait(worker)
            raise
        self._idle.put_nowait(worker)

    def _spawn_recovery(self, worker: WorkerProcess) -> None:
        task = asyncio.create_task(self._recover(worker), name=f"{worker.name}-recover")
        self._recovering.add(task)
        task.add_done_callback(self._recovering.discard)

    async def _recover(self, worker: WorkerProcess) -> None:
        try:
            await self._restart(worker)
        except Exception:  # a dead worker is restarted again at its next request
            logger.exception("sandbox worker %s could not be restarted", worker.name)
        finally:
            self._idle.put_nowait(worker)

    async def _restart_bare(self, worker: WorkerProcess) -> None:
        self._book.forget(worker.name)
        await worker.stop()
        await worker.start()

    async def _restart(self, worker: WorkerProcess) -> None:
        """Start a fresh worker and load every program into it, each stateful one with its last good state."""
        await self._restart_bare(worker)
        errors = await self._load_into(worker, [], list(self._book.entries.values()), fresh=True)
        for key, err in errors.items():  # it loaded before: only a budget spent differently makes it fail now
            logger.warning("sandbox %s: %s %r did not load again after a restart: %s", self.name, key[0], key[1], err)
            self._book.note(key, err.message, err.line)

    # -- runs and cycles ---------------------------------------------------------------------

    async def run_cycle(self, payload: Mapping[str, Any], context: Mapping[str, Any]) -> CycleResult:
        """Run one collection cycle through the hooks in a worker.

        A cycle goes to the next free worker at once. Cycles that arrive while every worker is busy (many
        devices polled at the same moment) go together, in one round trip: the IPC hop is paid per batch.
        """
        context = context if type(context) is dict else dict(context)
        future: asyncio.Future[CycleResult] = asyncio.get_running_loop().create_future()
        self._submit(CycleJob(payload, context, future))
        return await future

    async def run(
        self, key: ProgramKey, inputs: Mapping[str, Any], context: Mapping[str, Any] | None = None, *,
        trace: bool = False,
    ) -> RunResult:  # fmt: skip
        """Run one loaded program once; ``inputs`` is what its kind calls it with."""
        return (await self.run_many([Run(key=key, inputs=inputs, context=context, trace=trace)]))[0]

    async def run_many(self, runs: Iterable[Run]) -> list[RunResult]:
        """Run many programs (or one many times, in order) in one round trip; one result per run, in order."""
        future: asyncio.Future[list[RunResult]] = asyncio.get_running_loop().create_future()
        job = RunsJob(list(runs), future)
        if not job.runs:
            return []
        self._submit(job)
        return await future

    def _submit(self, job: Job) -> None:
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
            worker = await self._idle.get()
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
                self._idle.put_nowait(worker)
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
                reply = await self._request(worker, ["batch", items])
            except WorkerDied as died:
                await self._restart(worker)
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
                await self._restart(worker)  # after a MemoryError: leaked memory must not poison other programs
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
        message = _death(died)
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

    # -- editing support ---------------------------------------------------------------------

    async def dry_run(
        self, *, code: str, hook_type: str, test_input: Mapping[str, Any],
        context: Mapping[str, Any] | None = None, timeout_ms: float = 1000,
    ) -> DryRunResult:  # fmt: skip
        """Run unsaved hook ``code`` once against ``test_input``, apart from the loaded programs."""
        if hook_type not in HOOK_TYPES:
            return DryRunResult(ok=False, error=f"unknown hook type {hook_type!r}")
        timeout_ms = max(1.0, min(float(timeout_ms), MAX_TIMEOUT_MS))
        ctx = dict(context) if context is not None else dict(DRY_CONTEXT)
        reply = await self._dry(["dry", code, hook_type, dict(test_input), ctx, timeout_ms], timeout_ms)
        return DryRunResult(
            ok=bool(reply["ok"]), result=reply.get("result"), prints=reply.get("prints", ""),
            duration_ms=float(reply.get("duration_ms", 0.0)), error=reply.get("error"), line=reply.get("line"),
        )  # fmt: skip

    async def dry_run_program(
        self, program: Program, inputs: Mapping[str, Any], context: Mapping[str, Any] | None = None, *,
        state: Mapping[str, Any] | None = None, trace: bool = False,
    ) -> RunResult:  # fmt: skip
        """Load unsaved ``program`` apart from the loaded ones (``state`` over what its initialization makes)
        and run it once: the Test, Calculate and Debug buttons."""
        kept = _checked_state(state) if state is not None else None
        message = ["try", program.kind, program.fields(), dict(inputs), dict(context or {}), kept, trace]
        reply = await self._dry(message, float(program.timeout_ms))
        return RunResult(key=program.key, ok=bool(reply["ok"]), result=reply.get("result"),
                         prints=reply.get("prints", ""), duration_ms=float(reply.get("duration_ms", 0.0)),
                         error=reply.get("error"), line=reply.get("line"), timeout=bool(reply.get("timeout")),
                         state=reply.get("state"), trace=reply.get("trace"))  # fmt: skip

    async def _dry(self, message: list[Any], timeout_ms: float) -> dict[str, Any]:
        async with self._borrow() as worker:
            try:
                reply: dict[str, Any] = await self._request(worker, message)
            except WorkerDied as died:
                await self._restart(worker)
                if died.timed_out and died.script_id == COMPILE_ID:
                    error = f"compiling timed out after {died.budget_ms:g} ms"
                elif died.timed_out:
                    error = f"timed out after {timeout_ms:g} ms"
                else:
                    error = "the worker died running this code (memory or resource limit)"
                return {"ok": False, "error": error, "duration_ms": timeout_ms if died.timed_out else 0.0,
                        "timeout": died.timed_out}  # fmt: skip
            if reply.get("x"):
                await self._restart(worker)
        return reply

    async def validate(self, code: str, hook_type: str) -> list[CodeError]:
        """Compile errors (with line and message) and a missing hook function; nothing is run."""
        return await self._check(["validate", code, hook_type])

    async def validate_program(self, program: Program) -> list[CodeError]:
        """Compile errors (with line and message) and what the program's kind checks statically; nothing runs."""
        return await self._check(["check", program.kind, program.fields()])

    async def _check(self, message: list[Any]) -> list[CodeError]:
        async with self._borrow() as worker:
            try:
                reply = await self._request(worker, message)
            except WorkerDied as died:
                await self._restart(worker)
                return [CodeError(message="compiling timed out" if died.timed_out else "the compiler crashed")]
        return [CodeError(message=e["message"], line=e["line"]) for e in reply]

    def stats(self, kind: str = "hook") -> dict[ProgramId, dict[str, Any]]:
        """Per program of ``kind`` loaded or tried: runs, errors, timeouts, last error and its line."""
        return {key[1]: dict(s) for key, s in self._book.stats.items() if key[0] == kind}


def _checked_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A state from outside as plain data within the state limits, its names variables; else InvalidInput."""
    if not isinstance(state, Mapping):
        raise InvalidInput("state", "a mapping of variable name to value", type(state).__name__)
    bad = [k for k in state if type(k) is not str or not k.isidentifier() or k.startswith("_")]
    if bad:
        raise InvalidInput("state", "variable names (identifiers not starting with _)", bad[0])
    try:
        return keep_state(dict(state))
    except NotPlain as e:
        raise InvalidInput("state", "plain data that can be kept between runs", str(e)) from None
