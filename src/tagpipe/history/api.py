"""REST routes: tags with their latest value, downsampled history and CSV export."""

from __future__ import annotations

import csv
import io
import time

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.contracts import iso_timestamp, parse_iso_ms
from tagpipe.errors import InvalidInput, NotFound
from tagpipe.history import rejects, service
from tagpipe.web.context import run_db

router = APIRouter(prefix="/api", tags=["history"])


class TagValue(BaseModel):
    id: int
    name: str
    unit: str
    equipment: str
    equipment_id: int | None
    connection: str | None
    connection_id: int | None
    edge_id: str | None
    data_type: str
    writable: bool
    source: str = "plc"
    value: object = None
    quality: str | None = None
    timestamp: str | None = None
    age_s: float | None = None


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


def tag_values(session: Session) -> list[TagValue]:
    catalog = plant.tag_catalog(session)
    latest = service.latest_values(session)
    now = time.time() * 1000
    out = []
    for t in catalog:
        lv = latest.get(t["id"])
        extra = {"value": lv.value, "quality": lv.quality, "timestamp": iso_timestamp(lv.ts), "age_s": round((now - lv.ts) / 1000, 1)} if lv else {}
        out.append(TagValue(**{k: t[k] for k in TagValue.model_fields if k in t}, **extra))
    return out


@router.get("/tags", response_model=list[TagValue])
async def list_tags() -> list[TagValue]:
    """Every tag with its latest value, quality and timestamp."""
    return await run_db(tag_values)


@router.get("/tags/{tag_id}", response_model=TagValue)
async def get_tag(tag_id: int) -> TagValue:
    for t in await run_db(tag_values):
        if t.id == tag_id:
            return t
    raise NotFound(f"tag {tag_id} does not exist")


def _range(start: str | None, end: str | None) -> tuple[int, int]:
    now = int(time.time() * 1000)
    end_ms = parse_time("end", end, now)
    start_ms = parse_time("start", start, end_ms - 3_600_000)
    if start_ms >= end_ms:
        raise InvalidInput("start", "a time before end", start)
    return start_ms, end_ms


@router.get("/tags/{tag_id}/history", response_model=History)
async def tag_history(tag_id: int, start: str | None = None, end: str | None = None,
                      points: int = Query(1000, ge=1, le=10_000)) -> History:
    """Downsampled history: min / max / avg per bucket, from rollups when the range is long."""
    start_ms, end_ms = _range(start, end)
    source, pts = await run_db(service.history, tag_id, start_ms, end_ms, points)
    return History(tag_id=tag_id, start=iso_timestamp(start_ms), end=iso_timestamp(end_ms), source=source,
                   points=[HistoryPoint(timestamp=iso_timestamp(p.ts), ts=p.ts, min=p.min, max=p.max, avg=p.avg, count=p.count)
                           for p in pts])


@router.get("/history.csv")
async def history_csv(tags: str = Query(..., description="Comma-separated tag ids"), start: str | None = None,
                      end: str | None = None, points: int = Query(1000, ge=1, le=10_000)) -> StreamingResponse:
    """The same buckets as the trend chart, one row per tag and bucket."""
    try:
        ids = [int(t) for t in tags.split(",") if t.strip()]
    except ValueError:
        raise InvalidInput("tags", "comma-separated tag ids", tags) from None
    start_ms, end_ms = _range(start, end)
    names = {t["id"]: t["name"] for t in await run_db(plant.tag_catalog)}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["timestamp", "tag_id", "tag", "avg", "min", "max", "count"])
    for tag_id in ids:
        _, pts = await run_db(service.history, tag_id, start_ms, end_ms, points)
        for p in pts:
            w.writerow([iso_timestamp(p.ts), tag_id, names.get(tag_id, ""), p.avg, p.min, p.max, p.count])
    return StreamingResponse(iter([buf.getvalue()]), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="tagpipe-history.csv"'})


router.include_router(rejects.router)
