"""The command line: every command explained, and stopping ``tagpipe demo`` leaves no process behind."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers import free_port, wait_until


def test_help_explains_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "tagpipe", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("up", "demo", "edge", "server", "worker", "migrate", "user", "token", "db"):
        assert command in out
    edge = subprocess.run([sys.executable, "-m", "tagpipe", "edge", "--help"], capture_output=True, text=True,
                          check=True).stdout
    assert "--server" in edge and "--edge-id" in edge and "--transport" in edge


def test_migrate_creates_the_schema_in_a_new_data_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TAGPIPE_DATABASE_URL", "TAGPIPE_DATA_DIR")}
    subprocess.run([sys.executable, "-m", "tagpipe", "migrate", "--data-dir", str(tmp_path / "data")], env=env,
                   capture_output=True, check=True)
    con = sqlite3.connect(tmp_path / "data" / "tagpipe.db")
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()
    assert {"samples", "tags", "alembic_version"} <= tables


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stopping_the_demo_stops_every_child_including_nats_server(tmp_path: Path, sig: int) -> None:
    port = free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(tmp_path / "data"), "TAGPIPE_HTTP_PORT": str(port),
           "TAGPIPE_NATS_PORT": str(free_port()), "TAGPIPE_MQTT_PORT": str(free_port())}
    env.pop("TAGPIPE_NATS_URL", None)
    token = subprocess.run([sys.executable, "-m", "tagpipe", "token", "create", "--user", "admin", "--name", "test"],
                           env=env, capture_output=True, text=True, check=False)
    assert token.returncode != 0, "no user yet: no token"
    subprocess.run([sys.executable, "-m", "tagpipe", "user", "add", "admin", "--role", "admin", "--password",
                    "a-long-password"], env=env, capture_output=True, check=True)
    token = subprocess.run([sys.executable, "-m", "tagpipe", "token", "create", "--user", "admin", "--name", "test"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    main = subprocess.Popen([sys.executable, "-m", "tagpipe", "demo"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        values = wait_until(lambda: [t for t in httpx.get(f"http://127.0.0.1:{port}/api/tags", headers=auth).json()
                                     if t["value"] is not None], timeout=60, what="live values from the demo press")
        assert {t["name"] for t in values} >= {"temperature", "pressure", "motor_running", "part_counter"}
        children = psutil.Process(main.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "nats-server" in names and "worker" in names and "edge" in names
        stopped_at = time.monotonic()
        if sig == signal.SIGINT:
            os.killpg(main.pid, sig)  # Ctrl-C in a terminal reaches the whole process group at once
        else:
            os.kill(main.pid, sig)  # a service manager signals the main process only
        main.wait(30)
        wait_until(lambda: not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE],
                   timeout=20, what="every child process to exit")
        assert time.monotonic() - stopped_at < 8, "stopping took as long as the kill timeout"
    finally:
        if main.poll() is None:
            main.kill()


WORKER_IMPORTS = """
import sys
from tagpipe.cli import _nats_without_websockets
_nats_without_websockets(sys.argv[1])
from tagpipe.feature import roles_of
from tagpipe.features import FEATURES
from tagpipe.workers import known_roles
for loader in roles_of(FEATURES).values():
    loader()
import nats.aio.transport
print(*sorted({m.split(".")[0] for m in sys.modules}), nats.aio.transport.aiohttp is not None)
import aiohttp
"""


@pytest.mark.parametrize(("url", "websockets"), [("nats://127.0.0.1:4222", False), ("ws://127.0.0.1:8080", True)])
def test_the_worker_imports_nothing_only_the_web_server_needs(url: str, websockets: bool) -> None:
    """No FastAPI, NiceGUI or cryptography (~20 MB), and aiohttp (~10 MB) only for a WebSocket bus: it stays
    importable either way."""
    *modules, aiohttp = subprocess.run([sys.executable, "-c", WORKER_IMPORTS, url], capture_output=True, text=True,
                                       check=True).stdout.split()
    assert not {"fastapi", "starlette", "nicegui", "cryptography", "alembic"} & set(modules)
    assert ("aiohttp" in modules) is websockets and aiohttp == str(websockets)
