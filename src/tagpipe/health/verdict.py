"""Pure rules of the health report: is a role up from the status messages heard, what is down, which words to show.

An edge offline counts as *degraded* only (the plant's edges come and go; a remote one being offline must not take
the central side out of a load balancer). The demo's own edge is a supervised child: its process not running is a
child down, hence 503.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tagpipe.contracts import WORKER_STATUS_INTERVAL_S, WorkerStatus
from tagpipe.health.schemas import ChildHealth, DatabaseHealth, EdgeHealth, RoleHealth, RoleInstance

MISSED = 3  # status intervals without a message before a role is down


def role_health(heard: Sequence[tuple[WorkerStatus, float]], *, now: float, watching_s: float) -> RoleHealth:
    """A role from the status messages heard of it (each with the monotonic time it arrived), ``watching_s`` after
    this process began listening."""
    fresh = sorted(((s, now - at) for s, at in heard if now - at <= MISSED * s.interval_s), key=lambda t: t[1])
    instances = [RoleInstance(host=s.host, pid=s.pid, started_at=s.started_at, last_seen_s=round(age, 1))
                 for s, age in fresh]
    last_seen = min((now - at for _, at in heard), default=None)
    last_seen = round(last_seen, 1) if last_seen is not None else None
    if fresh:
        newest = fresh[0][0]
        return RoleHealth(ok=True, state="up", lag=newest.lag, consumers=newest.consumers, instances=instances,
                          last_seen_s=last_seen)
    if not heard and watching_s < MISSED * WORKER_STATUS_INTERVAL_S:
        return RoleHealth(ok=True, state="starting")
    return RoleHealth(ok=False, state="down", last_seen_s=last_seen)


def judge(*, bus: bool, database: DatabaseHealth, roles: Mapping[str, RoleHealth],
          children: Mapping[str, ChildHealth] | None,
          edges: Mapping[str, EdgeHealth]) -> tuple[str, list[str], list[str]]:
    """(status, down, degraded): down when the bus, the database, a role or a supervised child is down."""
    down = ([] if bus else ["bus"]) + ([] if database.ok else ["database"])
    down += [f"role {name}" for name, r in roles.items() if r.state == "down"]
    down += [f"child {name}" for name, c in (children or {}).items() if not c.ok]
    degraded = [f"role {name}" for name, r in roles.items() if r.state == "starting"]
    degraded += [f"edge {name}" for name, e in edges.items() if not e.ok]
    return ("down" if down else "degraded" if degraded else "ok"), down, degraded


def problems(*, bus: bool, database: DatabaseHealth, roles: Mapping[str, RoleHealth],
             children: Mapping[str, ChildHealth] | None) -> list[str]:
    """What the page banner says, one phrase per component that is down."""
    out = [] if bus else ["message bus: not connected"]
    if not database.ok:
        out.append(f"database: {database.error or 'no answer'}")
    for name, r in roles.items():
        if r.state == "down":
            out.append(f"worker role {name}: no status for {r.last_seen_s:.0f} s" if r.last_seen_s is not None
                       else f"worker role {name}: not running anywhere")
    for name, c in (children or {}).items():
        if c.ok:
            continue
        detail = f"{c.restarts} restarts" + (f", last exit code {c.last_exit_code}" if c.last_exit_code is not None
                                            else "")
        out.append(f"process {name}: {c.state} ({detail})")
    return out
