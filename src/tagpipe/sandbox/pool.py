"""SandboxPool: the async front of the worker processes that the edge agent and the server call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self

from tagpipe.sandbox.hooks import HOOK_TYPES
from tagpipe.sandbox.marker import COMPILE_ID
from tagpipe.sandbox.process import WorkerDied, WorkerProcess
from tagpipe.sandbox.protocol import TagMap
from tagpipe.sandbox.results import CodeError, CycleResult, DryRunResult, SandboxError, ScriptError

if TYPE_CHECKING:
    from tagpipe.contracts.config import ScriptConfig

logger = logging.getLogger(__name__)

MAX_TIMEOUT_MS = 60_000
# A batch of cycles for one round trip stops growing at this many cycles or tag values.
BATCH_CYCLES = 64
BATCH_VALUES = 20_000


def _script_dict(script: ScriptConfig | Mapping[str, Any]) -> dict[str, Any]:
    data = dict(script) if isinstance(script, Mapping) else script.model_dump(mode="json")
    keys = ("id", "hook_type", "scope", "equipment_id", "connection_id", "device_id", "priority", "timeout_ms", "code")
    out = {k: data.get(k) for k in keys}
    out["scope"] = out["scope"] or "global"
    out["priority"] = 100 if out["priority"] is None else int(out["priority"])
    out["timeout_ms"] = max(1, min(int(out["timeout_ms"] or 1000), MAX_TIMEOUT_MS))
    return out


class _Job:
    """One caller's cycle, waiting for a worker; ``skip`` and ``failed`` grow when a script kills the worker."""

    __slots__ = ("context", "failed", "future", "payload", "skip")

    def __init__(self, payload: Mapping[str, Any], context: dict[str, Any], future: asyncio.Future[CycleResult]) -> None:
        self.payload = payload
        self.context = context
        self.future = future
        self.skip: list[int] = []
        self.failed: list[ScriptError] = []

    def size(self) -> int:
        tags = self.payload.get("tags")
        return len(tags) if isinstance(tags, dict) else 1


def _new_stats() -> dict[str, Any]:
    return {"runs": 0, "errors": 0, "timeouts": 0, "last_error": None, "last_error_line": None}


class SandboxPool:
    """Runs user hooks in limited worker processes; one bad script never blocks or crashes the caller."""

    def __init__(self, workers: int = 1, name: str = "sandbox", memory_mb: int = 512, cpu_seconds: int = 30) -> None:
        self.name = name
        self._workers = [WorkerProcess(f"{name}-{i}", memory_mb, cpu_seconds) for i in range(max(1, workers))]
        self._idle: asyncio.Queue[WorkerProcess] = asyncio.Queue()
        self._jobs: deque[_Job] = deque()
        self._jobs_waiting = asyncio.Event()
        self._servers: list[asyncio.Task[None]] = []
        self._recovering: set[asyncio.Task[None]] = set()
        self._scripts: list[dict[str, Any]] = []
        self._stats: dict[int, dict[str, Any]] = {}

    async def __aenter__(self) -> Self:
        await asyncio.gather(*(w.start() for w in self._workers))
        for w in self._workers:
            self._idle.put_nowait(w)
        self._servers = [asyncio.create_task(self._serve_cycles(), name=f"{self.name}-cycles-{i}")
                         for i in range(len(self._workers))]  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        servers, self._servers = self._servers, []
        for task in [*servers, *self._recovering]:
            task.cancel()
        await asyncio.gather(*servers, *self._recovering, return_exceptions=True)
        while self._jobs:
            _fail(self._jobs.popleft(), SandboxError("the sandbox pool was closed"))
        await asyncio.gather(*(w.stop() for w in self._workers), return_exceptions=True)

    # -- scripts -----------------------------------------------------------------------------

    async def load(self, scripts: Iterable[ScriptConfig | Mapping[str, Any]]) -> dict[int, CodeError]:
        """Compile ``scripts`` in every worker, replacing what was loaded; return the ones that failed."""
        wanted = [_script_dict(s) for s in scripts]
        taken = [await self._idle.get() for _ in self._workers]
        try:
            good, errors = await self._load_into(taken[0], wanted)
            rest = await asyncio.gather(*(self._load_into(w, good) for w in taken[1:]))
            for _, more in rest:
                errors.update(more)
            self._scripts = [s for s in good if s["id"] not in errors]
        finally:
            for w in taken:
                self._idle.put_nowait(w)
        self._stats = {s["id"]: self._stats.get(s["id"]) or _new_stats() for s in wanted}
        for sid, err in errors.items():
            self._note(sid, err.message, err.line)
        return errors

    async def _load_into(
        self, worker: WorkerProcess, scripts: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[int, CodeError]]:
        """Load into one worker; a script that hangs or kills it while loading is dropped with an error."""
        remaining = list(scripts)
        errors: dict[int, CodeError] = {}
        for _ in range(len(scripts) + 2):
            try:
                reply = await worker.request(["load", remaining])
            except WorkerDied as died:
                await self._restart_bare(worker)
                culprit = next((s for s in remaining if s["id"] == died.script_id), None)
                if culprit is None:
                    continue
                what = f"timed out after {died.budget_ms:g} ms while loading" if died.timed_out else (
                    "the worker died while loading (memory or resource limit)")
                errors[culprit["id"]] = CodeError(message=what, script_id=culprit["id"])
                remaining.remove(culprit)
                continue
            for sid, err in reply["errors"].items():
                errors[int(sid)] = CodeError(message=err["message"], line=err["line"], script_id=int(sid))
            return [s for s in remaining if s["id"] not in errors], errors
        raise SandboxError("sandbox worker keeps dying while loading scripts")

    @contextlib.asynccontextmanager
    async def _borrow(self) -> AsyncIterator[WorkerProcess]:
        """A free worker for one request; if the caller is cancelled mid-request, a fresh one replaces it."""
        worker = await self._idle.get()
        try:
            yield worker
        except asyncio.CancelledError:
            # Its reply may still arrive and would answer the next request: restart it, then free it.
            task = asyncio.create_task(self._recover(worker), name=f"{worker.name}-recover")
            self._recovering.add(task)
            task.add_done_callback(self._recovering.discard)
            raise
        except BaseException:
            self._idle.put_nowait(worker)
            raise
        self._idle.put_nowait(worker)

    async def _recover(self, worker: WorkerProcess) -> None:
        try:
            await self._restart(worker)
        except Exception:  # a dead worker is restarted again at its next request
            logger.exception("sandbox worker %s could not be restarted", worker.name)
        finally:
            self._idle.put_nowait(worker)

    async def _restart_bare(self, worker: WorkerProcess) -> None:
        await worker.stop()
        await worker.start()

    async def _restart(self, worker: WorkerProcess) -> None:
        """Start a fresh worker and load the current scripts into it."""
        await self._restart_bare(worker)
        _, errors = await self._load_into(worker, self._scripts)
        for sid, err in errors.items():
            self._note(sid, err.message, err.line)

    # -- cycles ------------------------------------------------------------------------------

    async def run_cycle(self, payload: Mapping[str, Any], context: Mapping[str, Any]) -> CycleResult:
        """Run one collection cycle through the hooks in a worker.

        A cycle goes to the next free worker at once. Cycles that arrive while every worker is busy (many
        devices polled at the same moment) go together, in one round trip: the IPC hop is paid per batch.
        """
        if not self._servers:
            raise SandboxError("the sandbox pool is not running")
        context = context if type(context) is dict else dict(context)
        job = _Job(payload, context, asyncio.get_running_loop().create_future())
        self._jobs.append(job)
        self._jobs_waiting.set()
        return await job.future

    async def _serve_cycles(self) -> None:
        """One per worker: take the waiting cycles, run them on a free worker, answer their callers."""
        jobs = self._jobs
        while True:
            while not jobs:
                self._jobs_waiting.clear()
                await self._jobs_waiting.wait()
            worker = await self._idle.get()
            batch: list[_Job] = []
            try:
                values = 0
                while jobs and len(batch) < BATCH_CYCLES and values < BATCH_VALUES:
                    job = jobs.popleft()
                    if not job.future.done():  # else its caller gave up
                        batch.append(job)
                        values += job.size()
                if batch:
                    await self._run_batch(worker, batch)
            except asyncio.CancelledError:
                for job in batch:
                    _fail(job, SandboxError("the sandbox pool was closed"))
                raise
            except Exception as e:  # noqa: BLE001 - the callers get it; this loop goes on
                for job in batch:
                    _fail(job, e)
            finally:
                self._idle.put_nowait(worker)

    async def _run_batch(self, worker: WorkerProcess, batch: list[_Job]) -> None:
        """Run ``batch`` in one round trip; a script that kills the worker is skipped in the cycle it was on."""
        by_id = {s["id"]: s for s in self._scripts}
        for _ in range(len(self._scripts) * len(batch) + 3):
            pack = worker.tag_map.pack
            try:
                replies = await worker.request(["cycles", [[pack(j.payload), j.context, j.skip] for j in batch]])
            except WorkerDied as died:
                await self._restart(worker)
                script = by_id.get(died.script_id)
                job = batch[died.cycle] if 0 <= died.cycle < len(batch) else None
                if script is None or job is None or died.script_id in job.skip:
                    continue
                job.skip.append(died.script_id)
                message = f"timed out after {died.budget_ms:g} ms" if died.timed_out else (
                    "the worker died running this script (memory or resource limit); restarted")
                job.failed.append(ScriptError(script_id=died.script_id, hook_type=script["hook_type"],
                                              message=message, timeout=died.timed_out))  # fmt: skip
                self._count(died.script_id, 1, 1, message, None, died.timed_out)
                continue  # the whole batch again: the cycles before it ran in the worker that died
            try:
                replies, runs = replies
                for sid, n in runs:
                    self._count(sid, n, 0, None, None, False)
                results = [self._result(reply, job.failed, worker.tag_map)
                           for job, reply in zip(batch, replies, strict=True)]  # fmt: skip
            except (TypeError, ValueError) as e:
                raise SandboxError("malformed cycle reply from sandbox worker") from e
            if any(reply[3] for reply in replies):
                await self._restart(worker)  # after a MemoryError: leaked memory must not poison other scripts
            for job, result in zip(batch, results):
                if not job.future.done():
                    job.future.set_result(result)
            return
        raise SandboxError("sandbox worker keeps dying during a cycle")

    def _result(self, reply: list[Any], failed: list[ScriptError], tag_map: TagMap) -> CycleResult:
        """One cycle's ``[payload, alarms, errors, restart]`` from the worker, its errors counted."""
        packed, alarms, reported, _ = reply
        errors = list(failed)
        for sid, hook_type, message, line, count, timeout in reported:
            errors.append(ScriptError(script_id=sid, hook_type=hook_type, message=message, line=line,
                                      count=count, timeout=timeout))  # fmt: skip
            self._count(sid, 0, count, message, line, timeout)
        return CycleResult(payload=tag_map.unpack(packed), alarms=[a for a in alarms if type(a) is dict],
                           errors=errors)  # fmt: skip

    # -- editing support ---------------------------------------------------------------------

    async def dry_run(
        self, *, code: str, hook_type: str, test_input: Mapping[str, Any],
        context: Mapping[str, Any] | None = None, timeout_ms: float = 1000,
    ) -> DryRunResult:  # fmt: skip
        """Run unsaved ``code`` once against ``test_input``, apart from the loaded scripts."""
        if hook_type not in HOOK_TYPES:
            return DryRunResult(ok=False, error=f"unknown hook type {hook_type!r}")
        timeout_ms = max(1.0, min(float(timeout_ms), MAX_TIMEOUT_MS))
        ctx = dict(context) if context is not None else {
            "device_id": "dry-run", "equipment_id": None, "connection_id": None, "company_code": ""}
        async with self._borrow() as worker:
            try:
                reply = await worker.request(["dry", code, hook_type, dict(test_input), ctx, timeout_ms])
            except WorkerDied as died:
                await self._restart(worker)
                if died.timed_out and died.script_id == COMPILE_ID:
                    error = f"compiling timed out after {died.budget_ms:g} ms"
                elif died.timed_out:
                    error = f"timed out after {timeout_ms:g} ms"
                else:
                    error = "the worker died running this code (memory or resource limit)"
                return DryRunResult(ok=False, error=error, duration_ms=timeout_ms if died.timed_out else 0.0)
            if reply.get("x"):
                await self._restart(worker)
        return DryRunResult(
            ok=bool(reply["ok"]), result=reply.get("result"), prints=reply.get("prints", ""),
            duration_ms=float(reply.get("duration_ms", 0.0)), error=reply.get("error"), line=reply.get("line"),
        )  # fmt: skip

    async def validate(self, code: str, hook_type: str) -> list[CodeError]:
        """Compile errors (with line and message) and a missing hook function; nothing is run."""
        async with self._borrow() as worker:
            try:
                reply = await worker.request(["validate", code, hook_type])
            except WorkerDied as died:
                await self._restart(worker)
                return [CodeError(message="compiling timed out" if died.timed_out else "the compiler crashed")]
        return [CodeError(message=e["message"], line=e["line"]) for e in reply]

    def stats(self) -> dict[int, dict[str, Any]]:
        """Per loaded script: runs, errors, timeouts, last error and its line."""
        return {sid: dict(s) for sid, s in self._stats.items()}

    def _count(self, sid: int, runs: int, errors: int, message: str | None, line: int | None, timeout: bool) -> None:
        stats = self._stats.get(sid)
        if stats is None:
            return
        stats["runs"] += runs
        stats["errors"] += errors
        if timeout:
            stats["timeouts"] += 1
        if message is not None:
            stats["last_error"] = message
            stats["last_error_line"] = line

    def _note(self, sid: int, message: str, line: int | None) -> None:
        stats = self._stats.setdefault(sid, _new_stats())
        stats["last_error"] = message
        stats["last_error_line"] = line


def _fail(job: _Job, error: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(error)
