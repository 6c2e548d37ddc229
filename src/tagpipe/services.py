"""The services object: what every feature's routes, pages and worker roles receive instead of globals.

Built once per process by a composition root (``server.py``, ``workers.py``) from the settings and the FEATURES
table. Routes get it through the FastAPI dependency in ``web.deps``, pages as their first argument, worker roles as
their only argument. Central infrastructure: features import it, it imports no feature.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from tagpipe.bus import events
from tagpipe.contracts import Subjects
from tagpipe.contracts.events import ConfigChanged
from tagpipe.settings import Settings

if TYPE_CHECKING:
    from nats.aio.client import Client

    from tagpipe.db.dead_letters import DeadLetterStore
    from tagpipe.feature import Feature
    from tagpipe.health import HealthMonitor
    from tagpipe.ports import Ports

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(kw_only=True, eq=False)
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    subjects: Subjects
    features: tuple[Feature, ...] = ()
    nc: Client | None = None
    ports: Ports = field(init=False)
    state: dict[str, Any] = field(default_factory=dict)  # per-process resources a feature's lifespan starts
    db_queries: int = 0  # statements this process sent to the database (GET /api/metrics)
    health: HealthMonitor | None = None  # the web server's: /api/health and the page banner read it
    _publishing: set[asyncio.Task[None]] = field(default_factory=set, repr=False)  # events on their way

    @property
    def bus_connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def ensure_streams(self, nc: Client) -> None:
        """Create or update the device stream and the events stream with this process's settings."""
        from tagpipe.bus import ensure_stream
        from tagpipe.bus.events import ensure_events_stream

        s = self.settings
        await ensure_stream(nc.jetstream(), self.subjects, max_age_days=s.stream_max_age_days)
        await ensure_events_stream(nc.jetstream(), self.subjects, max_age_hours=s.events_max_age_hours,
                                   max_bytes=s.events_max_mb << 20)

    @functools.cached_property
    def dead_letters(self) -> DeadLetterStore:
        """Where every worker role parks the messages it cannot handle."""
        from tagpipe.db.dead_letters import DeadLetterStore

        return DeadLetterStore(self.engine, keep=self.settings.dead_letters_keep)

    async def run_db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(session, *args)`` in a worker thread with its own session, off the event loop."""
        from starlette.concurrency import run_in_threadpool

        from tagpipe.auth.principal import acting, current

        principal = current()  # the API caller or the browser tab, known in the thread (the audit listener reads it)

        def call() -> T:
            with acting(principal), self.sessions() as session:
                return fn(session, *args, **kwargs)

        return await run_in_threadpool(call)

    async def config_changed(self, edges: Iterable[str], feature: str = "plant", version: str | None = None) -> None:
        """Tell running edges to fetch their config now instead of at the next 30 s poll, and every central process
        (their caches) with a ConfigChanged event."""
        if self.nc is None or not self.nc.is_connected:
            return
        edges = sorted(set(edges))
        for edge_id in edges:
            payload = json.dumps({"edge_id": edge_id, "version": version}).encode()
            await self.nc.publish(self.subjects.device(edge_id, "config-changed"), payload)
        await self.nc.flush()
        event_id = uuid.uuid4().hex
        event = ConfigChanged(id=event_id, feature=feature, edges=edges, at=dt.datetime.now(dt.UTC))
        # In the background: the change is stored and answered at once, even while the events stream is away (the
        # worker creates it) and the publish waits for its timeout.
        task = asyncio.create_task(self._publish_event(event, feature, event_id))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish_event(self, event: ConfigChanged, key: str, event_id: str) -> None:
        if self.nc is None:
            return
        try:
            await events.publish(self.nc.jetstream(), self.subjects, event, key, event_id)
        except Exception as e:  # noqa: BLE001 - the change is stored; caches also refresh on their own timer
            log.warning("could not publish the config-changed event: %s", e)


def build_services(settings: Settings, features: tuple[Feature, ...]) -> Services:
    """A services object for this process: engine, sessions, subjects and the ports the features provide."""
    from tagpipe.db import make_engine, session_factory
    from tagpipe.ports import build_ports

    engine = make_engine(settings.db_url)
    from tagpipe.auth.secrets import SecretBox

    sessions = session_factory(engine)
    # Secrets at rest, keyed from these settings; the one directory whose certificate files connections may name.
    sessions.configure(info={"secret_box": SecretBox(settings), "certificate_dir": settings.certificate_dir})
    services = Services(settings=settings, engine=engine, sessions=sessions,
                        subjects=Subjects(settings.prefix), features=features)
    services.ports = build_ports(services, features)

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_: object) -> None:
        services.db_queries += 1

    return services
