"""The pool's worker processes: which are free, one request each at a time, and restarts that reload programs.

Every worker holds every program in the registry, each in its slot; a restarted worker gets them all again,
each stateful one with its last good state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from tagpipe.sandbox.process import WorkerDied, WorkerProcess
from tagpipe.sandbox.registry import Entry, Registry
from tagpipe.sandbox.results import CodeError, ProgramKey, SandboxError

logger = logging.getLogger(__name__)


def death(died: WorkerDied, doing: str = "") -> str:
    """What a program that killed the worker is told."""
    if died.timed_out:
        return f"timed out after {died.budget_ms:g} ms{doing}"
    return f"the worker died{doing or ' running this program'} (memory or resource limit); restarted"


class Workers:
    """The worker processes of one pool and the queue of those that are free."""

    def __init__(self, name: str, count: int, memory_mb: int, cpu_seconds: int, book: Registry) -> None:
        self.name = name
        self.all = [WorkerProcess(f"{name}-{i}", memory_mb, cpu_seconds) for i in range(max(1, count))]
        self.idle: asyncio.Queue[WorkerProcess] = asyncio.Queue()
        self.running = False
        self.round_trips = 0
        self._book = book
        self._recovering: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await asyncio.gather(*(w.start() for w in self.all))
        for w in self.all:
            self.idle.put_nowait(w)
        self.running = True

    async def stop(self) -> None:
        self.running = False
        recovering = list(self._recovering)
        for task in recovering:
            task.cancel()
        await asyncio.gather(*recovering, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in self.all), return_exceptions=True)

    async def request(self, worker: WorkerProcess, message: list[Any]) -> Any:
        """One request to ``worker``, counted as one round trip."""
        self.round_trips += 1
        return await worker.request(message)

    @contextlib.asynccontextmanager
    async def borrow(self) -> AsyncIterator[WorkerProcess]:
        """A free worker for one request; if the caller is cancelled mid-request, a fresh one replaces it."""
        if not self.running:
            raise SandboxError("the sandbox pool is not running")
        worker = await self.idle.get()
        try:
            yield worker
        except asyncio.CancelledError:
            # Its reply may still arrive and would answer the next request: restart it, then free it.
            self.spawn_recovery(worker)
            raise
        except BaseException:
            self.idle.put_nowait(worker)
            raise
        self.idle.put_nowait(worker)

    def spawn_recovery(self, worker: WorkerProcess) -> None:
        task = asyncio.create_task(self._recover(worker), name=f"{worker.name}-recover")
        self._recovering.add(task)
        task.add_done_callback(self._recovering.discard)

    async def _recover(self, worker: WorkerProcess) -> None:
        try:
            await self.restart(worker)
        except Exception:  # a dead worker is restarted again at its next request
            logger.exception("sandbox worker %s could not be restarted", worker.name)
        finally:
            self.idle.put_nowait(worker)

    async def restart_bare(self, worker: WorkerProcess) -> None:
        self._book.forget(worker.name)
        await worker.stop()
        await worker.start()

    async def restart(self, worker: WorkerProcess) -> None:
        """Start a fresh worker and load every program into it, each stateful one with its last good state."""
        await self.restart_bare(worker)
        errors = await self.load_into(worker, [], list(self._book.entries.values()), fresh=True)
        for key, err in errors.items():  # it loaded before: only a budget spent differently makes it fail now
            logger.warning("sandbox %s: %s %r did not load again after a restart: %s", self.name, key[0], key[1], err)
            self._book.note(key, err.message, err.line)

    async def drop(self, worker: WorkerProcess, slots: list[int]) -> None:
        """Unload ``slots`` from ``worker``; one found dead is restarted with what the registry holds."""
        try:
            await self.request(worker, ["drop", slots])
        except WorkerDied:
            await self.restart(worker)

    @contextlib.asynccontextmanager
    async def every(self) -> AsyncIterator[list[WorkerProcess]]:
        """All workers, once the batches they run are done; cancelled midway, they are restarted."""
        taken: list[WorkerProcess] = []
        try:
            for _ in self.all:
                taken.append(await self.idle.get())
            yield taken
        except asyncio.CancelledError:
            for worker in taken:
                self.spawn_recovery(worker)
            taken = []
            raise
        finally:
            for worker in taken:
                self.idle.put_nowait(worker)

    async def load_into(
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
                reply = await self.request(worker, ["add", items]) if items else {"errors": {}, "states": {}}
            except WorkerDied as died:
                await self.restart_bare(worker)
                if not fresh:
                    pending, fresh = [*base, *pending], True
                culprit = next((e for e in pending if e.slot == died.script_id), None)
                if culprit is not None:
                    errors[culprit.key] = CodeError(message=death(died, " while loading"), script_id=culprit.program.id)
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
