"""Copy an installation's database to another one (SQLite or PostgreSQL, either way), resumably, then check it.

Tables go in foreign-key order, each in batches ordered by its primary key. Each batch is committed in the target
together with the key it reached, in a bookkeeping table (``PROGRESS``) that also names the source: a copy that was
interrupted (Ctrl-C, killed, a database gone) continues after that key when run again, and a finished table is not
copied again. Once every table is copied, both sides are read again in key order and compared (rows, first and last
key, a hash of every row: ``db.compare``); the bookkeeping table is dropped only when they are equal, and tables
that differ are copied again by the next run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from tagpipe.db.compare import TableCheck, compare, key_of, rows_in_key_order
from tagpipe.db.engine import database_away, make_engine

log = logging.getLogger(__name__)

PROGRESS = "tagpipe_copy_progress"
COPYING, DONE, REDO = "copying", "done", "redo"
URL_EXAMPLES = "sqlite:///path/to/tagpipe.db or postgresql+psycopg://user:password@host/database"


class CopyError(Exception):
    """A copy that cannot start or cannot finish; the message says what to do."""


@dataclass(frozen=True, kw_only=True)
class CopyReport:
    copied: dict[str, int]  # rows copied by this run, per table
    resumed: bool
    checks: list[TableCheck]
    copy_seconds: float
    check_seconds: float


class Listener:
    """What the copy tells as it goes (the command draws progress bars from it); this one tells nothing."""

    def begin(self, phase: str, table: str, total: int, done: int) -> None:
        """``phase`` (copy, check) of ``table`` starts: ``total`` rows to go through, ``done`` already."""

    def advance(self, rows: int) -> None:
        """``rows`` more of the table begun last."""


def database_url(value: str, option: str) -> URL:
    """The parsed URL; ``postgresql://`` means psycopg 3, the driver tagpipe ships with."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise CopyError(f"{option}: {value!r} is not a database URL; expected {URL_EXAMPLES}") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise CopyError(f"{option}: {url.get_backend_name()} is not supported; expected {URL_EXAMPLES}")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(Path(url.database).resolve()))
    return url


def identity(url: URL) -> str:
    """How the bookkeeping names a source: its URL without the password."""
    return url.render_as_string(hide_password=True)


def _open(url: URL, option: str, *, must_exist: bool) -> Engine:
    if must_exist and url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise CopyError(f"{option}: there is no SQLite database at {url.database}")
    try:
        engine = make_engine(url.render_as_string(hide_password=False))
        with engine.connect():
            pass
    except (NoSuchModuleError, ImportError):
        raise CopyError(f"{option}: no driver for {url.drivername} (PostgreSQL: pip install 'tagpipe[postgres]'); "
                        f"expected {URL_EXAMPLES}") from None
    except DBAPIError as e:
        if _interrupted(e):
            raise KeyboardInterrupt from None
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        raise CopyError(f"{option}: cannot reach {identity(url)}: {reason}") from None
    return engine


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from tagpipe.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def _check_source(engine: Engine, url: URL, metadata: MetaData) -> None:
    tables = set(inspect(engine).get_table_names())
    head = head_revision()
    if "alembic_version" in tables:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if revision != head:
            raise CopyError(f"--from: {identity(url)} is at revision {revision}, this tagpipe's schema is {head}: "
                            f"run `tagpipe migrate` on it first (TAGPIPE_DATABASE_URL={identity(url)})")
    missing = sorted(set(metadata.tables) - tables)
    if "alembic_version" not in tables or missing:
        raise CopyError(f"--from: {identity(url)} is not a tagpipe database: expected the tables "
                        f"{', '.join(missing[:5] or ['alembic_version'])}{' ...' if len(missing) > 5 else ''}")


def progress_table() -> Table:
    return Table(PROGRESS, MetaData(), Column("table_name", String(120), primary_key=True),
                 Column("source", Text, nullable=False), Column("state", String(16), nullable=False),
                 Column("last_key", Text), Column("copied", BigInteger, nullable=False))


def _prepare_target(engine: Engine, url: URL, source: str, metadata: MetaData) -> bool:
    """Whether this continues an earlier copy of ``source``; refuses a target holding anything else."""
    present = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        if PROGRESS in present:
            other = conn.execute(select(progress_table().c.source).limit(1)).scalar()
            if other not in (None, source):
                raise CopyError(f"--to: {identity(url)} holds an unfinished copy of {other}, not of {source}: "
                                f"finish that one (same --from), or copy into an empty database")
            return other is not None
        for table in metadata.sorted_tables:
            if table.name in present and conn.execute(select(text("1")).select_from(table).limit(1)).first():
                raise CopyError(f"--to: {identity(url)} is not empty (table {table.name} has rows): copy into an "
                                f"empty database, or into the one an interrupted copy of this source left")
    return False


def copy_database(source_url: str, target_url: str, metadata: MetaData, *, batch: int = 5000,
                  listener: Listener | None = None) -> CopyReport:
    """Copy every table of ``metadata`` from the source to the target (migrated to this version's schema first)."""
    listener = listener or Listener()
    src_url, dst_url = database_url(source_url, "--from"), database_url(target_url, "--to")
    if identity(src_url) == identity(dst_url):
        raise CopyError("--from and --to name the same database")
    source = _open(src_url, "--from", must_exist=True)
    target = _open(dst_url, "--to", must_exist=False)
    try:
        _check_source(source, src_url, metadata)
        name = identity(src_url)
        resumed = _prepare_target(target, dst_url, name, metadata)
        from tagpipe.db.migrate import upgrade

        target.dispose()
        with _translated("the target's schema", "migrating"):
            upgrade(dst_url.render_as_string(hide_password=False))
        progress = progress_table()
        progress.create(target, checkfirst=True)
        states = _states(target, progress, name, metadata)
        copied: dict[str, int] = {}
        totals: dict[str, int] = {}
        copying = time.monotonic()
        for table in metadata.sorted_tables:
            with _translated(table.name, "copying"):
                totals[table.name], copied[table.name] = _copy_table(source, target, table, progress,
                                                                     states[table.name], batch, listener)
        copied_at = time.monotonic()
        checks = []
        for table in metadata.sorted_tables:
            with _translated(table.name, "comparing"):
                listener.begin("check", table.name, 2 * totals[table.name], 0)
                checks.append(compare(source, target, table, listener.advance))
        wrong = [c.table for c in checks if not c.equal]
        if wrong:
            _redo(target, progress, metadata, wrong)
        else:
            progress.drop(target)
        return CopyReport(copied=copied, resumed=resumed, checks=checks, copy_seconds=copied_at - copying,
                          check_seconds=time.monotonic() - copied_at)
    finally:
        source.dispose()
        target.dispose()


@contextlib.contextmanager
def _translated(table: str, doing: str) -> Iterator[None]:
    """A database error while copying, said as what to do; what was committed stays and counts as copied."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as e:  # a target at a revision this tagpipe does not know
        raise CopyError(f"{doing} {table} failed: {e}") from None
    except DBAPIError as e:
        if _interrupted(e):
            raise KeyboardInterrupt from None
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e).splitlines()[0]
        if database_away(e):
            raise CopyError(f"a database went away while {doing} {table} ({reason}): what was copied is kept; "
                            "run the same command again to continue") from None
        raise CopyError(f"{doing} {table} failed: {reason}") from None


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` came of a Ctrl-C: psycopg ends a COPY cut short with QueryCanceled, and a connection
    interrupted mid-command fails the next one ("another command is already in progress")."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(kw_only=True)
class _State:
    state: str
    last_key: list[Any] | None
    copied: int


def _states(target: Engine, progress: Table, source: str, metadata: MetaData) -> dict[str, _State]:
    """Each table's state, tables to copy again emptied first (children before their parents)."""
    with target.begin() as conn:
        rows = {r.table_name: r for r in conn.execute(select(progress))}
        for table in reversed(metadata.sorted_tables):
            row = rows.get(table.name)
            if row is None:
                conn.execute(insert(progress).values(table_name=table.name, source=source, state=COPYING,
                                                     last_key=None, copied=0))
            elif row.state == REDO:
                log.info("emptying %s, which differed from the source, to copy it again", table.name)
                conn.execute(delete(table))
                conn.execute(update(progress).where(progress.c.table_name == table.name)
                             .values(state=COPYING, last_key=None, copied=0))
        return {r.table_name: _State(state=r.state, last_key=json.loads(r.last_key) if r.last_key else None,
                                     copied=r.copied) for r in conn.execute(select(progress))}


def _copy_table(source: Engine, target: Engine, table: Table, progress: Table, state: _State, batch: int,
                listener: Listener) -> tuple[int, int]:
    """The source's rows of ``table`` and how many this run copied."""
    with source.connect() as src:
        total = src.execute(select(func.count()).select_from(table)).scalar_one()
        listener.begin("copy", table.name, total, state.copied if state.state != DONE else total)
        if state.state == DONE:
            return total, 0
        names = [c.key for c in table.columns]
        positions = [names.index(c.key) for c in key_of(table)]
        this_run = 0
        mine = progress.c.table_name == table.name
        for part in rows_in_key_order(src, table, state.last_key, batch):
            last = [part[-1][i] for i in positions]
            with target.begin() as dst:
                _insert(dst, table, part)
                dst.execute(update(progress).where(mine).values(
                    last_key=json.dumps(last), copied=progress.c.copied + len(part)))
            this_run += len(part)
            listener.advance(len(part))
        high = _highest_id(src, table)
    with target.begin() as dst:
        if high:
            _set_next_id(dst, table, high)
        dst.execute(update(progress).where(mine).values(state=DONE))
    return total, this_run


def _insert(conn: Connection, table: Table, rows: Sequence[Any]) -> None:
    """Add ``rows`` to ``table`` through the driver, each value as SQLAlchemy's type would bind it (JSON as text,
    datetimes as SQLite stores them): PostgreSQL's COPY, or SQLite's executemany (5.5x and 1.4x the rows/s of
    SQLAlchemy's executemany of the same rows)."""
    binds = [c.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in table.columns]
    if any(binds):
        rows = [[v if b is None or v is None else b(v) for b, v in zip(binds, row, strict=True)] for row in rows]
    quote = conn.dialect.identifier_preparer
    columns = ", ".join(quote.quote(c.name) for c in table.columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    dbapi = conn.dialect.loaded_dbapi
    if conn.dialect.name == "postgresql":
        sql = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
    else:
        sql = f"INSERT INTO {quote.format_table(table)} ({columns}) VALUES ({', '.join('?' * len(table.columns))})"
    try:
        if conn.dialect.name == "postgresql":
            with driver.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            driver.cursor().executemany(sql, rows)
    except dbapi.Error as e:  # as SQLAlchemy would have raised it, so that a database gone away is told apart
        raise DBAPIError.instance(sql, None, e, dbapi.Error, dialect=conn.dialect) from e


def _serial(table: Table) -> Column[Any] | None:
    """The integer id column a database numbers itself, if ``table`` has one."""
    key = key_of(table)
    if len(key) == 1 and isinstance(key[0].type, Integer) and key[0].autoincrement in ("auto", True):
        return key[0]
    return None


def _highest_id(conn: Connection, table: Table) -> int:
    """The highest id the source ever gave (ids of deleted rows included, where the database remembers them)."""
    column = _serial(table)
    if column is None:
        return 0
    high = conn.execute(select(func.max(column))).scalar() or 0
    if conn.dialect.name == "sqlite":
        has_sequence = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first()
        if has_sequence:
            seq = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table.name}).scalar()
            high = max(high, seq or 0)
    else:
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                {"t": table.name, "c": column.name}).scalar()
        if sequence:
            last, called = conn.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
            high = max(high, last if called else 0)
    return int(high)


def _set_next_id(conn: Connection, table: Table, high: int) -> None:
    """Make the target number new rows after ``high``, or they would collide with copied ones (PostgreSQL) or take
    a deleted row's id (SQLite AUTOINCREMENT)."""
    column = _serial(table)
    assert column is not None
    if conn.dialect.name == "postgresql":
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                {"t": table.name, "c": column.name}).scalar()
        if sequence:
            conn.execute(text("SELECT setval(CAST(:s AS regclass), :h)"), {"s": sequence, "h": high})
        return
    autoincrement = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                                 {"t": table.name}).scalar() or ""
    if "AUTOINCREMENT" not in autoincrement.upper():
        return  # SQLite numbers after the largest id present
    updated = conn.execute(text("UPDATE sqlite_sequence SET seq = MAX(seq, :h) WHERE name = :t"),
                           {"t": table.name, "h": high}).rowcount
    if not updated:
        conn.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :h)"), {"t": table.name, "h": high})


def _redo(target: Engine, progress: Table, metadata: MetaData, tables: Sequence[str]) -> None:
    """Mark ``tables`` and every table referring to them (their rows go when a parent row goes) to copy again."""
    redo = set(tables)
    for table in metadata.sorted_tables:  # parents first: a child of a table to redo is reached after it
        if any(fk.column.table.name in redo for fk in table.foreign_keys):
            redo.add(table.name)
    with target.begin() as conn:
        conn.execute(update(progress).where(progress.c.table_name.in_(redo)).values(state=REDO))
