"""What request handlers and UI pages share: DB sessions, settings and the bus connection."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from nats.aio.client import Client
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tagpipe.contracts import Subjects
from tagpipe.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    subjects: Subjects
    nc: Client | None = None
    extras: dict[str, object] = field(default_factory=dict)

    async def config_changed(self, edges: Iterable[str], version: str | None = None) -> None:
        """Tell running edges to fetch their config now instead of at the next 30 s poll."""
        if self.nc is None or not self.nc.is_connected:
            return
        for edge_id in sorted(set(edges)):
            payload = json.dumps({"edge_id": edge_id, "version": version}).encode()
            await self.nc.publish(self.subjects.device(edge_id, "config-changed"), payload)
        await self.nc.flush()


_current: AppContext | None = None


def set_current(ctx: AppContext) -> None:
    global _current
    _current = ctx


def current() -> AppContext:
    assert _current is not None, "the app context is set when the server starts"
    return _current


def get_session() -> Iterator[Session]:
    """FastAPI dependency: one session per request."""
    with current().sessions() as session:
        yield session


async def run_db(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run ``fn(session, *args)`` in a worker thread with its own session, off the event loop."""
    from starlette.concurrency import run_in_threadpool

    def call():  # type: ignore[no-untyped-def]
        with current().sessions() as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(call)
