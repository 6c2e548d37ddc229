"""The value types every API shape is built from, so one rule holds on every route.

Input:

- ``Id`` (``PathId``, ``QueryId``): a positive 64-bit integer (1 .. 2^63-1); anything else is 422. Tables hold ids
  up to ``db.MAX_ID`` (PostgreSQL ``integer``), so a valid id beyond that is looked up as 404 without a query
  (``db.fits``).
- ``Name``: 1-120 characters, no control characters (C0, DEL, C1, line and paragraph separators) and no lone
  surrogates: a name goes into HTML, CSV, PDF, topics and log lines.
- ``Text`` (descriptions, comments, units, addresses) and ``Code``: tabs and newlines allowed, never NUL (PostgreSQL
  refuses it) or a lone surrogate (no UTF-8 encoding exists for it).
- ``Flag``: only JSON ``true`` / ``false`` (no ``0``, ``"yes"``).
- every float is finite (``INPUT`` config, ``allow_inf_nan=False``), every input model forbids unknown keys.

Output: ``UtcDatetime`` gives each stored time (naive UTC in the database) its zone, so it serialises as RFC 3339
with ``Z``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StrictBool

MAX_INT64 = 2**63 - 1
INPUT = ConfigDict(extra="forbid", allow_inf_nan=False)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_UNSAFE_TEXT = re.compile(r"[\x00\ud800-\udfff]")


def _name(value: str) -> str:
    bad = _CONTROL.search(value)
    if bad:
        raise ValueError(f"no control characters (found U+{ord(bad.group()):04X} at position {bad.start()})")
    return value


def _text(value: str) -> str:
    bad = _UNSAFE_TEXT.search(value)
    if bad:
        raise ValueError(f"no NUL or lone surrogate characters (found U+{ord(bad.group()):04X} at position "
                         f"{bad.start()})")
    return value


def clean_name(value: str) -> bool:
    """Whether ``value`` is a valid name (for checks outside pydantic models, e.g. MQTT discovery)."""
    return _CONTROL.search(value) is None


Id = Annotated[int, Field(ge=1, le=MAX_INT64, json_schema_extra={"format": "int64"})]
Name = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_name)]
Text = Annotated[str, AfterValidator(_text)]
Code = Annotated[str, Field(min_length=1, max_length=100_000), AfterValidator(_text)]
Flag = StrictBool


def _route_ids() -> dict[str, Any]:
    from fastapi import Path, Query

    return {"PathId": Annotated[int, Path(ge=1, le=MAX_INT64, json_schema_extra={"format": "int64"})],
            "QueryId": Annotated[int | None, Query(ge=1, le=MAX_INT64, json_schema_extra={"format": "int64"})]}


if TYPE_CHECKING:  # for type checkers the plain types; FastAPI reads the Annotated ones at run time
    PathId = int
    QueryId = int | None
else:

    def __getattr__(name: str) -> Any:
        """``PathId`` and ``QueryId`` on first use: they need FastAPI, which the worker, whose models and services
        import this module too, would otherwise load for nothing (~7 MB)."""
        if name in ("PathId", "QueryId"):
            globals().update(_route_ids())
            return globals()[name]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MAX_DEPTH = 32


def _document(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"at most {MAX_DEPTH} levels of nesting")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value <= 2**64 - 1:
        raise ValueError("integers within 64 bits")
    if isinstance(value, str):
        _text(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _text(k)
            _document(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _document(v, depth + 1)
    return value


# A free-form JSON object (hook test input, command parameters): integers within 64 bits, no NUL, bounded depth.
Document = Annotated[dict[str, Any], AfterValidator(_document)]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]

__all__ = ["INPUT", "MAX_INT64", "Code", "Document", "Flag", "Id", "Name", "PathId", "QueryId", "Text", "UtcDatetime",
           "clean_name"]
