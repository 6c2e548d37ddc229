"""REST routes: tags with their latest value, downsampled history, CSV of the buckets and of every raw value."""

from __future__ import annotations

import csv
import io
import math
import time
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from tagpipe import plant
from tagpipe.contracts import in_time_range, iso_timestamp, parse_iso_ms
from tagpipe.contracts.payloads import MAX_MS, MIN_MS
from tagpipe.db import fits
from tagpipe.errors import InvalidInput
from tagpipe.history import export, service
from tagpipe.web.deps import ServicesDep
from tagpipe.web.inputs import MAX_INT64, PathId

MAX_CSV_TAGS = 200

router = APIRouter(prefix="/api", tags=["history"])


class HistoryPoint(BaseModel):
    timestamp: str
    ts: int
    min: float
    max: float
    avg: float
    count: int


class History(BaseModel):
    tag_id: int
    start: str
    end: str
    source: str
    points: list[HistoryPoint]


def parse_time(field: str, value: str | None, default_ms: int, *, require_zone: bool = True) -> int:
    """Epoch milliseconds of ``value``: a finite number of epoch ms, or an RFC 3339 time with its zone (an ISO time
    without one is UTC when ``require_zone`` is off, as the Trends page allows); inside 1970-01-01 .. 9999-12-31."""
    if value in (None, ""):
        return default_ms
    expected = "epoch milliseconds or an RFC 3339 time with a zone (2026-01-31T08:00:00Z)"
    ms: int | None = None
    try:
        number = float(value)  # type: ignore[arg-type]
    except ValueError:
        try:
            ms = parse_iso_ms(value, require_zone=require_zone)  # type: ignore[arg-type]
        except (ValueError, OverflowError):
            raise InvalidInput(field, expected, value) from None
    else:
        if not math.isfinite(number):
            raise InvalidInput(field, "a finite number of " + expected, value)
        ms = int(number) if abs(number) < 2**63 else None
    if ms is None or not in_time_range(ms):
        raise InvalidInput(field, f"a time from {iso_timestamp(MIN_MS)} to {iso_timestamp(MAX_MS)}", value)
    return ms


def _range(start: str | None, end: str | None) -> tuple[int, int]:
    now = int(time.time() * 1000)
    end_ms = parse_time("end", end, now)
    start_ms = parse_time("start", start, max(MIN_MS, end_ms - 3_600_000))
    if start_ms >= end_ms:
        raise InvalidInput("start", "a time before end", start)
    return start_ms, end_ms


STAMPS_DOC = "Times in the CSV: RFC 3339 UTC to the millisecond (2026-01-31T08:00:00.000Z), or epoch milliseconds."
TIME_DOC = "Epoch milliseconds or RFC 3339 with a zone; default: end now, start one hour before end."


@router.get("/tags/{tag_id:int}/history", response_model=History)
async def tag_history(tag_id: PathId, services: ServicesDep,
                      start: str | None = Query(None, max_length=64, description=TIME_DOC),
                      end: str | None = Query(None, max_length=64, description=TIME_DOC),
                      points: int = Query(1000, ge=1, le=10_000)) -> History:
    """Downsampled history: min / max / avg per bucket, from rollups when the range is long."""
    start_ms, end_ms = _range(start, end)
    source, pts = ("samples", []) if not fits(tag_id) else \
        await services.run_db(service.history, tag_id, start_ms, end_ms, points)
    return History(tag_id=tag_id, start=iso_timestamp(start_ms), end=iso_timestamp(end_ms), source=source,
                   points=[HistoryPoint(timestamp=iso_timestamp(p.ts), ts=p.ts, min=p.min, max=p.max, avg=p.avg,
                                        count=p.count)
                           for p in pts])


def parse_ids(field: str, text: str) -> list[int]:
    """Comma-separated positive 64-bit ids, at most MAX_CSV_TAGS of them."""
    expected = f"comma-separated tag ids (1 to {MAX_INT64}), at most {MAX_CSV_TAGS}"
    try:
        ids = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise InvalidInput(field, expected, text) from None
    if not ids or len(ids) > MAX_CSV_TAGS or not all(1 <= i <= MAX_INT64 for i in ids):
        raise InvalidInput(field, expected, text)
    return ids


@router.get("/history.csv", response_class=StreamingResponse,
            responses={200: {"description": "CSV, one row per tag and bucket.", "content": {"text/csv": {}}}})
async def history_csv(services: ServicesDep,
                      tags: str = Query(..., max_length=4000, description="Comma-separated tag ids"),
                      start: str | None = Query(None, max_length=64, description=TIME_DOC),
                      end: str | None = Query(None, max_length=64, description=TIME_DOC),
                      points: int = Query(1000, ge=1, le=10_000)) -> StreamingResponse:
    """The same buckets as the trend chart, one row per tag and bucket."""
    ids = parse_ids("tags", tags)
    start_ms, end_ms = _range(start, end)
    names = {t["id"]: t["name"] for t in await services.run_db(plant.tag_catalog)}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["timestamp", "tag_id", "tag", "avg", "min", "max", "count"])
    for tag_id in [i for i in ids if fits(i)]:
        _, pts = await services.run_db(service.history, tag_id, start_ms, end_ms, points)
        for p in pts:
            w.writerow([iso_timestamp(p.ts), tag_id, names.get(tag_id, ""), p.avg, p.min, p.max, p.count])
    return StreamingResponse(iter([buf.getvalue()]), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="tagpipe-history.csv"'})



@router.get("/history/raw.csv", response_class=StreamingResponse,
            responses={200: {"description": "CSV, one row per stored value: timestamp,tag_id,tag,value,text,quality, "
                                            "in time order.", "content": {"text/csv": {}}}})
async def raw_csv(services: ServicesDep,
                  tags: str = Query(..., max_length=4000, description="Comma-separated tag ids"),
                  start: str | None = Query(None, max_length=64, description=TIME_DOC),
                  end: str | None = Query(None, max_length=64, description=TIME_DOC),
                  timestamps: Literal["rfc3339", "epoch_ms"] = Query("rfc3339", description=STAMPS_DOC),
                  ) -> StreamingResponse:
    """Every stored value of the tags in [start, end), from the compressed blocks and the recent samples, in time
    order; streamed an hour at a time (text values in ``text``, ``value`` and ``text`` empty for a bad reading)."""
    ids = parse_ids("tags", tags)
    start_ms, end_ms = _range(start, end)
    names = {t["id"]: t["name"] for t in await services.run_db(plant.tag_catalog)}
    wanted = list(dict.fromkeys(i for i in ids if fits(i)))
    job = export.Export(tags=[(i, names.get(i, "")) for i in wanted], start_ms=start_ms, end_ms=end_ms,
                        timestamps=timestamps)
    return StreamingResponse(export.stream(services.run_db, job) if wanted else iter([export.HEADER]),
                             media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="tagpipe-raw.csv"'})
