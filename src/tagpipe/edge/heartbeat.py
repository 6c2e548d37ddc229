"""System metrics for the heartbeat (psutil)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import psutil


def _ip_address() -> str | None:
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return "127.0.0.1"


def system_metrics(data_dir: Path) -> dict[str, Any]:
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory_percent": psutil.virtual_memory().percent,
        "disk_percent": psutil.disk_usage(str(data_dir.resolve())).percent,
        "ip_address": _ip_address(),
    }
