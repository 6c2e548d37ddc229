"""The gate: in the web server, tagpipe answers nats-server's auth callout for every edge and collector, keeps
revoked and rotated credentials off the bus, and records what nats-server refused, per edge, for the Fleet page.

- An edge logs in with user = its id and password = its credential (``auth.edges``); the answer names the
  connection ``{edge id}#{credential id}`` and gives it ``bus.security.edge_permissions``. Anything else is refused
  with the reason, which is recorded (wrong or revoked credentials, anonymous clients).
- Every ``SWEEP_S`` the gate asks the database whether any edge credential stopped being valid since its last look
  (one small query). When one did (revoked or rotated anywhere: the API, the CLI, another server copy), and at once
  after a rotation or revocation made through this process, it lists the connections and disconnects those whose
  credential is no longer valid; they are asked about again on reconnect and refused. So a credential revoked
  anywhere is off the bus within ``SWEEP_S`` plus a listing. Listing 1,000 connections every round cost
  nats-server a sixth of its MQTT throughput (docs/benchmarks.md); it lists anyway every ``FULL_SWEEP_S``.
- Refused publishes and subscriptions come from the embedded nats-server's log (``settings.nats_log``).

Several server copies answer the callout as one queue group; each sweeps (a kick is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy.orm import Session

from tagpipe.auth import edges as credentials
from tagpipe.bus import close, gate
from tagpipe.bus.jetstream import connect
from tagpipe.bus.security import CENTRAL, GATE, BusSecrets, edge_permissions, load
from tagpipe.fleet import admission
from tagpipe.fleet.models import Edge

if TYPE_CHECKING:
    from tagpipe.services import Services

log = logging.getLogger(__name__)
SWEEP_S = 2.0
FULL_SWEEP_S = 60.0
NAME = re.compile(r"^(?P<edge>[A-Za-z0-9_-]+)#(?P<token>\d+)$")
TYPES = {"agent": ["STANDARD", "MQTT"], "collector": ["MQTT"]}


@dataclass(frozen=True, slots=True)
class Decision:
    edge_id: str
    name: str = ""  # who the connection is, when let in
    kind: str = "agent"
    reason: str = ""  # why not


def decide(session: Session, req: gate.AuthRequest) -> Decision:
    """Let an edge in with its own credential; refuse anybody else, saying why."""
    if not req.user and not req.password:
        return Decision("", reason="anonymous clients are refused")
    if req.user in CENTRAL or not NAME.match(f"{req.user}#0"):
        return Decision("", reason=f"user {req.user[:60]!r} is not an edge")
    verdict = credentials.check(session, req.user, req.password)
    if not verdict.ok:
        return Decision(req.user, reason=verdict.reason)
    edge = session.get(Edge, req.user)
    if edge is None or edge.admission != admission.APPROVED:
        return Decision(req.user, reason="the edge is not approved")
    if edge.kind == "collector" and req.transport != "mqtt":  # nats-server leaves connection types to the callout
        return Decision(req.user, reason=f"a collector connects over MQTT only, not {req.transport}")
    return Decision(req.user, name=f"{req.user}#{verdict.token_id}", kind=edge.kind or "agent")


@dataclass(eq=False)
class Gate:
    services: Services
    secrets: BusSecrets
    nc: Client | None = None
    users: dict[tuple[str, int], str] = field(default_factory=dict)  # (server, cid) -> connection name, last sweep
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        """Sweep now (a credential was rotated or revoked)."""
        self._wake.set()

    async def run(self) -> None:
        s = self.services.settings
        options: dict[str, Any] = dict(self.secrets.login(GATE))
        if s.tls_cert:
            from tagpipe.trust import tls_context

            options["tls"] = tls_context(s.tls_cert)
        self.nc = nc = await connect(s.bus_url, "tagpipe-gate", **options)
        try:
            await nc.subscribe(gate.CALLOUT, queue=gate.QUEUE, cb=self._on_request)
            await nc.flush()
            log.info("answering the bus's auth callout")
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._sweep_loop(), name="gate-sweep")
                if s.nats_log:
                    tg.create_task(self._log_loop(), name="gate-log")
        finally:
            await close(nc)

    async def _on_request(self, msg: Msg) -> None:
        issuer = self.secrets.issuer
        try:
            req = gate.parse_request(msg.data)
        except ValueError as e:
            log.warning("an auth callout request that is not one: %s", e)
            return
        try:
            decision = await self.services.run_db(decide, req)
        except Exception as e:  # noqa: BLE001 - the database is away: nobody new gets in, and nats-server says so
            log.warning("auth callout for %r: %s", req.user, e)
            decision = Decision(req.user, reason="tagpipe cannot check credentials now")
        if decision.name:
            answer = gate.allow(issuer, req, name=decision.name,
                                permissions=edge_permissions(self.services.subjects, decision.edge_id),
                                connection_types=TYPES.get(decision.kind, TYPES["agent"]))
        else:
            answer = gate.deny(issuer, req, decision.reason)
        await msg.respond(answer)
        if not decision.name:
            log.info("refused %s connection of %r from %s: %s", req.transport, req.user, req.address,
                     decision.reason)
            await self._record(edge_id=decision.edge_id, kind="auth", detail=decision.reason,
                               transport=req.transport, address=req.address)

    async def _record(self, **refusal: str) -> None:
        def write(session: Session) -> None:
            admission.record_refusal(session, **refusal)
            session.commit()

        try:
            await self.services.run_db(write)
        except Exception as e:  # noqa: BLE001 - a lost count, never a lost answer
            log.warning("could not record a bus refusal: %s", e)

    async def sweep(self) -> int:
        """Disconnect every edge connection whose credential is no longer valid; how many."""
        assert self.nc is not None
        conns = await self._list()
        named = [(c, m) for c in conns if (m := NAME.match(c.user))]
        if not named:
            return 0
        valid = await self.services.run_db(credentials.still_valid, {int(m.group("token")) for _, m in named})
        gone = 0
        for c, m in named:
            if int(m.group("token")) not in valid:
                log.info("disconnecting edge %s (credential %s no longer valid)", m.group("edge"), m.group("token"))
                with contextlib.suppress(Exception):  # closed meanwhile
                    await gate.kick(self.nc, c.server_id, c.cid)
                    gone += 1
        return gone

    async def _list(self) -> list[gate.Connection]:
        """The connections now; their names are remembered for log lines that carry only a connection id."""
        assert self.nc is not None
        conns = await gate.connections(self.nc)
        if len(self.users) > 100_000:
            self.users.clear()
        self.users.update({(c.server_id, c.cid): c.user for c in conns})
        return conns

    def _name_of(self, cid: int) -> str | None:
        return next((user for (_, c), user in self.users.items() if c == cid), None)

    async def _sweep_loop(self) -> None:
        mark: tuple[object, ...] | None = None
        due = 0  # rounds that list the connections: this one, and the next (a log in checked just before the change)
        last_full = -FULL_SWEEP_S
        loop = asyncio.get_running_loop()
        while True:
            woken = self._wake.is_set()
            self._wake.clear()
            try:
                now_mark = await self.services.run_db(credentials.revocations)
                if woken or now_mark != mark:
                    mark, due = now_mark, 2
                if due or loop.time() - last_full >= FULL_SWEEP_S:
                    due, last_full = max(0, due - 1), loop.time()
                    await self.sweep()
            except Exception as e:  # noqa: BLE001 - the bus or the database is away: the next round tries again
                log.debug("gate sweep: %s", e)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SWEEP_S):
                    await self._wake.wait()

    async def _log_loop(self) -> None:
        path = self.services.settings.nats_log
        assert path is not None
        tail = gate.LogTail(path)
        while True:
            found = list(gate.violations(tail.read()))
            if any(not v.user and self._name_of(v.cid) is None for v in found):
                with contextlib.suppress(Exception):  # an MQTT line names no user: find it by its connection
                    await self._list()
            for v in found:
                user = v.user or self._name_of(v.cid) or ""
                edge = m.group("edge") if (m := NAME.match(user)) else user
                await self._record(edge_id=edge, kind=v.kind, detail=v.subject,
                                   transport="mqtt" if v.mqtt else "nats", address=v.address)
            await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def running(services: Services) -> AsyncIterator[None]:
    """Run the gate for this server process while it serves (when the bus has tagpipe's accounts)."""
    path = services.settings.bus_secrets_file
    if not path.exists():
        log.warning("no %s: the bus is not guarded by tagpipe (no auth callout, edges are not checked)", path)
        yield
        return
    g = Gate(services, load(path))
    services.state["fleet.gate"] = g
    task = asyncio.create_task(_forever(g), name="fleet-gate")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def _forever(g: Gate) -> None:
    from tagpipe.backoff import Backoff

    backoff = Backoff(base=0.5, cap=5.0)
    while True:
        try:
            await g.run()
        except Exception as e:  # noqa: BLE001 - the bus is away: connect again
            log.info("gate: %s; again shortly", e)
        await asyncio.sleep(backoff.delay())


def wake(services: Services) -> None:
    """Make this process's gate sweep now, after a credential changed."""
    g = services.state.get("fleet.gate")
    if isinstance(g, Gate):
        g.wake()
