"""Recently checked credentials, so that a burst of API calls checks its token or session once a second, not on
every request.

An entry lives at most ``TTL_S`` and never past its credential's expiry. Every change to users, sessions or tokens
committed through this process's sessions (a revocation, a log out, a locked user, a new password) empties the
cache at once; a change made by another process (``tagpipe token revoke``, another server copy) takes effect here
within ``TTL_S``.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from tagpipe.auth.models import ApiToken, LoginSession, User
from tagpipe.auth.principal import Principal
from tagpipe.db.base import utcnow

TTL_S = 1.0
MAX_ENTRIES = 10_000
WATCHED = (User, ApiToken, LoginSession)


class CredentialCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, key: str) -> Principal | None:
        hit = self._entries.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, key: str, principal: Principal, expires_at: dt.datetime | None) -> None:
        until = time.monotonic() + TTL_S
        if expires_at is not None:
            until = min(until, time.monotonic() + (expires_at - utcnow()).total_seconds())
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (until, principal)

    def clear(self) -> None:
        self._entries.clear()

    def watch(self, sessions: sessionmaker[Session]) -> None:
        """Empty the cache whenever a session of ``sessions`` commits a change to a user, session or token."""

        def flushed(session: Session, _context: object) -> None:
            if any(isinstance(o, WATCHED) for o in (*session.dirty, *session.deleted)):
                session.info["auth.changed"] = True

        def committed(session: Session) -> None:
            if session.info.pop("auth.changed", False):
                self.clear()

        event.listen(sessions, "after_flush", flushed)
        event.listen(sessions, "after_commit", committed)
