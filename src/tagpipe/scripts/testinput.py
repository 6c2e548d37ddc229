"""The test panel's input: the latest real values of a script's target, shaped as its hook type's arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.contracts import iso_timestamp
from tagpipe.ports import LatestValues

EXAMPLE_TAGS: dict[str, Any] = {"temperature_raw": 650, "voltage": 220.0, "current": 5.0, "running": 1,
                                "temperature": 85.0}


def shape(hook_type: str, tags: Mapping[str, Any], context: Mapping[str, Any], *, timestamp: str) -> dict[str, Any]:
    """Arguments (but context) of ``hook_type`` for one cycle with ``tags``."""
    tags = dict(tags) or dict(EXAMPLE_TAGS)
    first = next(iter(tags))
    if hook_type == "transform":
        return {"tag_name": first, "raw_value": tags[first]}
    if hook_type == "alarm":
        return {"tag_name": first, "value": tags[first]}
    if hook_type == "pre_send":
        return {"payload": {"timestamp": timestamp, "equipment_id": context.get("equipment_id"),
                            "connection_id": context.get("connection_id"), "tags": tags}}
    return {"tags": tags}


def _pick(catalog: list[dict], scope: str, equipment_id: int | None, connection_id: int | None,
          device_id: str | None) -> list[dict]:
    if scope == "connection":
        chosen = [t for t in catalog if t["connection_id"] == connection_id]
    elif scope == "equipment":
        chosen = [t for t in catalog if t["equipment_id"] == equipment_id]
    elif scope == "device":
        chosen = [t for t in catalog if t["edge_id"] == device_id]
    else:
        chosen = catalog
    # One cycle is one connection's payload: keep the first connection that has tags.
    first = next((t["connection_id"] for t in chosen if t["connection_id"] is not None), None)
    return [t for t in chosen if t["connection_id"] == first] if first is not None else chosen[:20]


def sample_input(session: Session, latest_values: LatestValues, hook_type: str, scope: str = "global", *,
                 equipment_id: int | None = None, connection_id: int | None = None,
                 device_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(test_input, context) from the latest values of the target's tags, or example values when there are none."""
    tags = _pick(plant.tag_catalog(session), scope, equipment_id, connection_id, device_id)
    values = latest_values(session, [t["id"] for t in tags])
    current = {t["name"]: values[t["id"]].value for t in tags if t["id"] in values}
    head = tags[0] if tags else {}
    context = {"device_id": head.get("edge_id") or device_id or "dry-run",
               "equipment_id": head.get("equipment_id", equipment_id),
               "connection_id": head.get("connection_id", connection_id), "company_code": ""}
    return shape(hook_type, current, context, timestamp=iso_timestamp()), context
