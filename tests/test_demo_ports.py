"""``tagpipe demo`` with a simulator port taken: the simulator moves to a free port and the demo's connection with it,
so the edge never reads whatever else listens on the usual port."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.db import make_engine, upgrade
from tagpipe.demo import MIXED_PORTS, seed_mixed, seed_press
from tagpipe.plant.models import Connection
from tagpipe.settings import Settings
from tests.conftest import running_demo
from tests.helpers import wait_until


def test_a_taken_simulator_port_moves_the_simulator_and_the_demo_connection(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        squatter = stack.enter_context(socket.socket())
        with contextlib.suppress(OSError):  # taken already by someone else: taken either way
            squatter.bind(("127.0.0.1", 5020))
            squatter.listen()  # accepts connections and never answers a Modbus request
        demo = stack.enter_context(running_demo(tmp_path / "data"))
        values = wait_until(lambda: [t for t in demo.get("/api/tags").json() if t["value"] is not None
                                     and t["quality"] == "good"], timeout=30, what="good values from the demo press")
        assert {t["name"] for t in values} >= {"temperature", "pressure"}
        port = next(c for c in demo.get("/api/connections").json() if c["edge_id"] == "demo-edge")["settings"]["port"]
        assert port != 5020
        out = demo.output()
        assert "port 5020 is in use" in out and f"modbus_tcp on 127.0.0.1:{port}" in out
        assert demo.health().json()["children"]["sim:modbus_tcp"]["state"] == "running"


def _ports(settings: Settings) -> dict[str, object]:
    with Session(make_engine(settings.db_url)) as s:
        return {c.protocol: c.settings.get("port") or c.settings.get("endpoint_url")
                for c in s.scalars(select(Connection))}


def test_a_later_demo_points_the_stored_connections_at_its_own_ports(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    upgrade(settings.db_url)
    seed_press(settings, 5020)
    seed_press(settings, 40123)
    assert _ports(settings) == {"modbus_tcp": 40123}
    seed_mixed(settings, {**MIXED_PORTS, "opcua": 40124})
    assert _ports(settings) == {"modbus_tcp": 5020, "opcua": "opc.tcp://127.0.0.1:40124/tagpipe/", "s7": 1102,
                                "xgt": 2004, "simulator": None}
