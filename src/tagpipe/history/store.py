"""The idempotent batch writer: samples, latest values and rollups of a batch in one transaction.

SQLite (the embedded default) takes a fast path: the batch goes into a connection-local temp table with one
``executemany``, is copied into ``samples`` with one ``INSERT OR IGNORE ... SELECT`` and the 1-minute and 1-hour
rollups are merged with one ``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE`` each, all in C. If the copy
inserted fewer rows than the batch holds, some were stored already (a redelivery): the transaction is rolled back and
the batch written again, cut down first to the rows not stored yet, so the rollups count only rows actually inserted.
(A copy that could fail on the key instead would make SQLite journal every page it changes, to undo just that
statement: 12 MB of heap per batch at 3,000 tags.) Other dialects (PostgreSQL) use ``INSERT ... ON CONFLICT DO
NOTHING RETURNING`` and merge rollups aggregated in Python.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, case, select
from sqlalchemy.orm import Session

from tagpipe.contracts.data import DataPayload
from tagpipe.db.upsert import insert_for
from tagpipe.history.compact import compacted, window
from tagpipe.history.compression import Policy, State, compress
from tagpipe.history.ingest import encode_value
from tagpipe.history.models import BAD, GOOD, Latest, Rollup1h, Rollup1m, Sample, TagCompression
from tagpipe.history.rollup import HOUR_MS, MINUTE_MS, aggregate
from tagpipe.plant import TagSource, resolve_or_create

log = logging.getLogger(__name__)
Row = tuple[int, int, float | None, str | None, int]  # tag id, ts, numeric value, text, quality
_isfinite = math.isfinite
_BIG = 2**63  # ints beyond this take the general path (REAL affinity stores the ints below as floats)

_BATCH, _AGG = "temp.tagpipe_ingest_batch", "temp.tagpipe_ingest_agg"
_SQLITE_SETUP = (
    ("CREATE TEMP TABLE IF NOT EXISTS tagpipe_ingest_batch "
     "(tag_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL, text TEXT, quality INTEGER NOT NULL DEFAULT 0)"),
    ("CREATE TEMP TABLE IF NOT EXISTS tagpipe_ingest_agg (tag_id INTEGER, bucket INTEGER, \"min\" REAL, "
     "\"max\" REAL, \"sum\" REAL, \"count\" INTEGER, \"last\" REAL, last_ts INTEGER)"),
    f"DELETE FROM {_BATCH}",
    f"DELETE FROM {_AGG}",
)
# In key order: the B-tree cursor walks forward instead of seeking per row.
_COPY = (f"INSERT OR IGNORE INTO samples (tag_id, ts, value, text, quality) SELECT tag_id, ts, value, text, quality "
         f"FROM {_BATCH} ORDER BY tag_id, ts")
_DEDUPE_BATCH = f"DELETE FROM {_BATCH} WHERE rowid NOT IN (SELECT MIN(rowid) FROM {_BATCH} GROUP BY tag_id, ts)"
_DROP_STORED = (f"DELETE FROM {_BATCH} WHERE EXISTS (SELECT 1 FROM samples AS s "
                f"WHERE s.tag_id = tagpipe_ingest_batch.tag_id AND s.ts = tagpipe_ingest_batch.ts)")
# 1-minute partials of the inserted good numeric rows; "last" is the value at the newest ts (SQLite gives a bare
# column the row of the single max() of its query, hence the join of two GROUP BYs).
_AGG_1M = f"""INSERT INTO {_AGG} SELECT a.tag_id, a.b, a.mn, a.mx, a.sm, a.n, l.value, l.ts FROM
 (SELECT tag_id, ts - ts % {MINUTE_MS} AS b, MIN(value) AS mn, MAX(value) AS mx, SUM(value) AS sm, COUNT(*) AS n
  FROM {_BATCH} WHERE quality = {GOOD} AND value IS NOT NULL GROUP BY tag_id, b) AS a
 JOIN (SELECT tag_id, ts - ts % {MINUTE_MS} AS b, value, MAX(ts) AS ts
  FROM {_BATCH} WHERE quality = {GOOD} AND value IS NOT NULL GROUP BY tag_id, b) AS l
 ON l.tag_id = a.tag_id AND l.b = a.b"""
_AGG_1H = f"""SELECT a.tag_id, a.b, a.mn, a.mx, a.sm, a.n, l."last", l.ts FROM
 (SELECT tag_id, bucket - bucket % {HOUR_MS} AS b, MIN("min") AS mn, MAX("max") AS mx, SUM("sum") AS sm,
  SUM("count") AS n FROM {_AGG} GROUP BY tag_id, b) AS a
 JOIN (SELECT tag_id, bucket - bucket % {HOUR_MS} AS b, "last", MAX(last_ts) AS ts FROM {_AGG} GROUP BY tag_id, b) AS l
 ON l.tag_id = a.tag_id AND l.b = a.b WHERE true"""
_MERGE = """INSERT INTO {table} (tag_id, bucket, "min", "max", "sum", "count", "last", last_ts) {select}
ON CONFLICT (tag_id, bucket) DO UPDATE SET
 "min" = MIN({table}."min", excluded."min"), "max" = MAX({table}."max", excluded."max"),
 "sum" = {table}."sum" + excluded."sum", "count" = {table}."count" + excluded."count",
 "last" = CASE WHEN excluded.last_ts >= {table}.last_ts THEN excluded."last" ELSE {table}."last" END,
 last_ts = MAX({table}.last_ts, excluded.last_ts)"""
_ROLLUPS = (_AGG_1M, _MERGE.format(table="rollup_1m", select=f"SELECT * FROM {_AGG} WHERE true"),
            _MERGE.format(table="rollup_1h", select=_AGG_1H))
_MULTI_ROWS = 1000  # 3,000 variables per statement: under SQLite's 32,766 (3.32+)
_INSERT_NUMERIC = f"INSERT INTO {_BATCH} (tag_id, ts, value) VALUES"
_INSERT_MULTI = f"{_INSERT_NUMERIC} {','.join(['(?, ?, ?)'] * _MULTI_ROWS)}"
_LATEST = (f"INSERT INTO latest (tag_id, ts, value_json, quality) VALUES (?, ?, ?, ?) ON CONFLICT (tag_id) DO UPDATE "
           f"SET ts = excluded.ts, quality = excluded.quality, value_json = CASE WHEN excluded.quality = {GOOD} "
           f"THEN excluded.value_json ELSE latest.value_json END WHERE excluded.ts >= latest.ts")


@dataclass(frozen=True, slots=True)
class WriteResult:
    messages: int
    values: int
    inserted: int
    # What the batch stored, for the StoredValues events: good numbers as a flat [tag id, ts, value, ...] list, every
    # other value as (tag id, ts, exact value or None, quality).
    numbers: list[Any] = field(default_factory=list)
    others: list[tuple[int, int, Any, int]] = field(default_factory=list)

    def rows(self) -> list[tuple[int, int, Any, int]]:
        """Every stored value as (tag id, ts, value, quality)."""
        n = self.numbers
        return [(n[i], n[i + 1], n[i + 2], GOOD) for i in range(0, len(n), 3)] + self.others


def _number(value_json: str) -> float | None:
    try:
        value = json.loads(value_json)
    except ValueError:
        return None
    return float(value) if type(value) in (int, float) and math.isfinite(value) else None


def _exact(raw: Any, quality: int) -> str:
    return encode_value(raw, "bad" if quality == BAD else None)[3]


def _drop_compacted(session: Session, flat: list, rows: list[Row], before: int) -> tuple[list, list[Row]]:
    """The batch without the values a compressed block holds already (a redelivery of an hour compacted since):
    only values before ``before`` (the current hour) are looked up, so a batch of current values costs nothing."""
    old = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 3) if flat[i + 1] < before]
    old += [(r[0], r[1]) for r in rows if r[1] < before]
    if not old:
        return flat, rows
    held = compacted(session, old)
    if not held:
        return flat, rows
    kept: list = []
    for i in range(0, len(flat), 3):
        if (flat[i], flat[i + 1]) not in held:
            kept.extend(flat[i:i + 3])
    return kept, [r for r in rows if (r[0], r[1]) not in held]


class _Redelivered(Exception):
    """The batch holds rows stored already; its transaction is rolled back and the batch written the careful way."""


class IngestStore:
    """Writes batches of data payloads; a redelivered message never makes a duplicate row or double-counts a rollup.

    Tag ids come from the plant registry (``plant.resolve_or_create``: a configured tag, else a collector tag created
    on first sight) in a short transaction of their own before the data's, and are cached; the cache is dropped every
    ``refresh_s`` so that a tag configured later for a name already seen takes its values from then on.
    """

    def __init__(self, engine: Engine, *, refresh_s: float = 60.0) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.refresh_s = refresh_s
        self._ids: dict[tuple[str, str], dict[str, int]] = {}  # (edge id, connection id) -> tag name -> tag id
        self._fresh_until = time.monotonic() + refresh_s
        self._policies: dict[int, Policy] = {}  # tag id -> lossy storage policy (``history.compression``)
        self._policies_stale = True  # reloaded with the ids
        self._states: dict[int, State] = {}

    def _known(self, m: DataPayload) -> bool:
        names = self._ids.get((m.edge_id, m.connection_id))
        return not m.tags or (names is not None and m.tags.keys() <= names.keys())

    def forget_ids(self) -> None:
        """Drop the cached tag ids (the configuration changed: a tag may be gone, or newly configured)."""
        self._ids, self._fresh_until = {}, time.monotonic() + self.refresh_s
        self._policies_stale = True

    def resolve(self, messages: Sequence[DataPayload]) -> dict[tuple[str, str], dict[str, int]]:
        """(edge id, connection id) -> tag name -> tag id for every tag of ``messages``, creating tags if needed."""
        if time.monotonic() > self._fresh_until:
            self.forget_ids()
        if self._policies_stale:
            with Session(self.engine) as session:
                policies = {t: Policy(m, d, n) for t, m, d, n in session.execute(
                    select(TagCompression.tag_id, TagCompression.mode, TagCompression.deviation, TagCompression.max_s))}
            # A tag whose policy changed or went starts afresh.
            self._states = {t: st for t, st in self._states.items() if policies.get(t) == self._policies.get(t)}
            self._policies, self._policies_stale = policies, False
        if all(self._known(m) for m in messages):
            return self._ids
        wanted: dict[tuple[str, str, str], object] = {}
        for m in messages:
            if not self._known(m):
                names = self._ids.get((m.edge_id, m.connection_id), {})
                for name, value in m.tags.items():
                    if name not in names:
                        wanted.setdefault((m.edge_id, m.connection_id, name), value)
        with Session(self.engine) as session, session.begin():
            ids = resolve_or_create(session, TagSource.COLLECTOR, wanted)
        for (edge, conn, name), tag_id in ids.items():
            self._ids.setdefault((edge, conn), {})[name] = tag_id
        return self._ids

    @staticmethod
    def _rows(messages: Sequence[DataPayload], ids: dict) -> tuple[list, list[Row], dict[int, tuple[int, Any, int]],
                                                                   list[tuple[int, int, Any, int]]]:
        """Good finite numbers as a flat [tag id, ts, value, ...] list, other rows as tuples, per tag the newest
        (ts, raw value, quality) of the batch, and the other rows' exact values for the events."""
        flat: list = []
        rows: list[Row] = []
        others: list[tuple[int, int, Any, int]] = []
        latest: dict[int, tuple[int, Any, int]] = {}
        extend, newest = flat.extend, latest.get
        for m in messages:
            if not m.tags:
                continue
            names, ts, qualities = ids[(m.edge_id, m.connection_id)], m.ts, m.quality
            for name, raw in m.tags.items():
                tag_id = names[name]
                kind = type(raw)
                if not qualities and ((kind is float and _isfinite(raw)) or (kind is int and -_BIG < raw < _BIG)):
                    extend((tag_id, ts, raw))
                    quality = GOOD
                else:
                    value, text, quality, _ = encode_value(raw, qualities.get(name))
                    rows.append((tag_id, ts, value, text, quality))
                    others.append((tag_id, ts, None if quality == BAD else raw, quality))
                prev = newest(tag_id)
                if prev is None or ts >= prev[0]:
                    latest[tag_id] = (ts, raw, quality)
        return flat, rows, latest, others

    def write(self, messages: Sequence[DataPayload]) -> WriteResult:
        if not messages:
            return WriteResult(0, 0, 0)
        ids = self.resolve(messages)
        try:
            return self._write(messages, ids, redelivered=False)
        except _Redelivered:
            return self._write(messages, ids, redelivered=True)

    def _write(self, messages: Sequence[DataPayload], ids: dict, *, redelivered: bool) -> WriteResult:
        with Session(self.engine) as session, session.begin():
            flat, rows, newest, others = self._rows(messages, ids)
            values = len(rows) + len(flat) // 3
            latest = [(t, ts, _exact(raw, q), q) for t, (ts, raw, q) in newest.items()]
            kept, states = self._compress(session, flat)
            new_flat, rows = _drop_compacted(session, kept, rows, window(int(time.time() * 1000)))
            if self.dialect == "sqlite":
                inserted = self._write_sqlite(session, new_flat, rows, latest, redelivered)
            else:
                rows.extend((new_flat[i], new_flat[i + 1], new_flat[i + 2], None, GOOD)
                            for i in range(0, len(new_flat), 3))
                inserted = self._write_generic(session, rows, latest)
        self._states.update(states)  # committed: the compression states move on
        return WriteResult(len(messages), values, inserted, flat, others)

    def _compress(self, session: Session, flat: list) -> tuple[list, dict[int, State]]:
        """The batch's good numbers the tags' storage policies keep. A tag seen for the first time since this store
        started first stores its latest value, which may be a value the last process held and never stored."""
        if not self._policies:
            return flat, {}
        fresh = {flat[i] for i in range(0, len(flat), 3) if flat[i] in self._policies and flat[i] not in self._states}
        held: list = []
        if fresh:
            q = select(Latest.tag_id, Latest.ts, Latest.value_json, Latest.quality).where(Latest.tag_id.in_(fresh))
            for t, ts, value_json, quality in session.execute(q):
                number = _number(value_json)
                if quality == GOOD and number is not None:
                    held.extend((t, ts, number))
        return compress(self._policies, self._states, held + flat)

    def _write_sqlite(self, session: Session, flat: list, rows: list[Row], latest: list[tuple],
                      redelivered: bool) -> int:
        dbapi = session.connection().connection.driver_connection
        cur = dbapi.cursor()  # type: ignore[union-attr]
        try:
            for sql in _SQLITE_SETUP:
                cur.execute(sql)
            step = 3 * _MULTI_ROWS
            full = len(flat) - len(flat) % step
            for i in range(0, full, step):  # multi-row VALUES: one statement per 1,000 rows, not one per row
                cur.execute(_INSERT_MULTI, flat[i:i + step])
            if full < len(flat):
                tail = flat[full:]
                cur.execute(f"{_INSERT_NUMERIC} {','.join(['(?, ?, ?)'] * (len(tail) // 3))}", tail)
            if rows:
                cur.executemany(f"INSERT INTO {_BATCH} VALUES (?, ?, ?, ?, ?)", rows)
            if redelivered:  # keep only the rows not stored yet, once each
                cur.execute(_DEDUPE_BATCH)
                cur.execute(_DROP_STORED)
            cur.execute(_COPY)
            inserted = cur.rowcount
            if not redelivered and inserted < len(flat) // 3 + len(rows):
                raise _Redelivered
            if inserted:
                for sql in _ROLLUPS:
                    cur.execute(sql)
            cur.executemany(_LATEST, latest)
            return inserted
        finally:
            cur.close()

    def _write_generic(self, session: Session, rows: list[Row], latest: list[tuple]) -> int:
        inserted = self._insert_samples(session, [
            {"tag_id": t, "ts": ts, "value": v, "text": x, "quality": q} for t, ts, v, x, q in rows])
        numeric = [(t, ts, v) for t, ts, v, q in inserted if v is not None and q == GOOD]
        for table, width in ((Rollup1m, MINUTE_MS), (Rollup1h, HOUR_MS)):
            merge_rollups(session, self.dialect, table, aggregate(numeric, width))
        upsert_latest(session, self.dialect,
                      [{"tag_id": t, "ts": ts, "value_json": j, "quality": q} for t, ts, j, q in latest])
        return len(inserted)

    def _insert_samples(self, session: Session, rows: list[dict]) -> list[tuple[int, int, float | None, int]]:
        ins = insert_for(self.dialect, Sample).on_conflict_do_nothing(index_elements=["tag_id", "ts"])
        ins = ins.returning(Sample.tag_id, Sample.ts, Sample.value, Sample.quality)
        out: list[tuple[int, int, float | None, int]] = []
        for i in range(0, len(rows), 5000):
            out.extend(session.execute(ins, rows[i:i + 5000]).tuples())
        return out


def merge_rollups(session: Session, dialect: str, table: type[Rollup1m | Rollup1h], aggs: dict) -> None:
    """Add partial aggregates (``rollup.aggregate``) to a rollup table."""
    if not aggs:
        return
    rows = [{"tag_id": t, "bucket": b, "min": a.min, "max": a.max, "sum": a.sum, "count": a.count,
             "last": a.last, "last_ts": a.last_ts} for (t, b), a in aggs.items()]
    ins = insert_for(dialect, table)
    ex = ins.excluded
    ins = ins.on_conflict_do_update(index_elements=["tag_id", "bucket"], set_={
        "min": case((ex.min < table.min, ex.min), else_=table.min),
        "max": case((ex.max > table.max, ex.max), else_=table.max),
        "sum": table.sum + ex.sum,
        "count": table.count + ex.count,
        "last": case((ex.last_ts >= table.last_ts, ex.last), else_=table.last),
        "last_ts": case((ex.last_ts >= table.last_ts, ex.last_ts), else_=table.last_ts),
    })
    session.execute(ins, rows)


def upsert_latest(session: Session, dialect: str, rows: list[dict]) -> None:
    """Newer values replace the latest ones (a bad value keeps the last good value's JSON)."""
    if not rows:
        return
    ins = insert_for(dialect, Latest)
    ex = ins.excluded
    ins = ins.on_conflict_do_update(index_elements=["tag_id"], set_={
        "ts": ex.ts,
        "quality": ex.quality,
        "value_json": case((ex.quality == GOOD, ex.value_json), else_=Latest.value_json),
    }, where=ex.ts >= Latest.ts)
    session.execute(ins, rows)
