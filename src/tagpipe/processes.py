"""Child processes of ``tagpipe up`` and ``tagpipe demo``: started with the same settings, supervised."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tagpipe.settings import Settings
from tagpipe.supervisor import ChildSpec


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        if value is not None:  # lists and objects as JSON, which is how pydantic-settings reads them back
            env[f"TAGPIPE_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    if settings.nats_url is None:
        env["TAGPIPE_NATS_URL"] = settings.bus_url
    return env


def run_to_end(args: list[str], env: dict[str, str]) -> int:
    """Run ``python -m ARGS`` in the foreground and return its exit code (it reports its own errors)."""
    return subprocess.run([sys.executable, "-m", *args], env=env, stdin=subprocess.DEVNULL, check=False).returncode


def python_child(name: str, args: list[str], env: dict[str, str], *, tier: int = 1) -> ChildSpec:
    """``python -m ARGS`` as a supervised child.

    It runs in its own process group: Ctrl-C in a terminal reaches only ``tagpipe up``, which then stops the
    children in order, instead of every child dying at once while the supervisor is still watching them.
    """

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", *args], env=env, stdin=subprocess.DEVNULL, process_group=0)

    return ChildSpec(name=name, spawn=spawn, tier=tier)
