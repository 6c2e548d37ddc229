"""Disk usage: the size of every table, the space left, the growth per day and the days until the disk is full.

Growth is measured, not guessed: the retention worker writes the bytes the database uses at the end of its passes
(at most every ``EVERY_MS``), and growth is the difference over the last day (at least an hour), so what retention
deletes and SQLite reuses counts too. Table sizes come from SQLite's ``dbstat`` (which reads every page: kept for a
minute per database) or PostgreSQL's ``pg_total_relation_size``.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tagpipe.history.models import DiskMeasurement
from tagpipe.history.policy import DAY_MS

log = logging.getLogger(__name__)
EVERY_MS = 600_000
KEEP_MS = 8 * DAY_MS
MIN_SPAN_MS = 3_600_000
SIZES_TTL_S = 60.0
_sizes: dict[str, tuple[float, list[TableSize]]] = {}


@dataclass(frozen=True, kw_only=True, slots=True)
class TableSize:
    name: str
    bytes: int  # with its indexes


@dataclass(frozen=True, kw_only=True, slots=True)
class Growth:
    bytes_per_day: float
    span_hours: float  # measured over


@dataclass(frozen=True, kw_only=True, slots=True)
class DiskUsage:
    backend: str
    tables: list[TableSize]
    database_bytes: int  # the file (SQLite) or the database (PostgreSQL)
    reusable_bytes: int  # SQLite's free pages, filled before the file grows
    path: str | None  # where the disk figures are from
    disk_total_bytes: int | None
    disk_free_bytes: int | None
    growth: Growth | None
    days_until_full: float | None


def used_bytes(session: Session) -> int:
    """The bytes the database holds data in (SQLite: its pages in use; PostgreSQL: the database's size)."""
    if session.get_bind().dialect.name == "sqlite":
        size, count, free = (session.execute(text(f"PRAGMA {p}")).scalar() or 0
                             for p in ("page_size", "page_count", "freelist_count"))
        return int(size * (count - free))
    return int(session.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)


def record(session: Session, now_ms: int) -> bool:
    """Write a measurement if the last is ``EVERY_MS`` old (older ones than ``KEEP_MS`` go); whether it did."""
    last = session.execute(select(DiskMeasurement.ts).order_by(DiskMeasurement.ts.desc()).limit(1)).scalar()
    if last is not None and now_ms - last < EVERY_MS:
        return False
    session.add(DiskMeasurement(ts=now_ms, used_bytes=used_bytes(session)))
    session.execute(delete(DiskMeasurement).where(DiskMeasurement.ts < now_ms - KEEP_MS))
    return True


def growth(points: list[tuple[int, int]], now_ms: int) -> Growth | None:
    """Bytes per day between the oldest measurement of the last day and the newest; None under an hour of them."""
    recent = sorted(p for p in points if p[0] >= now_ms - DAY_MS)
    if len(recent) < 2 or recent[-1][0] - recent[0][0] < MIN_SPAN_MS:
        return None
    (t0, b0), (t1, b1) = recent[0], recent[-1]
    return Growth(bytes_per_day=(b1 - b0) * DAY_MS / (t1 - t0), span_hours=(t1 - t0) / 3_600_000)


def days_until_full(free_bytes: int | None, per_day: Growth | None) -> float | None:
    """Days until ``free_bytes`` are used at the measured growth; None if either is unknown or it does not grow."""
    if free_bytes is None or per_day is None or per_day.bytes_per_day <= 0:
        return None
    return free_bytes / per_day.bytes_per_day


def _sqlite_sizes(session: Session) -> list[TableSize]:
    try:
        rows = session.execute(text(
            "SELECT COALESCE(s.tbl_name, d.name), SUM(d.pgsize) FROM dbstat AS d "
            "LEFT JOIN sqlite_schema AS s ON s.name = d.name GROUP BY 1")).all()
    except DBAPIError as e:  # a SQLite built without dbstat: the total is still known
        log.info("table sizes unavailable: %s", e)
        return []
    return [TableSize(name=name, bytes=int(size)) for name, size in rows]


def _postgres_sizes(session: Session) -> list[TableSize]:
    rows = session.execute(text(
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class AS c "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()")).all()
    return [TableSize(name=name, bytes=int(size)) for name, size in rows]


def table_sizes(session: Session) -> list[TableSize]:
    """Every table's bytes with its indexes, largest first (SQLite's kept for ``SIZES_TTL_S``)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        sizes = _postgres_sizes(session)
    else:
        key = str(bind.engine.url)
        cached = _sizes.get(key)
        if cached is not None and time.monotonic() - cached[0] < SIZES_TTL_S:
            sizes = cached[1]
        else:
            sizes = _sqlite_sizes(session)
            _sizes[key] = (time.monotonic(), sizes)
    return sorted(sizes, key=lambda t: (-t.bytes, t.name))


def _where(session: Session) -> Path | None:
    """The directory whose disk the database fills, if this process can see it."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        name = bind.engine.url.database
        return Path(name).resolve().parent if name and name != ":memory:" else None
    try:
        with session.begin_nested():  # refused to roles without pg_read_all_settings: only that statement fails
            found = session.execute(text("SHOW data_directory")).scalar()
    except DBAPIError:
        return None
    path = Path(str(found))
    return path if path.is_dir() else None  # a server on another machine


def usage(session: Session, now_ms: int | None = None) -> DiskUsage:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    dialect = session.get_bind().dialect.name
    used = used_bytes(session)
    reusable = 0
    if dialect == "sqlite":
        size, free = (session.execute(text(f"PRAGMA {p}")).scalar() or 0 for p in ("page_size", "freelist_count"))
        reusable = int(size * free)
    where = _where(session)
    total = free_bytes = None
    if where is not None:
        disk = shutil.disk_usage(where)
        total, free_bytes = disk.total, disk.free
    points = [(t, b) for t, b in session.execute(select(DiskMeasurement.ts, DiskMeasurement.used_bytes).where(
        DiskMeasurement.ts >= now_ms - DAY_MS))]
    rate = growth([*points, (now_ms, used)], now_ms)
    room = None if free_bytes is None else free_bytes + reusable
    return DiskUsage(backend=dialect, tables=table_sizes(session), database_bytes=used + reusable,
                     reusable_bytes=reusable, path=str(where) if where else None, disk_total_bytes=total,
                     disk_free_bytes=free_bytes, growth=rate, days_until_full=days_until_full(room, rate))
