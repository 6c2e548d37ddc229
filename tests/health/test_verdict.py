"""The health rules as tables: when a worker role is up, starting or down, and what makes the whole report 503."""

from __future__ import annotations

import datetime as dt

import pytest

from tagpipe.contracts import ConsumerLag, WorkerStatus
from tagpipe.health.schemas import ChildHealth, DatabaseHealth, EdgeHealth, RoleHealth
from tagpipe.health.verdict import judge, problems, role_health

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def status(pid: int = 1, pending: int | None = 7, interval_s: float = 2.0) -> WorkerStatus:
    return WorkerStatus(role="ingest", host="h", pid=pid, started_at=T0, sent_at=T0, interval_s=interval_s,
                        consumers=[ConsumerLag(stream="S", durable="ingest", pending=pending, ack_pending=1)])


# (heard: [(pid, seconds ago)], seconds this server has listened) -> (state, lag, pids listed)
ROLES = [
    ([], 1.0, "starting", None, []),
    ([], 6.1, "down", None, []),
    ([(1, 0.5)], 60.0, "up", 7, [1]),
    ([(1, 5.9)], 60.0, "up", 7, [1]),  # within 3 intervals of 2 s
    ([(1, 6.1)], 60.0, "down", None, []),  # 3 intervals missed
    ([(1, 30.0), (2, 0.2)], 60.0, "up", 7, [2]),  # the restarted worker took over; the dead one is not listed
    ([(1, 1.0), (2, 0.2)], 60.0, "up", 7, [2, 1]),  # two copies (scale-out), freshest first
]


@pytest.mark.parametrize(("heard", "watching_s", "state", "lag", "pids"), ROLES)
def test_a_role_from_the_status_messages_heard(heard: list[tuple[int, float]], watching_s: float, state: str,
                                                lag: int | None, pids: list[int]) -> None:
    now = 1000.0
    r = role_health([(status(pid), now - ago) for pid, ago in heard], now=now, watching_s=watching_s)
    assert (r.state, r.ok, r.lag, [i.pid for i in r.instances]) == (state, state != "down", lag, pids)


def test_the_lag_of_a_role_is_unknown_when_no_consumer_info_could_be_read() -> None:
    r = role_health([(status(pending=None), 0.0)], now=0.5, watching_s=60.0)
    assert r.state == "up" and r.lag is None


UP_DB, DOWN_DB = DatabaseHealth(ok=True), DatabaseHealth(ok=False, error="timeout")
UP_ROLE, DOWN_ROLE = RoleHealth(ok=True, state="up"), RoleHealth(ok=False, state="down", last_seen_s=9.0)
STARTING = RoleHealth(ok=True, state="starting")
RUNNING = ChildHealth(ok=True, state="running", pid=5)
LOOPING = ChildHealth(ok=False, state="crash-looping", restarts=4, failures=4, last_exit_code=1)
RESTARTING = ChildHealth(ok=False, state="restarting", restarts=1, last_exit_code=-9)
ONLINE = EdgeHealth(ok=True, status="online", supervised=False)
OFFLINE = EdgeHealth(ok=False, status="offline", supervised=False)

# (bus, database, roles, children, edges) -> (status, down, degraded)
JUDGED = [
    (True, UP_DB, {"ingest": UP_ROLE}, None, {"e1": ONLINE}, "ok", [], []),
    (False, UP_DB, {"ingest": UP_ROLE}, None, {}, "down", ["bus"], []),
    (True, DOWN_DB, {"ingest": UP_ROLE}, None, {}, "down", ["database"], []),
    (True, UP_DB, {"ingest": DOWN_ROLE, "fleet": UP_ROLE}, None, {}, "down", ["role ingest"], []),
    (True, UP_DB, {"ingest": STARTING}, None, {}, "degraded", [], ["role ingest"]),
    (True, UP_DB, {}, {"worker": RUNNING, "nats-server": RESTARTING}, {}, "down", ["child nats-server"], []),
    (True, UP_DB, {}, {"edge:demo-edge": LOOPING}, {}, "down", ["child edge:demo-edge"], []),
    # A remote edge offline is reported, never a 503: edges come and go with the plant.
    (True, UP_DB, {}, None, {"e1": OFFLINE, "e2": ONLINE}, "degraded", [], ["edge e1"]),
    (False, DOWN_DB, {"fleet": DOWN_ROLE}, {"worker": LOOPING}, {"e1": OFFLINE}, "down",
     ["bus", "database", "role fleet", "child worker"], ["edge e1"]),
]


@pytest.mark.parametrize(("bus", "db", "roles", "children", "edges", "status_", "down", "degraded"), JUDGED)
def test_what_makes_health_503(bus: bool, db: DatabaseHealth, roles: dict, children: dict | None, edges: dict,
                               status_: str, down: list[str], degraded: list[str]) -> None:
    assert judge(bus=bus, database=db, roles=roles, children=children, edges=edges) == (status_, down, degraded)


def test_the_banner_names_each_component_that_is_down_and_a_crash_loop_with_its_exit_code() -> None:
    said = problems(bus=False, database=DOWN_DB, roles={"ingest": DOWN_ROLE, "fleet": UP_ROLE},
                    children={"worker": LOOPING, "nats-server": RUNNING})
    assert said == ["message bus: not connected", "database: timeout", "worker role ingest: no status for 9 s",
                    "process worker: crash-looping (4 restarts, last exit code 1)"]
    assert problems(bus=True, database=UP_DB, roles={"ingest": UP_ROLE}, children=None) == []
