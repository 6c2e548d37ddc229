"""The supervisor of ``tagpipe up`` and ``tagpipe demo``: one thread that watches every child process, reaps it when it
dies, restarts it after the policy's back-off, and keeps a snapshot of each child's state for the health report."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tagpipe.supervisor import policy

log = logging.getLogger(__name__)
Spawn = Callable[[], "subprocess.Popen[bytes]"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildSpec:
    """How to start one child. Higher ``tier`` stops first (clients before the bus they use)."""

    name: str
    spawn: Spawn
    tier: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildStatus:
    name: str
    state: policy.State
    pid: int | None
    restarts: int
    failures: int
    last_exit_code: int | None
    running_s: float | None

    @property
    def up(self) -> bool:
        return self.state == "running"


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    record: policy.Record = field(default_factory=policy.Record)
    restart_at: float | None = None


class Supervisor:
    """``start()`` the watch thread, ``add()`` children, ``stop_all()`` at the end (each by PID: SIGTERM, then SIGKILL).

    ``stopping()`` only sets a flag, so a signal handler may call it: no child is restarted after it.
    """

    def __init__(self, *, poll_s: float = 0.1, base_s: float = policy.BASE_S, cap_s: float = policy.CAP_S) -> None:
        self.poll_s = poll_s
        self.base_s, self.cap_s = base_s, cap_s
        self._children: dict[str, _Child] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, spec: ChildSpec, proc: subprocess.Popen[bytes] | None = None) -> subprocess.Popen[bytes]:
        """Watch a child from now on: ``proc`` when it was started already, else it is started here."""
        with self._lock:
            if spec.name in self._children:
                raise ValueError(f"a child named {spec.name!r} is supervised already")
            if self._stopping.is_set():
                raise RuntimeError("the supervisor is stopping")
            child = _Child(spec=spec, proc=proc or spec.spawn(), started=time.monotonic())
            self._children[spec.name] = child
            assert child.proc is not None
            return child.proc

    def remove(self, name: str) -> subprocess.Popen[bytes] | None:
        """Stop watching a child (it is not stopped); its process, if it has one."""
        with self._lock:
            child = self._children.pop(name, None)
            return child.proc if child else None

    def start(self) -> Supervisor:
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def stopping(self) -> None:
        self._stopping.set()

    def snapshot(self) -> list[ChildStatus]:
        now = time.monotonic()
        with self._lock:
            return [self._status(c, now) for c in self._children.values()]

    def _status(self, child: _Child, now: float) -> ChildStatus:
        running = child.proc is not None and child.proc.returncode is None
        return ChildStatus(name=child.spec.name, pid=child.proc.pid if running and child.proc else None,
                           state=policy.classify(child.record, running=running, stopped=self._stopping.is_set()),
                           restarts=child.record.restarts, failures=child.record.failures,
                           last_exit_code=child.record.last_exit_code,
                           running_s=round(now - child.started, 1) if running else None)

    # -- the watch thread ---------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_s):
            with self._lock:
                now = time.monotonic()
                for child in self._children.values():
                    if self._stopping.is_set():
                        return
                    self._check(child, now)

    def _check(self, child: _Child, now: float) -> None:
        name = child.spec.name
        if child.proc is not None:
            code = child.proc.poll()  # also reaps it: no zombie stays behind
            if code is None:
                child.record = policy.settle(child.record, running_s=now - child.started)
                return
            pid, child.proc = child.proc.pid, None
            child.record = policy.after_exit(child.record, ran_s=now - child.started, exit_code=code)
            delay = policy.restart_backoff(child.record, base_s=self.base_s, cap_s=self.cap_s).delay()
            child.restart_at = now + delay
            looping = policy.classify(child.record, running=False) == "crash-looping"
            log.warning("%s (pid %d) exited with code %s after %.1f s; restarting in %.1f s%s", name, pid, code,
                        now - child.started, delay,
                        f" (crash-looping: {child.record.failures} failures in a row)" if looping else "")
        if child.restart_at is not None and now >= child.restart_at:
            child.restart_at = None
            child.started = now
            child.record = policy.after_restart(child.record)
            try:
                child.proc = child.spec.spawn()
            except Exception as e:  # noqa: BLE001 - a child that cannot even start is a failure like any other
                child.record = policy.after_exit(child.record, ran_s=0.0, exit_code=None)
                delay = policy.restart_backoff(child.record, base_s=self.base_s, cap_s=self.cap_s).delay()
                child.restart_at = now + delay
                log.error("could not start %s (%s); trying again in %.1f s", name, e, delay)
                return
            log.warning("restarted %s as pid %d (restart %d)", name, child.proc.pid, child.record.restarts)

    # -- stopping -----------------------------------------------------------------------------------

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop the watch thread, then every child by PID, highest tier first; SIGKILL what lingers."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:  # a restart in progress finishes first, so its process is stopped too
            children = list(self._children.values())
        for tier in sorted({c.spec.tier for c in children}, reverse=True):
            procs = [c.proc for c in children if c.spec.tier == tier and c.proc is not None]
            _terminate(procs, timeout)


def _terminate(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
