"""Samples of hours that are over, moved into compressed blocks (``db.blocks``): one row per tag and hour.

``samples`` keeps the current and the previous hour (clustered by tag and time, written by the merge of what ingest
staged: ``history.merge``). Once an hour and the next one are over, ``Compactor.step`` moves it, a few tags per
transaction, into ``sample_blocks``: 28.7 bytes per value in ``samples`` against about one in a block for what plants
measure. A value that arrives later for an hour already compacted is merged into ``samples`` like any other (after
the merge checked that the block does not hold it: ``compacted``), and into its block on the compactor's next pass.
A reader takes both in one statement, in which a row is in exactly one of the two.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from tagpipe.db.blocks import Columns, decode, encode
from tagpipe.db.upsert import insert_for
from tagpipe.history.models import GOOD, SHARDS, SampleBlock
from tagpipe.history.rollup import HOUR_MS

log = logging.getLogger(__name__)
BLOCK_MS = HOUR_MS
Row = tuple[int, float | None, str | None, int]  # ts, value, text, quality


def window(ts: int) -> int:
    return ts - ts % BLOCK_MS


def cold_before(now_ms: int) -> int:
    """Samples before this may be compacted: the hour before the current one is kept in ``samples`` too."""
    return window(now_ms) - BLOCK_MS


def read(session: Session, tag_id: int, start_ms: int, end_ms: int, *,
         samples: bool = True) -> tuple[list[Columns], list[Row]]:
    """The blocks that may hold values of ``tag_id`` in [start, end) (oldest first) and its other values there, from
    ``samples`` and ``samples_hot`` (time order), in one statement: one snapshot, so a value the compactor or the
    merge moves meanwhile is seen once (SQLite's driver runs each SELECT outside any transaction). A time held twice
    (a redelivery the merge has not dropped yet) is given once: a block's or ``samples``' value, else the first to
    arrive."""
    params = {"tag": tag_id, "from": start_ms - BLOCK_MS, "start": start_ms, "end": end_ms, "shard": tag_id % SHARDS}
    sql = ("SELECT 0 AS kind, start_ts AS ts, 0 AS seq, data, NULL AS value, NULL AS text, 0 AS quality "
           "FROM sample_blocks WHERE tag_id = :tag AND start_ts > :from AND start_ts < :end")
    if samples:
        sql += (" UNION ALL SELECT 1, ts, 0, NULL, value, text, quality FROM samples "
                "WHERE tag_id = :tag AND ts >= :start AND ts < :end"
                " UNION ALL SELECT 2, ts, seq, NULL, value, text, quality FROM samples_hot "
                "WHERE shard = :shard AND tag_id = :tag AND ts >= :start AND ts < :end")
    blocks: list[Columns] = []
    rows: list[Row] = []
    hot: dict[int, Row] = {}
    for kind, ts, _, data, value, txt, quality in session.execute(text(sql + " ORDER BY kind, ts, seq"), params):
        if kind == 1:
            rows.append((ts, value, txt, quality))
        elif kind == 2:
            hot.setdefault(ts, (ts, value, txt, quality))
        elif (c := readable(tag_id, data)) is not None:
            blocks.append(c)
    if hot:
        held = {r[0] for r in rows}
        if min(hot) <= max((c.ts[-1] for c in blocks if c.ts), default=min(hot) - 1):
            held.update(t for c in blocks for t in c.ts)
        rows = sorted([*rows, *(r for ts, r in hot.items() if ts not in held)], key=lambda r: r[0])
    return blocks, rows


def readable(tag_id: int, data: bytes) -> Columns | None:
    """A block decoded, or None (logged) when it cannot be: what it held is lost, the rest is still shown."""
    try:
        return decode(data)
    except ValueError as e:
        log.error("tag %d: a block of its samples cannot be read (%s)", tag_id, e)
        return None


def compacted(session: Session | Connection, keys: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these (tag id, ts) a block holds already (the writer drops them: a redelivery, not a new value)."""
    wanted: dict[tuple[int, int], set[int]] = {}
    for tag_id, ts in keys:
        wanted.setdefault((tag_id, window(ts)), set()).add(ts)
    held: set[tuple[int, int]] = set()
    for (tag_id, start), stamps in wanted.items():
        data = session.execute(text("SELECT data FROM sample_blocks WHERE tag_id = :tag AND start_ts = :start"),
                               {"tag": tag_id, "start": start}).scalar()
        block = readable(tag_id, data) if data is not None else None
        if block is not None:
            held.update((tag_id, ts) for ts in stamps.intersection(block.ts))
    return held


def merge(old: Columns | None, rows: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    """(a block's rows and ``rows`` in time order, the rows it did not hold): where both hold a timestamp, the
    block's row stays."""
    if old is None:
        return list(rows), list(rows)
    mine = list(zip(old.ts, old.values, old.texts, old.quality, strict=True))
    have = set(old.ts)
    new = [r for r in rows if r[0] not in have]
    return sorted([*mine, *new], key=lambda r: r[0]), new


def write_block(session: Session, tag_id: int, start: int, rows: Sequence[Row]) -> None:
    """Insert or replace the block of (tag, hour) with ``rows`` (time order, distinct timestamps)."""
    ts, values, texts, quality = (list(c) for c in zip(*rows, strict=True))
    _upsert_block(session, {"tag_id": tag_id, "start_ts": start, "first_ts": ts[0], "last_ts": ts[-1],
                            "count": len(ts), "data": encode(ts, values, texts, quality)})


def add_to_blocks(session: Session, tag_id: int, rows: Sequence[Row]) -> list[Row]:
    """Merge ``rows`` (any order, one per timestamp) into the blocks of their hours; the rows they did not hold.
    Every block they touch is read first, so a block that cannot be read (ValueError) leaves all as they were."""
    by_window: dict[int, list[Row]] = {}
    for r in sorted(rows, key=lambda r: r[0]):
        by_window.setdefault(window(r[0]), []).append(r)
    old = {start: decode(data) for start, data in session.execute(text(
        "SELECT start_ts, data FROM sample_blocks WHERE tag_id = :tag AND start_ts >= :first AND start_ts <= :last"),
        {"tag": tag_id, "first": min(by_window), "last": max(by_window)}) if start in by_window}
    added: list[Row] = []
    for start, part in by_window.items():
        merged, new = merge(old.get(start), part)
        if new:
            write_block(session, tag_id, start, merged)
            added += new
    return added


def add_series(session: Session, tag_id: int, ts: list[int], values: list[float]) -> list[tuple[int, float]]:
    """``add_to_blocks`` for good numbers in time order, one per timestamp, as columns: an hour no block holds yet is
    encoded from slices of them, with no per-value work here. The (ts, value) pairs that were new."""
    if not ts:
        return []
    old = set(session.execute(text(
        "SELECT start_ts FROM sample_blocks WHERE tag_id = :tag AND start_ts >= :first AND start_ts <= :last"),
        {"tag": tag_id, "first": window(ts[0]), "last": window(ts[-1])}).scalars())
    added: list[tuple[int, float]] = []
    i = 0
    while i < len(ts):
        start = window(ts[i])
        j = bisect_left(ts, start + BLOCK_MS, i)
        if start in old:
            rows = [(t, v, None, GOOD) for t, v in zip(ts[i:j], values[i:j], strict=True)]
            added += [(r[0], r[1]) for r in add_to_blocks(session, tag_id, rows)]  # type: ignore[misc]
        else:
            part_ts, part = ts[i:j], values[i:j]
            n = j - i
            record = {"tag_id": tag_id, "start_ts": start, "first_ts": part_ts[0], "last_ts": part_ts[-1], "count": n,
                      "data": encode(part_ts, part, [None] * n, [GOOD] * n)}
            _upsert_block(session, record)
            added += zip(part_ts, part, strict=True)
        i = j
    return added


def _upsert_block(session: Session, record: dict[str, object]) -> None:
    ins = insert_for(session.get_bind().dialect.name, SampleBlock)
    session.execute(ins.on_conflict_do_update(index_elements=["tag_id", "start_ts"], set_={
        k: ins.excluded[k] for k in ("first_ts", "last_ts", "count", "data")}), record)


@dataclass
class Pass:
    before: int  # samples before this are moved
    after_tag: int = 0  # tags up to this one are done


class Compactor:
    """Moves cold samples into blocks, ``tags`` tags per ``step`` (each step one short transaction, so ingest, which
    waits for the database's one writer, is held up for one step at most). A pass over every tag starts when an hour
    is over, and every ``repeat_s`` anyway, for late values."""

    def __init__(self, engine: Engine, *, tags: int = 200, repeat_s: float = 600.0) -> None:
        self.engine, self.tags, self.repeat_s = engine, tags, repeat_s
        self._pass: Pass | None = None
        self._done: tuple[int, float] = (0, 0.0)  # (the last pass's horizon, when it ended)

    def due(self, now_ms: int | None = None) -> bool:
        if self._pass is not None:
            return True
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        horizon, ended = self._done
        return cold_before(now_ms) > horizon or time.monotonic() - ended > self.repeat_s

    def step(self, now_ms: int | None = None) -> int:
        """One transaction's worth of compaction; the number of samples moved."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if self._pass is None:
            self._pass = Pass(cold_before(now_ms))
        p, moved = self._pass, 0
        with Session(self.engine) as session, session.begin():
            for _ in range(self.tags):
                tag_id = session.execute(text("SELECT MIN(tag_id) FROM samples WHERE tag_id > :after"),
                                         {"after": p.after_tag}).scalar()
                if tag_id is None:
                    self._pass, self._done = None, (p.before, time.monotonic())
                    break
                p.after_tag = tag_id
                moved += self._compact_tag(session, tag_id, p.before)
        if moved:
            log.debug("compacted %d samples into blocks", moved)
        return moved

    def run(self, now_ms: int | None = None) -> int:
        """Steps until a whole pass is done (tests); the number of samples moved."""
        moved = self.step(now_ms)
        while self._pass is not None:
            moved += self.step(now_ms)
        return moved

    @staticmethod
    def _compact_tag(session: Session, tag_id: int, before: int) -> int:
        params = {"tag": tag_id, "before": before}
        rows: list[Row] = [tuple(r) for r in session.execute(text(
            "SELECT ts, value, text, quality FROM samples WHERE tag_id = :tag AND ts < :before ORDER BY ts"), params)]
        if not rows:
            return 0
        try:
            add_to_blocks(session, tag_id, rows)
        except ValueError as e:  # its samples stay where they are, readable; the other tags go on
            log.error("tag %d: a block of its samples cannot be read (%s); its older samples stay uncompressed",
                      tag_id, e)
            return 0
        session.execute(text("DELETE FROM samples WHERE tag_id = :tag AND ts < :before"), params)
        return len(rows)
