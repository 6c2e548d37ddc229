"""The pool's handle on one worker process: start, request with an outside deadline, kill."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import select
import sys
import tempfile
import time
from typing import Any

from tagpipe.sandbox import marker
from tagpipe.sandbox.protocol import HEADER, MAX_MESSAGE_BYTES, TagMap, decode, encode
from tagpipe.sandbox.results import SandboxError

logger = logging.getLogger(__name__)

GRACE_S = 0.02
# How long a request may wait for its reply with the event loop held, before it parks the task and lets the
# loop run: most cycles answer well within it, and skipping the loop's wake-up round halves the IPC cost.
HOLD_MS = 1
READ_CHUNK = 1 << 16
PIPE_BYTES = 1 << 20
IDLE_TICK_S = 0.05
REQUEST_LIMIT_S = 120.0
_CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_WARNED: set[str] = set()


class WorkerDied(Exception):
    """The worker was killed for overrunning a deadline, or died (memory, CPU limit, crash)."""

    def __init__(self, script_id: int, budget_ms: float, timed_out: bool, cycle: int = 0) -> None:
        self.script_id = script_id
        self.budget_ms = budget_ms
        self.timed_out = timed_out
        self.cycle = cycle  # the cycle of a batch the worker was on
        what = f"timed out after {budget_ms:g} ms" if timed_out else "worker process died"
        super().__init__(f"script {script_id}: {what}")


def _widen(fd: int) -> None:
    """Let a pipe hold a whole batch of cycles (1 MiB, Linux's limit for anyone): fewer hand-overs per frame."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _marker_file() -> int:
    try:
        fd = os.memfd_create("tagpipe-sandbox-marker", 0)
    except (AttributeError, OSError):
        fd, path = tempfile.mkstemp(prefix="tagpipe-marker-")
        os.unlink(path)
    os.ftruncate(fd, marker.SIZE)
    return fd


class WorkerProcess:
    """One sandbox worker process, its pipes and the shared marker the parent watches."""

    def __init__(self, name: str, memory_mb: int, cpu_seconds: int) -> None:
        self.name = name
        self.memory_mb = memory_mb
        self.cpu_seconds = cpu_seconds
        self._proc: asyncio.subprocess.Process | None = None
        self._fd = -1
        self._buf: mmap.mmap | None = None
        self._killed: tuple[int, float] | None = None
        self._limits = marker.Watch()
        self._request_deadline = 0.0
        self._to_worker = -1
        self._from_worker = -1
        self._poll: Any = None
        self._watcher: asyncio.TimerHandle | None = None
        self.tag_map = TagMap()  # the parent's end of the cycle payload encoding
        self.isolation: dict[str, Any] = {}  # what the worker reported at start (sandbox.isolation)

    async def start(self) -> None:
        """Spawn the worker with a clean environment and wait until it answers."""
        self._fd = _marker_file()
        self._buf = mmap.mmap(self._fd, marker.SIZE)
        # Plain pipes the parent reads and writes itself: no stream or transport layers per message.
        child_in, self._to_worker = os.pipe()
        self._from_worker, child_out = os.pipe()
        for fd in (self._to_worker, self._from_worker):
            _widen(fd)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-m", "tagpipe.sandbox.worker",
                str(self._fd), str(self.memory_mb), str(self.cpu_seconds),
                stdin=child_in, stdout=child_out,
                pass_fds=(self._fd,), env=dict(_CLEAN_ENV), cwd="/", start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(child_in)
            os.close(child_out)
        os.set_blocking(self._to_worker, False)
        os.set_blocking(self._from_worker, False)
        self._poll = select.poll()
        self._poll.register(self._from_worker, select.POLLIN)
        self._killed = None
        try:
            reply = await self.request(["ping"], limit_s=30.0)
        except WorkerDied as e:
            raise SandboxError(f"sandbox worker {self.name} did not start") from e
        if reply != "pong":
            raise SandboxError(f"sandbox worker {self.name} answered {reply!r}")
        self.isolation = await self.request(["isolation"], limit_s=30.0)
        if not self.isolation.get("no_network") and self.name not in _WARNED:
            _WARNED.add(self.name)  # once per worker, not on every restart
            logger.warning("sandbox worker %s can open sockets: network namespace %s, seccomp %s (sockets: %s)",
                           self.name, self.isolation.get("network_namespace"), self.isolation.get("seccomp"),
                           self.isolation.get("sockets"))  # fmt: skip
        logger.debug("sandbox worker %s started (pid %s)", self.name, self._proc.pid)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def request(self, message: Any, limit_s: float = REQUEST_LIMIT_S) -> Any:
        """Send one request and return the reply; raise WorkerDied if it overran a deadline or died."""
        if self._proc is None or self._to_worker < 0:
            raise WorkerDied(0, 0, False)
        self._request_deadline = time.monotonic() + limit_s
        try:
            await self._send(encode(message))
            body = await self._receive()
        except (EOFError, ConnectionError) as e:
            raise await self._death() from e
        finally:
            if self._watcher is not None:
                self._watcher.cancel()  # the watch ends with its request
                self._watcher = None
        reply = decode(body)
        if type(reply) is not list or not reply:
            raise SandboxError("malformed reply from sandbox worker")
        if reply[0] != "ok":
            raise SandboxError(f"sandbox worker error: {reply[1]}")
        return reply[1]

    async def _send(self, frame: bytes) -> None:
        view = memoryview(frame)
        while view:
            try:
                view = view[os.write(self._to_worker, view) :]
            except BlockingIOError:
                await self._ready(self._to_worker, writing=True)

    async def _receive(self) -> Any:
        """One reply frame's body; the worker writes each frame whole and answers one request at a time."""
        fd = self._from_worker
        data: bytes | bytearray = b""
        need = HEADER.size
        held = False
        while True:
            try:
                chunk = os.read(fd, max(READ_CHUNK, need - len(data)))
            except BlockingIOError:
                if not held and HOLD_MS > 0:
                    held = True
                    self._poll.poll(HOLD_MS)
                else:
                    await self._ready(fd, writing=False)
                continue
            if not chunk:
                raise EOFError("the sandbox worker closed its pipe")
            if not data:
                data = chunk
            elif type(data) is bytes:
                data = bytearray(data) + chunk  # a long reply: grow in place from now on
            else:
                data += chunk
            if len(data) < HEADER.size:
                continue
            (size,) = HEADER.unpack_from(data)
            if size > MAX_MESSAGE_BYTES:
                self.kill()
                raise WorkerDied(0, 0, False)
            need = HEADER.size + size
            if len(data) == need:
                return memoryview(data)[HEADER.size :]
            if len(data) > need:
                raise SandboxError("sandbox worker wrote more than one reply")

    async def _ready(self, fd: int, writing: bool) -> None:
        """Park until ``fd`` can be read (or written), letting the event loop and the deadline watch run."""
        loop = asyncio.get_running_loop()
        if self._watcher is None:  # the loop was held until now, so the watch could not have run before
            self._watcher = loop.call_later(0.01, self._watch)
        waiter = loop.create_future()

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        if writing:
            loop.add_writer(fd, wake)
        else:
            loop.add_reader(fd, wake)
        try:
            await waiter
        finally:
            if writing:
                loop.remove_writer(fd)
            else:
                loop.remove_reader(fd)

    def _watch(self) -> None:
        """Kill the worker when the script it runs is past its deadline (or the whole request is)."""
        self._watcher = None
        if self._proc is None or self._proc.returncode is not None or self._buf is None:
            return
        sid, deadline, budget, call = marker.read(self._buf)
        now = time.monotonic()
        deadline = self._limits.limit(sid, deadline, budget, call, now)
        if sid != 0 and now > deadline + GRACE_S:
            self._killed = (sid, budget)
            self.kill()
            return
        if now > self._request_deadline:
            self._killed = (sid, budget)
            self.kill()
            return
        delay = IDLE_TICK_S if sid == 0 else max(0.001, min(deadline + GRACE_S - now + 0.001, IDLE_TICK_S * 4))
        self._watcher = asyncio.get_running_loop().call_later(delay, self._watch)

    async def _death(self) -> WorkerDied:
        proc = self._proc
        if proc is not None:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        cycle = marker.cycle_index(self._buf) if self._buf is not None else 0
        if self._killed is not None:
            sid, budget = self._killed
            return WorkerDied(sid, budget, True, cycle)
        sid, _, budget, _ = marker.read(self._buf) if self._buf is not None else (0, 0.0, 0.0, 0)
        logger.warning("sandbox worker %s died (exit %s) while running script %s", self.name,
                       proc.returncode if proc else None, sid)  # fmt: skip
        return WorkerDied(sid, budget, False, cycle)

    def kill(self) -> None:
        """SIGKILL the worker (it cannot catch it)."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()

    async def stop(self) -> None:
        """Close the worker's input so it exits, kill it if it does not, and free the marker."""
        proc, self._proc = self._proc, None
        if self._to_worker >= 0:
            os.close(self._to_worker)  # end of input: the worker exits
            self._to_worker = -1
        if proc is not None:
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            # Close the pipes now, on this loop; left to the garbage collector they complain once the loop is gone.
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        if self._from_worker >= 0:
            os.close(self._from_worker)
            self._from_worker = -1
            self._poll = None
        if self._buf is not None:
            self._buf.close()
            self._buf = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
