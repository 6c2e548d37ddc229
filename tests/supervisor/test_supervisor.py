"""The supervisor with real processes: a killed child comes back (reaped, counted), a child that keeps dying is
reported as crash-looping and still retried, and stopping wins over a restart that is due."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from tagpipe.supervisor import ChildSpec, ChildStatus, Supervisor
from tests.helpers import wait_until


def _python(code: str) -> ChildSpec:
    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL)

    return ChildSpec(name=code.split(";")[0], spawn=spawn)


SLEEPER = "import time; time.sleep(600)"
QUITTER = "import sys; sys.exit(3)"


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    sup = Supervisor(poll_s=0.02, base_s=0.05, cap_s=0.2).start()
    yield sup
    sup.stop_all(timeout=5)


def _status(sup: Supervisor, name: str) -> ChildStatus:
    return next(c for c in sup.snapshot() if c.name == name)


def test_a_killed_child_is_reaped_restarted_and_counted(supervisor: Supervisor) -> None:
    spec = _python(SLEEPER)
    first = supervisor.add(spec)
    os.kill(first.pid, signal.SIGKILL)
    again = wait_until(lambda: s if (s := _status(supervisor, spec.name)).pid not in (None, first.pid) else None,
                       timeout=10, what="the child restarted")
    assert again.state == "running" and again.restarts == 1 and again.last_exit_code == -signal.SIGKILL
    assert not psutil.pid_exists(first.pid) or psutil.Process(first.pid).status() != psutil.STATUS_ZOMBIE
    assert psutil.Process(again.pid).is_running()


def test_a_child_that_keeps_dying_is_reported_and_still_retried(supervisor: Supervisor) -> None:
    spec = _python(QUITTER)
    supervisor.add(spec)
    looping = wait_until(lambda: s if (s := _status(supervisor, spec.name)).state == "crash-looping" else None,
                         timeout=10, what="crash-looping")
    assert looping.last_exit_code == 3 and looping.failures >= 3 and not looping.up
    wait_until(lambda: _status(supervisor, spec.name).restarts >= looping.restarts + 3, timeout=10,
               what="restarts at the capped delay")


def test_stopping_wins_over_a_restart_that_is_due() -> None:
    sup = Supervisor(poll_s=0.02, base_s=0.3, cap_s=0.3).start()
    spec = _python(SLEEPER)
    proc = sup.add(spec)
    os.kill(proc.pid, signal.SIGKILL)
    wait_until(lambda: _status(sup, spec.name).state == "restarting", timeout=5, what="the death noticed")
    started = time.monotonic()
    sup.stop_all(timeout=5)
    assert time.monotonic() - started < 2
    assert sup._thread is not None and not sup._thread.is_alive()  # nothing can restart it any more
    assert _status(sup, spec.name).pid is None and _status(sup, spec.name).restarts == 0
