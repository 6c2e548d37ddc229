"""Composition root of ``tagpipe demo``: simulated PLCs as child processes, their configuration, a local edge agent.

``--plant press`` (default): one hydraulic press on Modbus TCP. ``--plant mixed``: one simulated PLC of every
protocol (Modbus TCP, OPC UA, S7, XGT and the network-free simulator), each with a few tags, some writable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.db import make_engine
from tagpipe.drivers.sims.modbus_tcp import PRESS_TAGS
from tagpipe.plant.models import Connection, Equipment, Tag
from tagpipe.processes import Children
from tagpipe.settings import Settings

DEMO_EDGE = "demo-edge"
SIM_PORT = 5020
MIXED_PORTS = {"modbus_tcp": 5020, "opcua": 4841, "s7": 1102, "xgt": 2004}
PLANTS = ("press", "mixed")

# (equipment, description, connection name, protocol, settings, tags) of the mixed plant; {port} is filled in.
MIXED: list[tuple[str, str, str, str, dict[str, Any], list[dict[str, Any]]]] = [
    ("Press 1", "Simulated hydraulic press", "Press PLC", "modbus_tcp",
     {"host": "127.0.0.1", "port": "{port}", "unit_id": 1, "timeout_s": 1.0},
     [*PRESS_TAGS, {"name": "pressure_setpoint", "address": "40020", "data_type": "UINT16", "scale": 0.1,
                    "unit": "bar", "writable": True}]),
    ("Oven 1", "OPC UA server (PLC1 of the simulator)", "Oven OPC UA", "opcua",
     {"endpoint_url": "opc.tcp://127.0.0.1:{port}/tagpipe/", "timeout_s": 2.0},
     [{"name": "oven_temperature", "address": "ns=2;s=PLC1.Float32", "data_type": "FLOAT32", "unit": "°C"},
      {"name": "oven_pressure", "address": "ns=2;s=PLC1.Float64", "data_type": "FLOAT64", "unit": "bar"},
      {"name": "trays_done", "address": "ns=2;s=PLC1.UInt32", "data_type": "UINT32", "unit": "pcs"},
      {"name": "door_closed", "address": "ns=2;s=PLC1.Bool", "data_type": "BOOL"},
      {"name": "oven_setpoint", "address": "ns=2;s=PLC1.Int16", "data_type": "INT16", "unit": "°C", "writable": True}]),
    ("Filler 1", "Siemens S7 CPU (snap7 simulator)", "Filler S7", "s7",
     {"host": "127.0.0.1", "port": "{port}", "rack": 0, "slot": 1, "timeout_s": 1.0},
     [{"name": "fill_speed", "address": "DB1.DBW0", "data_type": "INT16", "unit": "bpm", "writable": True},
      {"name": "fill_flow", "address": "DB1.DBD4", "data_type": "FLOAT32", "unit": "l/min", "writable": True},
      {"name": "valve_open", "address": "DB1.DBX8.0", "data_type": "BOOL", "writable": True}]),
    ("Conveyor 1", "LS XGT PLC over FEnet (simulator)", "Conveyor XGT", "xgt",
     {"host": "127.0.0.1", "port": "{port}", "cpu": "XGK", "timeout_s": 1.0},
     [{"name": "belt_speed", "address": "%DW0", "data_type": "INT16", "byte_order": "LITTLE_ENDIAN",
       "unit": "m/min", "writable": True},
      {"name": "belt_running", "address": "%MX0", "data_type": "BOOL", "writable": True}]),
    ("Weather", "Generated signals, no network", "Signals", "simulator", {"seed": 7},
     [{"name": "outside_temperature", "address": "sine:period=120,amplitude=8,center=18", "data_type": "FLOAT64",
       "unit": "°C"},
      {"name": "humidity", "address": "random:start=55,step=0.5,min=30,max=90", "data_type": "FLOAT64", "unit": "%"},
      {"name": "pulses", "address": "counter", "data_type": "UINT32"}]),
]


def _seed(settings: Settings, plant: list[tuple[str, str, str, str, dict[str, Any], list[dict[str, Any]]]],
          ports: dict[str, int]) -> None:
    """Create each piece of equipment with its connection and tags, unless equipment of that name exists."""
    engine = make_engine(settings.db_url)
    with Session(engine) as s, s.begin():
        for eq_name, description, conn_name, protocol, conn_settings, tags in plant:
            if s.scalar(select(Equipment).where(Equipment.name == eq_name)) is not None:
                continue
            port = ports.get(protocol, 0)
            filled = {k: (int(v.format(port=port)) if v == "{port}" else v.format(port=port))
                      if isinstance(v, str) else v for k, v in conn_settings.items()}
            eq = Equipment(name=eq_name, description=description)
            conn = Connection(equipment=eq, edge_id=DEMO_EDGE, name=conn_name, protocol=protocol, settings=filled,
                              interval_ms=1000)
            conn.tags = [Tag(**t) for t in tags]
            s.add(eq)
    engine.dispose()


def seed_press(settings: Settings, port: int = SIM_PORT) -> None:
    """Configure 'Press 1' with a Modbus TCP connection to the simulator, once."""
    _seed(settings, [(MIXED[0][0], MIXED[0][1], MIXED[0][2], MIXED[0][3], MIXED[0][4], PRESS_TAGS)],
          {"modbus_tcp": port})


def seed_mixed(settings: Settings, ports: dict[str, int] = MIXED_PORTS) -> None:
    """Configure one piece of equipment per protocol against the simulators on ``ports``, once."""
    _seed(settings, MIXED, ports)


def start_demo(settings: Settings, kids: Children, env: dict[str, str], plant: str) -> None:
    if plant not in PLANTS:
        raise SystemExit(f"unknown plant {plant!r}; expected one of {', '.join(PLANTS)}")
    if plant == "press":
        seed_press(settings)
        kids.start(["tagpipe.drivers.sims.modbus_tcp", "--port", str(SIM_PORT), "--profile", "press"], env=env)
    else:
        seed_mixed(settings)
        kids.start(["tagpipe.drivers.sims.modbus_tcp", "--port", str(MIXED_PORTS["modbus_tcp"]), "--profile", "press"],
                   env=env)
        for name in ("opcua", "s7", "xgt"):
            kids.start([f"tagpipe.drivers.sims.{name}", "--port", str(MIXED_PORTS[name])], env=env)
    kids.start(["tagpipe", "edge", "--server", f"http://{settings.host}:{settings.http_port}", "--edge-id", DEMO_EDGE,
                "--nats", settings.bus_url, "--data-dir", str(settings.data_dir / "edge"), "--heartbeat", "5",
                "--config-poll", "30"], env=env)
