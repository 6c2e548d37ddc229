"""Tags as users list them: where each belongs and its latest value (read through the latest-values port)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt
from sqlalchemy.orm import Session

from tagpipe.contracts import iso_timestamp
from tagpipe.plant.service import tag_catalog
from tagpipe.ports import LatestValues
from tagpipe.web.inputs import INPUT, Text


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


class WriteIn(BaseModel):
    model_config = INPUT

    value: StrictBool | StrictInt | StrictFloat | Text = Field(
        ..., description="In engineering units (scale and offset are undone).", examples=[42.5])


class WriteOut(BaseModel):
    tag_id: int
    ok: bool
    value: Any = Field(None, description="The value read back from the PLC after the write.")
    command_id: str


def tag_values(session: Session, latest_values: LatestValues, tag_id: int | None = None) -> list[TagValue]:
    """Every tag (or the one ``tag_id``) with its latest value, quality, timestamp and age."""
    catalog = tag_catalog(session)
    if tag_id is not None:
        catalog = [t for t in catalog if t["id"] == tag_id]
    latest = latest_values(session, [t["id"] for t in catalog] if tag_id is not None else None)
    now = time.time() * 1000
    out = []
    for t in catalog:
        lv = latest.get(t["id"])
        extra: dict[str, Any] = {}
        if lv is not None:
            extra = {"value": lv.value, "quality": lv.quality}
            if lv.ts is not None:  # a stored time out of range is shown as none, with quality bad
                extra |= {"timestamp": iso_timestamp(lv.ts), "age_s": round((now - lv.ts) / 1000, 1)}
        out.append(TagValue(**{k: t[k] for k in TagValue.model_fields if k in t}, **extra))
    return out
