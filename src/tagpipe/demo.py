"""Composition root of ``tagpipe demo``: simulated PLCs as child processes, their configuration, a local edge agent.

``--plant press`` (default): one hydraulic press on Modbus TCP. ``--plant mixed``: one simulated PLC of every
protocol (Modbus TCP, OPC UA, S7, XGT and the network-free simulator), each with a few tags, some writable.

Each simulator gets its usual port (5020, 4841, 1102, 2004) when that is free and a free one otherwise; the demo
waits until the simulator itself listens there, then points the demo's connections at the ports chosen (also those
stored by an earlier demo in the same data directory). The simulators and the edge are supervised children.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.db import make_engine
from tagpipe.drivers.sims.modbus_tcp import PRESS_TAGS
from tagpipe.plant.models import Connection, Equipment, Tag
from tagpipe.processes import python_child
from tagpipe.settings import Settings
from tagpipe.supervisor import Supervisor
from tagpipe.tls import TLS_DIR, WILDCARDS

DEMO_EDGE = "demo-edge"
SIM_PORT = 5020
MIXED_PORTS = {"modbus_tcp": 5020, "opcua": 4841, "s7": 1102, "xgt": 2004}
SIM_ARGS = {"modbus_tcp": ["--profile", "press"]}
PLANTS = ("press", "mixed")
SIM_HOST = "127.0.0.1"
console = Console()

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


def _fill(conn_settings: dict[str, Any], port: int) -> dict[str, Any]:
    return {k: (int(v.format(port=port)) if v == "{port}" else v.format(port=port)) if isinstance(v, str) else v
            for k, v in conn_settings.items()}


def _seed(settings: Settings, plant: list[tuple[str, str, str, str, dict[str, Any], list[dict[str, Any]]]],
          ports: dict[str, int]) -> None:
    """Create each piece of equipment with its connection and tags, unless equipment of that name exists; point the
    demo edge's connections of an existing one at this run's simulator ports."""
    engine = make_engine(settings.db_url)
    with Session(engine) as s, s.begin():
        for eq_name, description, conn_name, protocol, conn_settings, tags in plant:
            filled = _fill(conn_settings, ports.get(protocol, 0))
            existing = s.scalar(select(Equipment).where(Equipment.name == eq_name))
            if existing is not None:
                for conn in s.scalars(select(Connection).where(Connection.equipment_id == existing.id,
                                                               Connection.edge_id == DEMO_EDGE,
                                                               Connection.protocol == protocol)):
                    moved = {k: filled[k] for k, v in conn_settings.items() if isinstance(v, str) and "{port}" in v}
                    if any(conn.settings.get(k) != v for k, v in moved.items()):
                        conn.settings = {**conn.settings, **moved}
                continue
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


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((SIM_HOST, port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((SIM_HOST, 0))
        return int(s.getsockname()[1])


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself listens on ``port`` (not merely someone else)."""
    try:
        proc = psutil.Process(pid)
        conns = proc.net_connections("tcp") if hasattr(proc, "net_connections") else proc.connections("tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns)


def start_simulators(supervisor: Supervisor, env: dict[str, str], protocols: list[str], *, attempts: int = 3,
                     timeout: float = 30.0) -> dict[str, int]:
    """Start each protocol's simulator on its usual port, or a free one when that is taken, and wait until each
    listens there itself; the ports chosen. A simulator that cannot listen is tried on another free port."""
    ports: dict[str, int] = {}
    for protocol in protocols:
        usual = MIXED_PORTS[protocol]
        ports[protocol] = usual if _port_free(usual) else _free_port()
        if ports[protocol] != usual:
            console.print(f"port {usual} is in use: the demo's {protocol} simulator listens on {ports[protocol]}"
                          " instead")
    tries = dict.fromkeys(protocols, 1)
    procs = {p: _start_sim(supervisor, env, p, ports[p]) for p in protocols}
    deadline = time.monotonic() + timeout
    waiting = set(protocols)
    while waiting:
        for protocol in sorted(waiting):
            proc = procs[protocol]
            if _listens(proc.pid, ports[protocol]):
                waiting.discard(protocol)
            elif proc.poll() is not None or time.monotonic() > deadline:
                supervisor.remove(f"sim:{protocol}")
                if proc.poll() is None:
                    proc.kill()
                proc.wait(5)
                if tries[protocol] >= attempts or time.monotonic() > deadline:
                    raise SystemExit(f"the demo's {protocol} simulator could not listen on {SIM_HOST}:"
                                     f"{ports[protocol]} (exit code {proc.returncode}); see its output above")
                ports[protocol], tries[protocol] = _free_port(), tries[protocol] + 1
                console.print(f"the demo's {protocol} simulator tries port {ports[protocol]}")
                procs[protocol] = _start_sim(supervisor, env, protocol, ports[protocol])
        time.sleep(0.05)
    return ports


def _start_sim(supervisor: Supervisor, env: dict[str, str], protocol: str, port: int):  # type: ignore[no-untyped-def]
    args = [f"tagpipe.drivers.sims.{protocol}", "--port", str(port), *SIM_ARGS.get(protocol, [])]
    return supervisor.add(python_child(f"sim:{protocol}", args, env))


def provision_edge(settings: Settings, edge_dir: Path) -> None:
    """The demo edge is approved and has its credentials in its data directory before it starts (no anonymous
    client is let on the bus, the demo's included); credentials that still work are kept."""
    from tagpipe.edge import credentials
    from tagpipe.fleet.admission import provision_local

    edge_dir.mkdir(parents=True, exist_ok=True)
    held = credentials.load(edge_dir, DEMO_EDGE)
    engine = make_engine(settings.db_url)
    try:
        with Session(engine) as s:
            issued = provision_local(s, DEMO_EDGE, by="tagpipe demo", held=held.token if held else None)
    finally:
        engine.dispose()
    if issued is not None:
        credentials.save(edge_dir, credentials.Credentials(DEMO_EDGE, issued.token))


def start_demo(settings: Settings, supervisor: Supervisor, env: dict[str, str], plant: str) -> None:
    """Start the simulators (watched by ``supervisor``), configure the demo plant for their ports, start the edge."""
    if plant not in PLANTS:
        raise SystemExit(f"unknown plant {plant!r}; expected one of {', '.join(PLANTS)}")
    if plant == "press":
        ports = start_simulators(supervisor, env, ["modbus_tcp"])
        seed_press(settings, ports["modbus_tcp"])
    else:
        ports = start_simulators(supervisor, env, ["modbus_tcp", "opcua", "s7", "xgt"])
        seed_mixed(settings, ports)
    console.print("demo simulators: " + ", ".join(f"{p} on {SIM_HOST}:{port}" for p, port in ports.items()))
    provision_edge(settings, settings.data_dir / "edge")
    supervisor.add(python_child(f"edge:{DEMO_EDGE}", [
        "tagpipe", "edge", "--server", server_url(settings), "--edge-id", DEMO_EDGE,
        "--nats", settings.bus_url, "--data-dir", str(settings.data_dir / "edge"), "--heartbeat", "5",
        "--config-poll", "30", *ca_option(settings)], env))


def server_url(settings: Settings) -> str:
    """How an edge on this machine reaches the server (over TLS when it serves TLS)."""
    if not settings.https:
        return f"http://{settings.host}:{settings.http_port}"
    host = "127.0.0.1" if settings.host in WILDCARDS else settings.host
    return f"https://{'[' + host + ']' if ':' in host else host}:{settings.http_port}"


def ca_option(settings: Settings) -> list[str]:
    """``--ca`` for the demo's edge: the installation's own CA when the server's certificate was made by ``--tls
    self-signed``, else the configured certificate itself (trusted as such: it may be self-signed)."""
    if not settings.https:
        return []
    ca = settings.data_dir / TLS_DIR / "ca.pem"
    return ["--ca", str(ca if settings.tls == "self-signed" and ca.exists() else settings.tls_cert)]
