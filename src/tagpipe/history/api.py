"""REST routes: tags with their latest value, downsampled history and CSV export."""

from __future__ import annotations

import csv
import io
import time

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from tagpipe import plant
from tagpipe.contracts import iso_timestamp, parse_iso_ms
from tagpipe.errors import InvalidInput
from tagpipe.history import rejects, service
from tagpipe.web.deps import ServicesDep

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


def parse_time(field: str, value: str | None, default_ms: int) -> int:
    if value in (None, ""):
        return default_ms
    try:
        return int(float(value))
    except ValueError:
        pass
    try:
        return parse_iso_ms(value)
    except ValueError:
        raise InvalidInput(field, "ISO 8601 time or epoch milliseconds", value) from None


def _range(start: str | None, end: str | None) -> tuple[int, int]:
    now = int(time.time() * 1000)
    end_ms = parse_time("end", end, now)
    start_ms = parse_time("start", start, end_ms - 3_600_000)
    if start_ms >= end_ms:
        raise InvalidInput("start", "a time before end", start)
    return start_ms, end_ms


@router.get("/tags/{tag_id}/history", response_model=History)
async def tag_history(tag_id: int, services: ServicesDep, start: str | None = None, end: str | None = None,
                      points: int = Query(1000, ge=1, le=10_000)) -> History:
    """Downsampled history: min / max / avg per bucket, from rollups when the range is long."""
    start_ms, end_ms = _range(start, end)
    source, pts = await services.run_db(service.history, tag_id, start_ms, end_ms, points)
    return History(tag_id=tag_id, start=iso_timestamp(start_ms), end=iso_timestamp(end_ms), source=source,
                   points=[HistoryPoint(timestamp=iso_timestamp(p.ts), ts=p.ts, min=p.min, max=p.max, avg=p.avg, count=p.count)
                           for p in pts])


@router.get("/history.csv")
async def history_csv(services: ServicesDep, tags: str = Query(..., description="Comma-separated tag ids"),
                      start: str | None = None,
                      end: str | None = None, points: int = Query(1000, ge=1, le=10_000)) -> StreamingResponse:
    """The same buckets as the trend chart, one row per tag and bucket."""
    try:
        ids = [int(t) for t in tags.split(",") if t.strip()]
    except ValueError:
        raise InvalidInput("tags", "comma-separated tag ids", tags) from None
    start_ms, end_ms = _range(start, end)
    names = {t["id"]: t["name"] for t in await services.run_db(plant.tag_catalog)}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["timestamp", "tag_id", "tag", "avg", "min", "max", "count"])
    for tag_id in ids:
        _, pts = await services.run_db(service.history, tag_id, start_ms, end_ms, points)
        for p in pts:
            w.writerow([iso_timestamp(p.ts), tag_id, names.get(tag_id, ""), p.avg, p.min, p.max, p.count])
    return StreamingResponse(iter([buf.getvalue()]), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="tagpipe-history.csv"'})


router.include_router(rejects.router)
