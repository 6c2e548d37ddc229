"""One health monitor per server process: it listens to the workers' status messages, probes the database and reads
the edges every ``interval_s``, and composes the report from memory, so a report (``/api/health``, the banner of every
open tab) costs no database query of its own.

The probe has its own connection: a pool busy with requests must not read as a database that is down. Its statements
are counted apart from the process's (``tagpipe_health_db_queries_total`` in ``/api/metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import event, text

from tagpipe import __version__
from tagpipe.contracts import WorkerStatus
from tagpipe.db import make_engine, session_factory
from tagpipe.feature import roles_of
from tagpipe.health import verdict
from tagpipe.health.schemas import ChildHealth, DatabaseHealth, EdgeHealth, Health

if TYPE_CHECKING:
    from tagpipe.services import Services
    from tagpipe.supervisor import ChildStatus

log = logging.getLogger(__name__)
Children = Callable[[], Sequence["ChildStatus"]]
FORGET_S = 60.0  # a worker process not heard of for this long is no longer listed


class HealthMonitor:
    def __init__(self, services: Services, children: Children | None = None, *, interval_s: float = 2.0,
                 db_timeout_s: float = 2.0) -> None:
        self.services = services
        self.children = children
        self.interval_s, self.db_timeout_s = interval_s, db_timeout_s
        self.roles = list(roles_of(services.features))
        self.heard: dict[tuple[str, str, int], tuple[WorkerStatus, float]] = {}  # (role, host, pid) -> (status, at)
        self.database = DatabaseHealth(ok=False, error="not probed yet")
        self.edges: dict[str, str] = {}
        self.started = time.monotonic()
        self.latest = self.report()
        self._probe: asyncio.Future[None] | None = None
        self.engine = make_engine(services.settings.db_url)
        self.sessions = session_factory(self.engine)
        self.db_queries = 0
        event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, *_: object) -> None:
        self.db_queries += 1

    # -- what the report is made of ------------------------------------------------------------------

    def on_status(self, data: bytes) -> None:
        try:
            status = WorkerStatus.model_validate_json(data)
        except ValidationError as e:
            log.warning("ignoring a malformed worker status: %s", e)
            return
        now = time.monotonic()
        self.heard[(status.role, status.host, status.pid)] = (status, now)
        for key in [k for k, (_, at) in self.heard.items() if now - at > FORGET_S]:
            del self.heard[key]

    async def probe(self) -> None:
        """Probe the database (a query with a timeout) and read the edges' states, in one worker thread."""
        if self._probe is not None and not self._probe.done():
            # The last probe still hangs: the database does not answer. Do not pile up threads behind it.
            self.database = DatabaseHealth(ok=False, error=f"no answer within {self.db_timeout_s:g} s",
                                           checked_at=dt.datetime.now(dt.UTC))
            return
        self._probe = asyncio.ensure_future(asyncio.to_thread(self._query))
        self._probe.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even after a timeout
        try:
            async with asyncio.timeout(self.db_timeout_s):
                await asyncio.shield(self._probe)
        except TimeoutError:
            self.database = DatabaseHealth(ok=False, error=f"no answer within {self.db_timeout_s:g} s",
                                           checked_at=dt.datetime.now(dt.UTC))
        except Exception as e:  # noqa: BLE001 - any failure of the query is the database being down
            self.database = DatabaseHealth(ok=False, error=str(e).splitlines()[0][:200],
                                           checked_at=dt.datetime.now(dt.UTC))

    def _query(self) -> None:
        with self.sessions() as session:
            started = time.perf_counter()
            session.execute(text("SELECT 1"))
            latency = (time.perf_counter() - started) * 1000
            self.database = DatabaseHealth(ok=True, latency_ms=round(latency, 2), checked_at=dt.datetime.now(dt.UTC))
            try:
                self.edges = {k: v.status for k, v in self.services.ports.edge_states(session).items()}
            except Exception as e:  # noqa: BLE001 - the edges are reported, not probed; keep the last known
                log.warning("reading the edges' states for the health report failed: %s", e)

    # -- the report ----------------------------------------------------------------------------------

    def report(self) -> Health:
        """The report from what is known now (bus and children live, database and edges as of the last probe)."""
        now = time.monotonic()
        heard: dict[str, list[tuple[WorkerStatus, float]]] = {r: [] for r in self.roles}
        for (role, _, _), entry in self.heard.items():
            heard.setdefault(role, []).append(entry)
        roles = {r: verdict.role_health(h, now=now, watching_s=now - self.started) for r, h in heard.items()}
        children = None
        if self.children is not None:
            children = {c.name: ChildHealth(ok=c.up, state=c.state, pid=c.pid, restarts=c.restarts,
                                            failures=c.failures, last_exit_code=c.last_exit_code,
                                            running_s=c.running_s)
                        for c in self.children()}
        edges = {e: EdgeHealth(ok=s == "online", status=s, supervised=f"edge:{e}" in (children or {}))
                 for e, s in self.edges.items()}
        bus = self.services.bus_connected
        status, down, degraded = verdict.judge(bus=bus, database=self.database, roles=roles, children=children,
                                               edges=edges)
        self.latest = Health(status=status, version=__version__,  # type: ignore[arg-type]
                             bus=bus, down=down, degraded=degraded, database=self.database, roles=roles,
                             children=children, edges=edges, checked_at=dt.datetime.now(dt.UTC))
        return self.latest

    def problems(self) -> list[str]:
        """The banner's phrases, from the latest report (at most ``interval_s`` old)."""
        h = self.latest
        return verdict.problems(bus=h.bus, database=h.database, roles=h.roles, children=h.children)

    # -- running -------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Probe once (a server never answers before it), then keep probing and listening until the block ends."""
        await self.probe()
        self.report()
        tasks = [asyncio.create_task(self._probe_loop(), name="health-probe"),
                 asyncio.create_task(self._listen(), name="health-worker-status")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.engine.dispose()

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.probe()
            self.report()

    async def _listen(self) -> None:
        """Subscribe once the server's connection exists; nats-py renews the subscription after a reconnect."""
        while self.services.nc is None:  # noqa: ASYNC110 - the server's connect sets it, signalling nothing
            await asyncio.sleep(0.1)

        async def on_msg(msg) -> None:  # type: ignore[no-untyped-def]
            self.on_status(msg.data)

        await self.services.nc.subscribe(self.services.subjects.worker_status(), cb=on_msg)
