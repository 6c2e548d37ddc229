"""SandboxPool: the async front of the worker processes that the edge agent, the server and workers call.

Every worker holds every loaded program, each in the slot the pool gave it. Loading and unloading take all
workers for a moment (waiting for the batches they run); runs and cycles go to the next free worker, and
those that arrive while every worker is busy go together in one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self

from tagpipe.errors import InvalidInput, NotFound
from tagpipe.sandbox.batches import Batches
from tagpipe.sandbox.hooks import HOOK_TYPES, HookProgram
from tagpipe.sandbox.jobs import CycleJob, Run, RunsJob
from tagpipe.sandbox.kinds import kind_of
from tagpipe.sandbox.marker import COMPILE_ID
from tagpipe.sandbox.plain import NotPlain, fresh, keep_state
from tagpipe.sandbox.process import WorkerDied
from tagpipe.sandbox.program import MAX_TIMEOUT_MS, Program
from tagpipe.sandbox.registry import Entry, Registry
from tagpipe.sandbox.results import (
    CodeError,
    CycleResult,
    DryRunResult,
    ProgramId,
    ProgramKey,
    RunResult,
    SandboxError,
)
from tagpipe.sandbox.workers import Workers

if TYPE_CHECKING:
    from tagpipe.contracts.config import ScriptConfig

DRY_CONTEXT = {"device_id": "dry-run", "equipment_id": None, "connection_id": None, "company_code": ""}


class SandboxPool:
    """Runs user programs in limited worker processes; one bad program never blocks or crashes the caller."""

    def __init__(self, workers: int = 1, name: str = "sandbox", memory_mb: int = 512, cpu_seconds: int = 30) -> None:
        self.name = name
        self._book = Registry()
        self._set = Workers(name, workers, memory_mb, cpu_seconds, self._book)
        self._workers = self._set.all  # the processes, for tests that look at pids and markers
        self._batches = Batches(self._set, self._book)
        self._changing = asyncio.Lock()

    async def __aenter__(self) -> Self:
        await self._set.start()
        self._batches.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._batches.stop()
        await self._set.stop()

    @property
    def round_trips(self) -> int:
        """Requests sent to workers so far (a batch of cycles and runs is one)."""
        return self._set.round_trips

    @property
    def isolation(self) -> dict[str, Any]:
        """How the workers are kept off the network (``sandbox.isolation``): each layer ``on`` or why not, what a
        socket attempt answered at start, and ``no_network``; empty before the pool starts."""
        return dict(self._set.all[0].isolation)

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
        if not self._set.running:
            raise SandboxError("the sandbox pool is not running")
        book = self._book
        async with self._changing, self._set.every() as workers:
            dropped = [e.slot for e in map(book.remove, gone) if e is not None]
            if dropped:
                await asyncio.gather(*(self._set.drop(w, dropped) for w in workers))
            entries = [Entry(program=p, slot=book.slot_for(p.key), stateful=kind_of(p.kind).stateful,
                             state=states.get(p.key)) for p in {p.key: p for p in new}.values()]  # fmt: skip
            keys = {e.key for e in entries}
            base = [e for e in book.entries.values() if e.key not in keys]
            errors = await self._set.load_into(workers[0], entries, base, accept=True)
            good = [e for e in entries if e.key not in errors]
            for more in await asyncio.gather(*(self._set.load_into(w, good, base) for w in workers[1:])):
                errors.update(more)
            for entry in entries:
                if entry.key in errors:
                    book.remove(entry.key)
                else:
                    book.put(entry)
            for entry in base:
                if entry.key in errors:
                    book.remove(entry.key)
            failed = [e.slot for e in [*entries, *base] if e.key in errors]
            if failed and len(workers) > 1:  # those another worker did load
                await asyncio.gather(*(self._set.drop(w, failed) for w in workers))
        for key, err in errors.items():
            book.note(key, err.message, err.line)
        return errors

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

    # -- runs and cycles ---------------------------------------------------------------------

    async def run_cycle(self, payload: Mapping[str, Any], context: Mapping[str, Any]) -> CycleResult:
        """Run one collection cycle through the hooks in a worker.

        A cycle goes to the next free worker at once. Cycles that arrive while every worker is busy (many
        devices polled at the same moment) go together, in one round trip: the IPC hop is paid per batch.
        """
        context = context if type(context) is dict else dict(context)
        future: asyncio.Future[CycleResult] = asyncio.get_running_loop().create_future()
        self._batches.submit(CycleJob(payload, context, future))
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
        self._batches.submit(job)
        return await future

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
        async with self._set.borrow() as worker:
            try:
                reply: dict[str, Any] = await self._set.request(worker, message)
            except WorkerDied as died:
                await self._set.restart(worker)
                if died.timed_out and died.script_id == COMPILE_ID:
                    error = f"compiling timed out after {died.budget_ms:g} ms"
                elif died.timed_out:
                    error = f"timed out after {timeout_ms:g} ms"
                else:
                    error = "the worker died running this code (memory or resource limit)"
                return {"ok": False, "error": error, "duration_ms": timeout_ms if died.timed_out else 0.0,
                        "timeout": died.timed_out}  # fmt: skip
            if reply.get("x"):
                await self._set.restart(worker)
        return reply

    async def validate(self, code: str, hook_type: str) -> list[CodeError]:
        """Compile errors (with line and message) and a missing hook function; nothing is run."""
        return await self._check(["validate", code, hook_type])

    async def validate_program(self, program: Program) -> list[CodeError]:
        """Compile errors (with line and message) and what the program's kind checks statically; nothing runs."""
        return await self._check(["check", program.kind, program.fields()])

    async def _check(self, message: list[Any]) -> list[CodeError]:
        async with self._set.borrow() as worker:
            try:
                reply = await self._set.request(worker, message)
            except WorkerDied as died:
                await self._set.restart(worker)
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
