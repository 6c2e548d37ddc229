"""Parse data messages (seed 001 payloads) into rows; reject garbage with a reason. Pure, no I/O."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tagpipe.contracts.payloads import parse_iso_ms
from tagpipe.history.models import BAD, GOOD


@dataclass(frozen=True, slots=True)
class DataMessage:
    edge_id: str
    connection: str
    equipment: str
    ts: int
    tags: dict[str, Any]
    quality: dict[str, str] = field(default_factory=dict)


class Rejected(ValueError):
    """A message that is not a data payload; counted per edge, never stored."""


Fallback = int | Callable[[], int]


def parse_timestamp(value: Any, fallback_ms: Fallback) -> int:
    """Epoch ms of an ISO 8601 text or epoch number; ``fallback_ms`` (a number, or a function computing it only
    when needed) when the payload has no timestamp."""
    if value is None:
        return fallback_ms() if callable(fallback_ms) else fallback_ms
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value if value > 1e11 else value * 1000)
    if isinstance(value, str):
        try:
            return parse_iso_ms(value)
        except ValueError:
            raise Rejected(f"timestamp: expected ISO 8601, got {value[:40]!r}") from None
    raise Rejected(f"timestamp: expected ISO 8601 text or epoch number, got {type(value).__name__}")


def parse_data(edge_id: str, data: bytes, fallback_ms: Fallback) -> DataMessage:
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("not JSON") from None
    if not isinstance(body, dict):
        raise Rejected(f"expected a JSON object, got {type(body).__name__}")
    tags = body.get("tags")
    if not isinstance(tags, dict):
        raise Rejected("tags: expected an object of tag name to value")
    quality = body.get("quality") or {}
    if not isinstance(quality, dict):
        raise Rejected("quality: expected an object of tag name to 'good' or 'bad'")
    conn, eq = body.get("connection_id"), body.get("equipment_id")
    return DataMessage(edge_id=edge_id, connection="" if conn is None else str(conn),
                       equipment="" if eq is None else str(eq),
                       ts=parse_timestamp(body.get("timestamp"), fallback_ms), tags=tags, quality=quality)


def encode_value(value: Any, quality: str | None) -> tuple[float | None, str | None, int, str]:
    """(numeric value, text, quality, exact JSON) of one tag value."""
    if value is None or quality == "bad":
        return None, None, BAD, "null" if value is None else json.dumps(value)
    if isinstance(value, bool):
        return float(value), None, GOOD, "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None, repr(value), GOOD, json.dumps(repr(value))
        try:
            return float(value), None, GOOD, json.dumps(value)
        except OverflowError:  # an int beyond any float: kept as text
            return None, str(value), GOOD, json.dumps(value)
    if isinstance(value, str):
        return None, value, GOOD, json.dumps(value)
    text = json.dumps(value, default=str)
    return None, text, GOOD, text
