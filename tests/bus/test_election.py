"""One copy of a role leads a sweep; when it dies, another takes over within the lease's time to live."""

from __future__ import annotations

import asyncio
import contextlib

import nats

from tagpipe.bus.election import Lease
from tests.helpers import async_wait_until


async def test_exactly_one_copy_leads_and_another_takes_over_when_it_dies(nats_server) -> None:
    conns = [await nats.connect(nats_server.url) for _ in range(3)]
    running: list[str] = []

    def duty(name: str):  # type: ignore[no-untyped-def]
        async def sweep() -> None:
            running.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)
        return sweep

    leases = [Lease(nc, "fleet-sweep", ttl=1.5, holder=f"copy-{i}") for i, nc in enumerate(conns)]
    tasks = [asyncio.create_task(lease.run(duty(lease.holder))) for lease in leases]
    await async_wait_until(lambda: len(running) == 1, timeout=10, what="one leader")
    await asyncio.sleep(1.0)  # a few renewals later there is still exactly one
    assert len(running) == 1 and sum(lease.held for lease in leases) == 1
    leader = next(i for i, lease in enumerate(leases) if lease.held)

    await conns[leader].close()  # the leader's process is gone: it can no longer renew
    tasks[leader].cancel()
    await async_wait_until(lambda: len(running) == 1 and running[0] != f"copy-{leader}", timeout=10,
                           what="another copy to take over")
    for t in tasks:
        t.cancel()
        with contextlib.suppress(BaseException):
            await t
    for nc in conns:
        if not nc.is_closed:
            await nc.close()
