"""How one tag value of a data payload is stored: numeric value, text, quality and exact JSON. Pure, no I/O.

Payloads are validated at the boundary by ``contracts.data.parse_data`` (the one data payload type, shared with the
edge); what reaches here is a ``DataPayload``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from tagpipe.history.models import BAD, GOOD


def encode_value(value: Any, quality: str | None) -> tuple[float | None, str | None, int, str]:
    """(numeric value, text, quality, exact JSON) of one tag value; a non-finite number is a bad value."""
    if value is None or quality == "bad":
        return None, None, BAD, "null" if value is None else _json(value)
    if isinstance(value, bool):
        return float(value), None, GOOD, "true" if value else "false"
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float: kept as text
            return None, str(value), GOOD, json.dumps(value)
        if not math.isfinite(number):
            return None, None, BAD, "null"
        return number, None, GOOD, json.dumps(value)
    if isinstance(value, str):
        return None, value, GOOD, json.dumps(value)
    text = _json(value)
    return None, text, GOOD, text


def _json(value: Any) -> str:
    try:
        return json.dumps(value, default=str, allow_nan=False)
    except ValueError:  # a NaN inside a list: JSON has none, the API could not answer with it
        return "null"
