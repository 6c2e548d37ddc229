"""Values as they arrived (``samples_hot``) moved into ``samples`` and the rollups, a range of shards per transaction.

Why two steps: ``samples`` and the rollups are clustered by tag, so a write of values of N distinct tags changes N
B-tree leaves; at 100,000 tags a 0.5 s batch changed 50,000 leaves of each table, and ingest fell behind however
fast it appended. A batch now appends to ``samples_hot`` at ``SHARDS`` places (``store.IngestStore``), and the merge
moves what accumulated there every ``interval_s``: each tag's leaves are changed once per merge, not once per batch.

The merge is where a value becomes exactly-once. It keeps the first arrival of each (tag, ts) (by ``seq``), drops
what ``samples`` or a compressed block already holds (a redelivery) and counts in the rollups only what it inserted.
On SQLite the rows go through a connection-local temp table and everything runs in C: the copy into ``samples`` is an
``INSERT OR IGNORE ... SELECT`` in key order; if it inserted fewer rows than it was given, some were stored already,
and the step is rolled back and done again the careful way (what ``samples`` holds removed first), so the rollups
add up only what was new. Other dialects (PostgreSQL) claim the rows with ``DELETE ... RETURNING`` (a row two merges
race for is returned to one) and insert them with ``ON CONFLICT DO NOTHING RETURNING``.

Readers take ``samples_hot`` with the rest in one statement (``compact.read``, ``service.history``, ``export``): a
value is seen whether or not the merge has moved it yet, and once.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine, case, text
from sqlalchemy.orm import Session

from tagpipe.db.engine import database_away
from tagpipe.db.upsert import insert_for
from tagpipe.history.compact import compacted, window
from tagpipe.history.models import GOOD, SHARDS, Rollup1h, Rollup1m, Sample
from tagpipe.history.rollup import HOUR_MS, MINUTE_MS, aggregate

log = logging.getLogger(__name__)
Row = tuple[int, int, float | None, str | None, int]  # tag id, ts, numeric value, text, quality

_AGG = "temp.tagpipe_ingest_agg"
# What a merge step took, one (tag, ts) each, keyed by (tag, minute, ts): every later statement reads it in key order,
# without a sort.
_TAKEN = "temp.tagpipe_merge_batch"
_MERGE_SETUP = (
    ("CREATE TEMP TABLE IF NOT EXISTS tagpipe_merge_batch (tag_id INTEGER NOT NULL, b INTEGER NOT NULL, "
     "ts INTEGER NOT NULL, value REAL, text TEXT, quality INTEGER NOT NULL, PRIMARY KEY (tag_id, b, ts)) "
     "WITHOUT ROWID"),
    ("CREATE TEMP TABLE IF NOT EXISTS tagpipe_ingest_agg (tag_id INTEGER, bucket INTEGER, \"min\" REAL, "
     "\"max\" REAL, \"sum\" REAL, \"count\" INTEGER, \"last\" REAL, last_ts INTEGER)"),
    f"DELETE FROM {_TAKEN}",
)
# Sorted (one sort, then appends in key order), and of a (tag, ts) held twice the first to arrive first: it stays.
_TAKE = (f"INSERT OR IGNORE INTO {_TAKEN} (tag_id, b, ts, value, text, quality) SELECT tag_id, ts - ts % {MINUTE_MS}, "
         f"ts, value, text, quality FROM samples_hot WHERE shard >= :lo AND shard < :hi ORDER BY tag_id, ts, seq")
_CLEAR = "DELETE FROM samples_hot WHERE shard >= :lo AND shard < :hi"
# In key order: the B-tree cursor walks forward instead of seeking per row.
_COPY = (f"INSERT OR IGNORE INTO samples (tag_id, ts, value, text, quality) SELECT tag_id, ts, value, text, quality "
         f"FROM {_TAKEN} ORDER BY tag_id, b, ts")
_DROP_STORED = (f"DELETE FROM {_TAKEN} WHERE EXISTS (SELECT 1 FROM samples AS s "
                f"WHERE s.tag_id = tagpipe_merge_batch.tag_id AND s.ts = tagpipe_merge_batch.ts)")
# 1-minute partials of the inserted good numeric rows; "last" is the value at the newest ts, looked up by key.
_AGG_1M = f"""INSERT INTO {_AGG} SELECT a.tag_id, a.b, a.mn, a.mx, a.sm, a.n, l.value, a.ts FROM
 (SELECT tag_id, b, MIN(value) AS mn, MAX(value) AS mx, SUM(value) AS sm, COUNT(*) AS n, MAX(ts) AS ts
  FROM {_TAKEN} WHERE quality = {GOOD} AND value IS NOT NULL GROUP BY tag_id, b) AS a
 JOIN {_TAKEN} AS l ON l.tag_id = a.tag_id AND l.b = a.b AND l.ts = a.ts"""
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
_ROLLUPS = (f"DELETE FROM {_AGG}", _AGG_1M, _MERGE.format(table="rollup_1m", select=f"SELECT * FROM {_AGG} WHERE true"),
            _MERGE.format(table="rollup_1h", select=_AGG_1H))


class _Redelivered(Exception):
    """The rows hold values stored already; the step is rolled back and done the careful way."""


def merge_shards(engine: Engine, lo: int, hi: int, *, now_ms: int | None = None, dialect: str | None = None) -> int:
    """Move what waits in shards [lo, hi) into ``samples`` and the rollups; the number of values that were new.
    ``dialect`` other than ``sqlite`` takes the portable path on SQLite too (tests)."""
    before = _before(now_ms)
    if (dialect or engine.dialect.name) != "sqlite":
        return _merge_generic(engine, lo, hi, before)
    try:
        return _merge_sqlite(engine, lo, hi, before, careful=False)
    except _Redelivered:
        return _merge_sqlite(engine, lo, hi, before, careful=True)


def _before(now_ms: int | None) -> int:
    """Values before this (the current hour) may be held by a block already."""
    return window(int(time.time() * 1000) if now_ms is None else now_ms)


def _merge_sqlite(engine: Engine, lo: int, hi: int, before: int, *, careful: bool) -> int:
    with Session(engine) as session, session.begin():
        dbapi = session.connection().connection.driver_connection
        cur = dbapi.cursor()  # type: ignore[union-attr]
        try:
            if not dbapi.in_transaction:  # type: ignore[union-attr]
                # The write lock first (waiting for it): a read first would fail at once, "database is locked", if
                # another process wrote before this one's write began.
                cur.execute("BEGIN IMMEDIATE")
            for sql in _MERGE_SETUP:
                cur.execute(sql)
            span = {"lo": lo, "hi": hi}
            taken = cur.execute(_TAKE, span).rowcount
            if not taken:
                return 0
            cur.execute(_CLEAR, span)
            old = cur.execute(f"SELECT tag_id, ts FROM {_TAKEN} WHERE ts < ?", (before,)).fetchall()
            if old and (held := compacted(session, old)):  # redelivered after their hour was compacted
                cur.executemany(f"DELETE FROM {_TAKEN} WHERE tag_id = ? AND b = ? AND ts = ?",
                                sorted((t, ts - ts % MINUTE_MS, ts) for t, ts in held))
                taken -= len(held)
            if careful:  # keep only the rows not stored yet
                cur.execute(_DROP_STORED)
            cur.execute(_COPY)
            inserted: int = cur.rowcount
            if not careful and inserted < taken:
                raise _Redelivered
            if inserted:
                for sql in _ROLLUPS:
                    cur.execute(sql)
            return inserted
        finally:
            cur.close()


def _merge_generic(engine: Engine, lo: int, hi: int, before: int) -> int:
    """One pass: ON CONFLICT DO NOTHING RETURNING tells what was new."""
    with Session(engine) as session, session.begin():
        claimed = session.execute(text(
            "DELETE FROM samples_hot WHERE shard >= :lo AND shard < :hi "
            "RETURNING seq, tag_id, ts, value, text, quality"), {"lo": lo, "hi": hi}).all()
        if not claimed:
            return 0
        first: dict[tuple[int, int], Row] = {}
        for _, tag_id, ts, value, txt, quality in sorted(claimed, key=lambda r: r[0]):
            first.setdefault((tag_id, ts), (tag_id, ts, value, txt, quality))
        old = [key for key in first if key[1] < before]
        held = compacted(session, old) if old else set()
        rows = [r for key, r in sorted(first.items()) if key not in held]
        return len(insert_rows(session, rows))


def insert_rows(session: Session, rows: list[Row]) -> list[tuple[int, int, float | None, int]]:
    """Insert rows into ``samples`` where their (tag, ts) is free and add the good numbers among them to the
    rollups; the rows inserted as (tag id, ts, value, quality)."""
    dialect = session.get_bind().dialect.name
    ins = insert_for(dialect, Sample).on_conflict_do_nothing(index_elements=["tag_id", "ts"])
    ins = ins.returning(Sample.tag_id, Sample.ts, Sample.value, Sample.quality)
    out: list[tuple[int, int, float | None, int]] = []
    keys = ("tag_id", "ts", "value", "text", "quality")
    for i in range(0, len(rows), 5000):
        out.extend(session.execute(ins, [dict(zip(keys, r, strict=True)) for r in rows[i:i + 5000]]).tuples())
    numeric = [(t, ts, v) for t, ts, v, q in out if v is not None and q == GOOD]
    for table, width in ((Rollup1m, MINUTE_MS), (Rollup1h, HOUR_MS)):
        merge_rollups(session, dialect, table, aggregate(numeric, width))
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


class Merger:
    """Runs the merge ``step`` by step, ``span`` shards per step (one short transaction each, so ingest, which waits
    for the database's one writer, is held up for one step at most, and batches and steps take turns). While few
    values wait (``staged`` counts them) a cycle over every shard runs at once, so at low rates ``samples`` trails
    ingest by a batch; under load a cycle starts ``interval_s`` after the last one started. (Spreading a cycle's steps
    over the interval measured worse: ``samples_hot`` then stays at its largest.)"""

    def __init__(self, engine: Engine, *, interval_s: float = 30.0, span: int = 8, few: int = 20_000) -> None:
        self.engine, self.interval_s, self.span, self.few = engine, interval_s, span, few
        self._next: int | None = None  # the next step's first shard, while a cycle runs
        self._started = -interval_s  # monotonic time the last cycle started
        self.waiting = 1  # values staged since the last cycle started (unknown at start: one cycle runs then)

    def staged(self, values: int) -> None:
        self.waiting += values

    def due(self) -> bool:
        if self._next is not None:
            return True
        if not self.waiting:
            return False
        return self.waiting < self.few or time.monotonic() - self._started >= self.interval_s

    def _range(self) -> tuple[int, int]:
        if self._next is None:
            self._next, self._started, self.waiting = 0, time.monotonic(), 0
        return self._next, min(SHARDS, self._next + self.span)

    def step(self, now_ms: int | None = None) -> int:
        """One transaction's worth of merging; the number of values that were new. A range the database refuses
        (not merely away: that is raised, and the step tried again) is merged shard by shard: a shard that still
        fails is logged and left for the next cycle, its values readable where they are, and the others go on."""
        lo, hi = self._range()
        try:
            merged = merge_shards(self.engine, lo, hi, now_ms=now_ms)
        except Exception as e:
            if database_away(e):
                raise
            merged = sum(self._merge_alone(shard, now_ms) for shard in range(lo, hi))
        self._next = hi if hi < SHARDS else None
        return merged

    def _merge_alone(self, shard: int, now_ms: int | None) -> int:
        try:
            return merge_shards(self.engine, shard, shard + 1, now_ms=now_ms)
        except Exception as e:
            if database_away(e):
                raise
            log.error("staged values of shard %d (tag ids %% %d) cannot be merged, tried again next cycle: %s",
                      shard, SHARDS, e)
            return 0

    def run(self, now_ms: int | None = None) -> int:
        """Steps until a whole cycle is done (tests, benchmarks); the number of values that were new."""
        self._next = None
        merged = self.step(now_ms)
        while self._next is not None:
            merged += self.step(now_ms)
        return merged


def merge_all(engine: Engine, now_ms: int | None = None, *, dialect: str | None = None) -> int:
    """Everything waiting in ``samples_hot`` merged, in one transaction; the number of values that were new."""
    return merge_shards(engine, 0, SHARDS, now_ms=now_ms, dialect=dialect)
