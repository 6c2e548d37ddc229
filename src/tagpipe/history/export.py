"""Raw CSV export: every stored value of some tags over a range, from blocks and samples, in time order.

One row per stored value (long layout): ``timestamp,tag_id,tag,value,text,quality``. Tags are sampled at their own
times, so a wide layout (one column per tag) would be mostly empty cells for tags that do not share timestamps, and
would need a text and a quality column per tag; a long one holds every value as stored, whatever its kind, and
appends an hour at a time. ``value`` is the number, ``text`` the value of a text tag (CSV-quoted when it needs to be),
both empty when nothing could be read (``quality`` then ``bad``). Rows of the same time are in the order of the tags
asked.

The export is read a chunk at a time (``chunk``: at most one hour, one transaction), so memory holds one hour of the
asked tags, never the whole range. A value is in its block or in ``samples``; a chunk reads ``samples`` first and
keeps a block's row where both hold a time, so a compaction committed between its two reads (PostgreSQL's read
committed shows each statement the latest state) neither loses nor doubles a value. A number's text is made once per
distinct number of the hour and a line is one concatenation; times come from a table of the hour's seconds.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from tagpipe.contracts import iso_timestamp
from tagpipe.db.blocks import Columns
from tagpipe.history.compact import BLOCK_MS, readable, window
from tagpipe.history.models import BAD, SHARDS

HEADER = b"timestamp,tag_id,tag,value,text,quality\r\n"
Timestamps = Literal["rfc3339", "epoch_ms"]
_MILLIS = [f".{ms:03d}Z" for ms in range(1000)]
_MINUTE_SECOND = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
_QUALITY = {BAD: "bad"}
_BLOCKS = text("SELECT tag_id, data FROM sample_blocks WHERE tag_id IN :ids AND start_ts = :hour").bindparams(
    bindparam("ids", expanding=True))
# samples and what waits for the merge in one statement (one snapshot); of a time held twice, samples' or the first.
_SAMPLES = text("SELECT tag_id, ts, value, text, quality, 0 AS kind, 0 AS seq FROM samples WHERE tag_id IN :ids "
                "AND ts >= :lo AND ts < :hi UNION ALL SELECT tag_id, ts, value, text, quality, 1, seq FROM samples_hot "
                "WHERE shard IN :shards AND tag_id IN :ids AND ts >= :lo AND ts < :hi ORDER BY tag_id, ts, kind, seq"
                ).bindparams(bindparam("ids", expanding=True), bindparam("shards", expanding=True))
_NEXT_BLOCK = text("SELECT MIN(start_ts) FROM sample_blocks WHERE tag_id IN :ids AND start_ts >= :after").bindparams(
    bindparam("ids", expanding=True))
_NEXT_SAMPLE = text("SELECT MIN(ts) FROM samples WHERE tag_id IN :ids AND ts >= :after").bindparams(
    bindparam("ids", expanding=True))
_NEXT_HOT = text("SELECT MIN(ts) FROM samples_hot WHERE shard IN :shards AND tag_id IN :ids AND ts >= :after"
                 ).bindparams(bindparam("ids", expanding=True), bindparam("shards", expanding=True))


@dataclass(frozen=True, kw_only=True, slots=True)
class Export:
    """What to export: (tag id, name) in the order asked, [start, end) in epoch ms, and how to write times."""

    tags: Sequence[tuple[int, str]]
    start_ms: int
    end_ms: int
    timestamps: Timestamps = "rfc3339"


def chunk(session: Session, export: Export, lo: int) -> tuple[bytes, int]:
    """The CSV rows of [lo, the end of lo's hour or of the export) and where the next chunk starts: past the hours
    that hold nothing, or the export's end."""
    hour = window(lo)
    hi = min(hour + BLOCK_MS, export.end_ms)
    ids = [tag_id for tag_id, _ in export.tags]
    # Samples first: a compaction committed between the two reads then leaves values in both, never in neither.
    recent: dict[int, list[Any]] = {}
    for tag_id, ts, value, txt, quality, _, _ in session.execute(
            _SAMPLES, {"ids": ids, "shards": _shards(ids), "lo": lo, "hi": hi}):
        rows = recent.setdefault(tag_id, [])
        if not rows or rows[-1][0] != ts:
            rows.append((ts, value, txt, quality))
    blocks: dict[int, Columns] = {}
    for tag_id, data in session.execute(_BLOCKS, {"ids": ids, "hour": hour}):
        if (c := readable(tag_id, data)) is not None:  # a damaged block is logged; the rest is still exported
            blocks[tag_id] = c
    if not blocks and not recent:
        return b"", _next(session, ids, hi, export.end_ms)
    stamps = _seconds(hour) if export.timestamps == "rfc3339" else None
    per_tag: list[tuple[list[int], list[str]]] = []
    shared: tuple[list[int], list[str]] = ([], [])  # the previous tag's times: most tags share them
    for tag_id, name in export.tags:
        columns = _columns(blocks.get(tag_id), recent.get(tag_id, ()), lo, hi)
        if columns.ts:
            if columns.ts != shared[0]:
                shared = (columns.ts, _times(columns.ts, hour, stamps))
            per_tag.append((columns.ts, _lines(columns, shared[1], f",{tag_id},{_field(name)},")))
    return "".join(_in_time_order(per_tag)).encode(), hi


async def stream(run: Callable[..., Awaitable[Any]], export: Export) -> AsyncIterator[bytes]:
    """The header and then each chunk's bytes; ``run(chunk, export, lo)`` reads one chunk with a session of its own,
    off the event loop (``Services.run_db``)."""
    yield HEADER
    lo = export.start_ms
    while lo < export.end_ms:
        data, lo = await run(chunk, export, lo)
        if data:
            yield data


def _next(session: Session, ids: list[int], after: int, end_ms: int) -> int:
    """The start of the first hour from ``after`` on that holds a value, or ``end_ms``."""
    params = {"ids": ids, "shards": _shards(ids), "after": after}
    found = [t for q in (_NEXT_BLOCK, _NEXT_SAMPLE, _NEXT_HOT)
             if (t := session.execute(q, params).scalar()) is not None]
    return min(end_ms, max(after, window(min(found)))) if found else end_ms


def _shards(ids: list[int]) -> list[int]:
    return sorted({tag_id % SHARDS for tag_id in ids})


def _columns(block: Columns | None, rows: Sequence[Any], lo: int, hi: int) -> Columns:
    """One tag's values in [lo, hi), time order: the block's (cut to the chunk) merged with the samples' rows."""
    if block is None:
        block = Columns([], [], [], [])
    elif block.ts and (block.ts[0] < lo or block.ts[-1] >= hi):  # the first or last chunk of a range
        a, b = bisect.bisect_left(block.ts, lo), bisect.bisect_left(block.ts, hi)
        block = Columns(block.ts[a:b], block.values[a:b], block.texts[a:b], block.quality[a:b])
    if not rows:
        return block
    if block.ts and rows[0][0] <= block.ts[-1]:  # late values not compacted yet, or compacted as we read
        held = set(block.ts)
        rows = sorted([*zip(block.ts, block.values, block.texts, block.quality, strict=True),
                       *(r for r in rows if r[0] not in held)], key=itemgetter(0))
    else:
        rows = [*zip(block.ts, block.values, block.texts, block.quality, strict=True), *rows]
    ts, values, texts, quality = (list(c) for c in zip(*rows, strict=True))
    return Columns(ts, values, texts, quality)


def _times(ts: list[int], hour: int, stamps: list[str] | None) -> list[str]:
    """Each time as written: from the hour's second stamps (RFC 3339) or as epoch ms."""
    if stamps is None:
        return list(map(str, ts))
    ms = _MILLIS
    return [stamps[(t - hour) // 1000] + ms[t % 1000] for t in ts]


def _numbers(values: list[float], head: str, tail: str) -> list[str]:
    """``head``, ``repr`` of the number and ``tail`` for each number; made once per distinct number when they repeat
    (as most measurements do within an hour), then looked up."""
    distinct = set(values)
    if len(distinct) * 4 > len(values):
        return [f"{head}{v!r}{tail}" for v in values]
    written = {v: f"{head}{v!r}{tail}" for v in distinct}
    if 0.0 in written:  # 0.0 and -0.0 are one key: each zero written itself
        return [written[v] if v else f"{head}{v!r}{tail}" for v in values]
    return list(map(written.__getitem__, values))


def _lines(c: Columns, times: list[str], head: str) -> list[str]:
    """One CSV line per value; ``head`` is ``,id,name,``."""
    n = len(c.ts)
    if not any(c.quality) and c.texts.count(None) == n and c.values.count(None) == 0:  # numbers, all good
        return list(map(str.__add__, times, _numbers(c.values, head, ",,good\r\n")))  # type: ignore[arg-type]
    return [f"{t}{head}{'' if v is None else repr(v)},{'' if x is None else _field(x)},{_QUALITY.get(q, 'good')}\r\n"
            for t, v, x, q in zip(times, c.values, c.texts, c.quality, strict=True)]


def _in_time_order(per_tag: list[tuple[list[int], list[str]]]) -> list[str]:
    """The tags' lines merged by time (stable: rows of one time in the tags' order)."""
    if len(per_tag) == 1:
        return per_tag[0][1]
    first = per_tag[0][0]
    if all(ts == first for ts, _ in per_tag):  # the usual case: sampled at the same times
        return list(chain.from_iterable(zip(*(lines for _, lines in per_tag), strict=True)))
    stamps = [t for ts, _ in per_tag for t in ts]
    lines = [line for _, part in per_tag for line in part]
    return [lines[i] for i in sorted(range(len(stamps)), key=stamps.__getitem__)]


def _seconds(hour: int) -> list[str]:
    """``YYYY-MM-DDTHH:MM:SS`` of each second of the hour starting at ``hour`` (epoch ms, UTC)."""
    prefix = iso_timestamp(hour)[:14]
    return [prefix + second for second in _MINUTE_SECOND]


def _field(value: str) -> str:
    """A CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line break."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
