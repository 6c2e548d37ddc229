"""The alternative to the auth callout, measured: how long nats-server takes to reload a configuration of N edge
users with their permissions (one removed, as a revocation would), from SIGHUP to "Reloaded server configuration".

Run: ``.venv/bin/python benchmarks/bus_reload.py 100 1000``. Prints figures; never part of the tests.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tagpipe.bus import nats_binary
from tagpipe.bus.security import edge_permissions
from tagpipe.contracts import Subjects


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(folder: Path, port: int, users: int) -> str:
    listed = []
    for i in range(users):
        p = edge_permissions(Subjects(), f"edge-{i}")
        listed.append({"user": f"edge-{i}", "password": f"{i:08d}-{'x' * 40}",
                       "permissions": {"publish": {"allow": p["pub"]["allow"], "deny": p["pub"]["deny"]},
                                       "subscribe": {"allow": p["sub"]["allow"]}}})
    accounts = {"TAGPIPE": {"jetstream": "enabled", "users": listed}}
    return (f'host: 127.0.0.1\nport: {port}\njetstream {{ store_dir: "{folder / "js"}" }}\n'
            f"accounts: {json.dumps(accounts)}\n")


def measure(users: int, rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder, port = Path(d), free_port()
        conf, log = folder / "n.conf", folder / "n.log"
        conf.write_text(config(folder, port, users))
        with log.open("wb") as out:
            proc = subprocess.Popen([nats_binary(), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
        try:
            while "Server is ready" not in log.read_text():
                time.sleep(0.01)
            took = []
            for r in range(rounds):
                conf.write_text(config(folder, port, users - 1 - r))
                seen = log.stat().st_size
                t0 = time.monotonic()
                proc.send_signal(signal.SIGHUP)
                while "Reloaded server configuration" not in log.read_text()[seen:]:
                    time.sleep(0.002)
                took.append((time.monotonic() - t0) * 1000)
            print(f"{users} users ({conf.stat().st_size // 1024} KB): reload " + ", ".join(f"{t:.0f}" for t in took)
                  + " ms")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    for n in sys.argv[1:] or ["100", "1000"]:
        measure(int(n))
