"""Composition root of ``tagpipe demo``: a simulated press on Modbus TCP, its configuration, and a local edge agent."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.db import make_engine
from tagpipe.drivers.sims.modbus_tcp import PRESS_TAGS
from tagpipe.plant.models import Connection, Equipment, Tag
from tagpipe.processes import Children
from tagpipe.settings import Settings

DEMO_EDGE = "demo-edge"
SIM_PORT = 5020


def seed_press(settings: Settings, port: int = SIM_PORT) -> None:
    """Configure 'Press 1' with a Modbus TCP connection to the simulator, once."""
    engine = make_engine(settings.db_url)
    with Session(engine) as s, s.begin():
        if s.scalar(select(Equipment).where(Equipment.name == "Press 1")) is not None:
            return
        eq = Equipment(name="Press 1", description="Simulated hydraulic press")
        conn = Connection(equipment=eq, edge_id=DEMO_EDGE, name="Press PLC", protocol="modbus_tcp",
                          settings={"host": "127.0.0.1", "port": port, "unit_id": 1, "timeout_s": 1.0},
                          interval_ms=1000)
        conn.tags = [Tag(**t) for t in PRESS_TAGS]
        s.add(eq)
    engine.dispose()


def start_demo(settings: Settings, kids: Children, env: dict[str, str], plant: str) -> None:
    if plant != "press":
        raise SystemExit(f"unknown plant {plant!r}; expected press")
    seed_press(settings)
    kids.start(["tagpipe.drivers.sims.modbus_tcp", "--port", str(SIM_PORT), "--profile", "press"], env=env)
    kids.start(["tagpipe", "edge", "--server", f"http://{settings.host}:{settings.http_port}", "--edge-id", DEMO_EDGE,
                "--nats", settings.bus_url, "--data-dir", str(settings.data_dir / "edge"), "--heartbeat", "5",
                "--config-poll", "30"], env=env)
