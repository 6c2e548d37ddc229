"""Compare a table on two databases: rows, first and last key, and a hash of every row, read in key order."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Event
from typing import Any

from sqlalchemy import Column, Connection, Engine, String, Table, select, tuple_

CHECK_CHUNK = 50_000  # rows per hash: a difference is located to this many rows


@dataclass(frozen=True, kw_only=True)
class TableCheck:
    """One table compared on both sides after the copy."""

    table: str
    rows: int
    first: tuple[Any, ...] | None
    last: tuple[Any, ...] | None
    digest: str
    target_rows: int
    difference: str = ""  # empty when equal

    @property
    def equal(self) -> bool:
        return not self.difference


def key_of(table: Table) -> list[Column[Any]]:
    return list(table.primary_key.columns)


def ordered_key(table: Table, dialect: str) -> list[Any]:
    """The key columns in the order both databases agree on: texts by code point (SQLite's BINARY; PostgreSQL's
    "C", whatever the database's collation), so the two sides are compared row for row."""
    return [c.collate("C") if dialect == "postgresql" and isinstance(c.type, String) else c for c in key_of(table)]


def rows_in_key_order(conn: Connection, table: Table, after: Sequence[Any] | None,
                      batch: int) -> Iterator[Sequence[Any]]:
    """The rows of ``table`` in key order, after the key ``after``, ``batch`` at a time (memory stays bounded)."""
    key = ordered_key(table, conn.dialect.name)
    query = select(table).order_by(*key)
    if after is not None:
        query = query.where(tuple_(*key) > tuple_(*after) if len(key) > 1 else key[0] > after[0])
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    yield from result.partitions(batch)


@dataclass(kw_only=True)
class _Summary:
    rows: int = 0
    first: tuple[Any, ...] | None = None
    last: tuple[Any, ...] | None = None
    chunks: list[str] = field(default_factory=list)  # a hash per CHECK_CHUNK rows


def _summary(conn: Connection, table: Table, on_rows: Callable[[int], None], stop: Event) -> _Summary:
    """Rows, first and last key and a hash per ``CHECK_CHUNK`` rows in key order. ``repr`` tells every float apart
    (-0.0 from 0.0, each NaN payload aside) and is what both sides give after SQLAlchemy's types."""
    out = _Summary()
    positions = [list(table.columns).index(c) for c in key_of(table)]
    digest, in_chunk = hashlib.blake2b(digest_size=16), 0
    for part in rows_in_key_order(conn, table, None, 5000):
        if stop.is_set():
            break
        if out.first is None:
            out.first = tuple(part[0][i] for i in positions)
        for row in part:
            digest.update(repr(tuple(row)).encode())
            in_chunk += 1
            if in_chunk == CHECK_CHUNK:
                out.chunks.append(digest.hexdigest())
                digest, in_chunk = hashlib.blake2b(digest_size=16), 0
        out.rows += len(part)
        out.last = tuple(part[-1][i] for i in positions)
        on_rows(len(part))
    if in_chunk:
        out.chunks.append(digest.hexdigest())
    return out


def compare(source: Engine, target: Engine, table: Table,
            on_rows: Callable[[int], None] = lambda _: None) -> TableCheck:
    """``table`` read on both sides in key order and compared row by row (through a hash per chunk); ``on_rows``
    hears of every batch read, on either side."""
    # Both sides at once: each database and driver works while the other side's rows are hashed.
    stop = Event()  # Ctrl-C here ends the other side's reading too
    with source.connect() as src, target.connect() as dst, ThreadPoolExecutor(1) as pool:
        other = pool.submit(_summary, dst, table, on_rows, stop)
        try:
            mine = _summary(src, table, on_rows, stop)
        except BaseException:
            stop.set()
            raise
        theirs = other.result()
    whole = hashlib.blake2b("".join(mine.chunks).encode(), digest_size=8).hexdigest()
    difference = ""
    if mine.rows != theirs.rows:
        difference = f"{mine.rows} rows in the source, {theirs.rows} in the target"
    elif (mine.first, mine.last) != (theirs.first, theirs.last):
        difference = f"keys {mine.first}..{mine.last} in the source, {theirs.first}..{theirs.last} in the target"
    else:
        bad = next((i for i, (a, b) in enumerate(zip(mine.chunks, theirs.chunks, strict=True)) if a != b), None)
        if bad is not None:
            end = min((bad + 1) * CHECK_CHUNK, mine.rows)
            difference = f"rows {bad * CHECK_CHUNK + 1}..{end} (in key order) differ"
    return TableCheck(table=table.name, rows=mine.rows, first=mine.first, last=mine.last, digest=whole,
                      target_rows=theirs.rows, difference=difference)
