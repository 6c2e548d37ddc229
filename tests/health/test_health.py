"""``/api/health`` against real parts: roles learnt from the workers' status messages (with their lag), 503 while the
bus or a role is down, and a database probe with a timeout."""

from __future__ import annotations

import os
import signal
import socket

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from tagpipe.bus.security import SERVER, WORKER
from tagpipe.bus.status import consumer_lag
from tagpipe.contracts import Subjects
from tagpipe.features import FEATURES
from tagpipe.health import HealthMonitor
from tagpipe.services import build_services
from tagpipe.settings import Settings
from tests.conftest import _spawn, login
from tests.helpers import wait_until


def _health(central, code: int) -> dict | None:  # type: ignore[no-untyped-def]
    r = central.get("/api/health")
    return r.json() if r.status_code == code else None


def test_health_names_each_component_and_answers_503_while_the_bus_or_a_role_is_down(central) -> None:
    ok = wait_until(lambda: h if (h := _health(central, 200)) and h["status"] == "ok" else None, timeout=20,
                    what="health ok once the worker reported its roles")
    assert ok["bus"] and ok["database"]["ok"] and ok["children"] is None  # this server supervises nothing
    assert {name: r["state"] for name, r in ok["roles"].items()} == {"ingest": "up", "fleet": "up"}
    assert ok["roles"]["ingest"]["lag"] == 0
    assert [c["durable"] for c in ok["roles"]["fleet"]["consumers"]] == ["fleet-status", "fleet-responses"]

    worker = central.procs[1]
    os.kill(worker.pid, signal.SIGKILL)  # nothing restarts it here: scale-out has no supervisor
    worker.wait(10)
    down = wait_until(lambda: h if (h := _health(central, 503)) and len(h["down"]) == 2 else None, timeout=15,
                      what="503 once both roles stopped reporting")
    assert down["status"] == "down" and down["down"] == ["role ingest", "role fleet"]
    assert down["roles"]["ingest"]["state"] == "down" and down["roles"]["ingest"]["last_seen_s"] >= 6

    central.nats.stop(signal.SIGKILL)
    no_bus = wait_until(lambda: h if (h := _health(central, 503)) and not h["bus"] else None, timeout=10,
                        what="the bus reported down")
    assert no_bus["down"][0] == "bus"
    central.nats.start()
    central.procs.append(_spawn(["tagpipe", "worker", "--role", "ingest,fleet"], central.env,
                                central.data_dir / "worker2.log"))
    wait_until(lambda: _health(central, 200), timeout=30, what="health 200 with the bus and a new worker")


async def test_a_roles_lag_is_what_its_consumer_has_not_yet_received(nats_server) -> None:
    subjects = Subjects()
    nc = await nats.connect(nats_server.url, **login(nats_server, WORKER))  # creates streams and consumers
    js = nc.jetstream()
    await js.add_stream(name=subjects.stream_name, subjects=[subjects.stream_subjects])
    await js.add_consumer(subjects.stream_name, ConsumerConfig(durable_name="ingest", ack_policy=AckPolicy.EXPLICIT))
    publisher = await nats.connect(nats_server.url, **login(nats_server, SERVER))  # may publish as any edge
    for i in range(7):
        await publisher.jetstream().publish(subjects.device("e1", "data"), str(i).encode())
    await publisher.close()
    lag = await consumer_lag(nc, subjects.stream_name, "ingest")
    assert (lag.pending, lag.ack_pending) == (7, 0)
    unknown = await consumer_lag(nc, subjects.stream_name, "nobody")
    assert unknown.pending is None
    await nc.close()


async def test_a_database_that_does_not_answer_is_down_after_the_timeout(tmp_path) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        settings = Settings(data_dir=tmp_path, database_url=f"postgresql+psycopg://u@127.0.0.1:{port}/x")
        monitor = HealthMonitor(build_services(settings, FEATURES), db_timeout_s=0.3)
        await monitor.probe()
        assert not monitor.database.ok and monitor.database.error == "no answer within 0.3 s"
        await monitor.probe()  # the first probe still hangs: no second thread piles up behind it
        assert not monitor.database.ok
        report = monitor.report()
        assert "database" in report.down and report.status == "down"
    closed = Settings(data_dir=tmp_path, database_url=f"postgresql+psycopg://u@127.0.0.1:{port}/x")
    refused = HealthMonitor(build_services(closed, FEATURES), db_timeout_s=5)
    await refused.probe()  # the port is closed now: refused at once, with the driver's reason
    assert not refused.database.ok and refused.database.error
    monitor.engine.dispose()
    refused.engine.dispose()
