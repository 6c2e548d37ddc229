"""Child processes of ``tagpipe up`` and ``tagpipe demo``: started with the same settings, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

from tagpipe.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"TAGPIPE_{name.upper()}"] = str(value)
    if settings.nats_url is None:
        env["TAGPIPE_NATS_URL"] = settings.bus_url
    return env


def run_to_end(args: list[str], env: dict[str, str]) -> int:
    """Run ``python -m ARGS`` in the foreground and return its exit code (it reports its own errors)."""
    return subprocess.run([sys.executable, "-m", *args], env=env, stdin=subprocess.DEVNULL, check=False).returncode


class Children:
    """Processes started by the supervisor; ``stop_all`` ends each by PID (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", *args], env=env, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def stop_all(self, timeout: float = 10.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()


@contextlib.contextmanager
def children() -> Iterator[Children]:
    c = Children()
    try:
        yield c
    finally:
        c.stop_all()
