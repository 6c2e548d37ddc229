"""Engines for SQLite (WAL, the embedded default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

# 8 MiB page cache per connection. Ingest touches one leaf page per tag per batch; at 3,000 tags a 24 MiB cache holds
# them all, yet wrote no faster than this one (the pages come back from the OS page cache) and cost 16 MB more.
CACHE_KIB = -8192


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=1, max_overflow=4)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.execute(f"PRAGMA cache_size={CACHE_KIB}")
            # Checkpoint every ~80 MB of WAL: ingest rewrites the same hot leaf pages batch after batch, and a rarer
            # checkpoint writes each of them back once instead of once per batch (+11 % at 4M samples).
            cur.execute("PRAGMA wal_autocheckpoint=20000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def database_away(error: BaseException) -> bool:
    """An error of the database itself (gone, locked, restarting), which says nothing about the data written; also
    as the sqlite3 driver raises it to the fast paths that use its cursor directly."""
    return isinstance(error, (OperationalError, InterfaceError, DisconnectionError, sqlite3.OperationalError)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)
