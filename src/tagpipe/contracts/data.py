"""The data payload (seed 001) on ``{prefix}/devices/{edge_id}/data``: one type for the edge that builds it and
ingest that validates it at the boundary.

On the wire::

    {"timestamp": "2026-04-17T08:00:00.123Z", "equipment_id": 4, "connection_id": 1,
     "tags": {"temperature": 25.4, "mode": "AUTO"}, "quality": {"pressure": "bad"}}

``parse_data`` is the boundary rule for everything that arrives on a data subject (the edge agent over NATS, any
third-party collector over the MQTT listener). What it accepts, and names the field of when it does not:

- the payload is UTF-8 JSON holding an object, with no key repeated in any object and nested at most as deep as
  Python's JSON parser goes; top-level fields other than the five above are ignored (a ``pre_send`` hook may add some);
- ``timestamp``: ISO 8601 text (no offset means UTC) or epoch seconds / milliseconds (numbers above 1e11 are ms),
  finite and inside ``[limits.not_before_ms, receiver's clock + limits.max_ahead_ms]``; absent means "when the bus
  stored it";
- ``equipment_id`` and ``connection_id``: absent, null, an integer, or a string following the tag name rule;
- ``tags``: an object of at most ``limits.max_tags`` entries whose names follow the tag name rule
  (``contracts.names``) and whose values are null, a boolean, a number, a string of at most ``limits.max_value_bytes``
  UTF-8 bytes (valid Unicode, no NUL), or a list / object whose JSON is that short, nests at most
  ``limits.max_depth`` deep and holds only finite numbers (stored as its JSON text). A NaN or infinite number is
  kept as a **bad** value (null with quality bad), never as text;
- ``quality``: absent, or an object of tag name to ``"good"`` or ``"bad"``; names not in ``tags`` are ignored.

Pure: standard library only, no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tagpipe.contracts.names import NAME_RULE, valid_name
from tagpipe.contracts.payloads import iso_timestamp, parse_iso_ms

Value = None | bool | int | float | str | list[Any] | dict[str, Any]
_BIG = 2**63
_EPOCH_MS_ABOVE = 1e11  # smaller epoch numbers are seconds (1e11 s is the year 5138; 1e11 ms is 1973)


class InvalidPayload(ValueError):
    """A data payload that is not stored; the message names the field and what was expected."""

    def __init__(self, field: str, expected: str, got: object = ...) -> None:
        self.field, self.expected = field, expected
        shown = "" if got is ... else f", got {_short(got)}"
        super().__init__(f"{field}: expected {expected}{shown}")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadLimits:
    """The window and bounds ``parse_data`` enforces (central settings ``ingest_*`` fill them)."""

    not_before_ms: int = 631_152_000_000  # 1990-01-01T00:00:00Z
    max_ahead_ms: int = 86_400_000  # one day after the receiver's clock
    max_tags: int = 5_000
    max_value_bytes: int = 65_536
    max_depth: int = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class DataPayload:
    """One collection cycle of one connection: tag values at one time.

    ``edge_id`` comes from the subject, not the JSON body. ``quality`` holds only the names that are not good.
    """

    ts: int
    tags: dict[str, Value]
    quality: dict[str, str] = field(default_factory=dict)
    connection_id: str = ""
    equipment_id: str = ""
    edge_id: str = ""

    def to_wire(self) -> dict[str, Any]:
        """The seed's JSON object; a NaN or infinite value goes out as null with quality bad."""
        tags, quality = self.tags, self.quality
        if any(type(v) is float and not math.isfinite(v) for v in tags.values()):
            quality = dict(quality)
            tags = {k: v if type(v) is not float or math.isfinite(v) else None for k, v in tags.items()}
            quality.update({k: "bad" for k, v in self.tags.items() if tags[k] is None and v is not None})
        body: dict[str, Any] = {"timestamp": iso_timestamp(self.ts), "equipment_id": _wire_id(self.equipment_id),
                                "connection_id": _wire_id(self.connection_id), "tags": tags}
        if quality:
            body["quality"] = quality
        return body

    def encode(self) -> bytes:
        return json.dumps(self.to_wire(), separators=(",", ":"), ensure_ascii=False).encode()


def _wire_id(text: str) -> int | str | None:
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() else text


# -- the boundary ---------------------------------------------------------------------------------

class _Duplicate(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)  # built once: json.loads(..., hook) builds one per call
_VALID_NAMES: set[str] = set()  # names seen valid already: one set lookup per tag instead of a regex match
_VALID_NAMES_MAX = 200_000


def decode_json(data: bytes) -> Any:
    """UTF-8 JSON without repeated keys, or InvalidPayload naming what is wrong."""
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        raise InvalidPayload("payload", "UTF-8 text", f"byte 0x{data[e.start]:02x} at offset {e.start}") from None
    try:
        return _DECODER.decode(text)
    except _Duplicate as e:
        raise InvalidPayload("payload", "JSON objects without a repeated key", f"{e.args[0]!s} twice") from None
    except RecursionError:
        raise InvalidPayload("payload", "JSON nested less deeply", "nesting deeper than the parser allows") from None
    except ValueError as e:
        raise InvalidPayload("payload", "JSON", str(e)[:120]) from None


def check_name(name: object, field: str) -> str:
    if type(name) is str and name in _VALID_NAMES:
        return name
    if not valid_name(name):
        raise InvalidPayload(field, f"a tag name of {NAME_RULE}", name)
    if len(_VALID_NAMES) < _VALID_NAMES_MAX:
        _VALID_NAMES.add(name)  # type: ignore[arg-type]
    return name  # type: ignore[return-value]


def _check_id(value: object, field: str) -> str:
    if value is None:
        return ""
    if type(value) is int:
        text = str(value)
    elif type(value) is str:
        text = value
    else:
        raise InvalidPayload(field, "null, an integer or a string", value)
    if text and text not in _VALID_NAMES:
        if not valid_name(text):
            raise InvalidPayload(field, f"an id of {NAME_RULE}", value)
        if len(_VALID_NAMES) < _VALID_NAMES_MAX:
            _VALID_NAMES.add(text)
    return text


def parse_timestamp(value: object, fallback_ms: int | Callable[[], int], now_ms: int, limits: PayloadLimits) -> int:
    """Epoch ms of an ISO 8601 text or epoch number inside the window; ``fallback_ms`` when there is none."""
    if value is None:
        return fallback_ms() if callable(fallback_ms) else fallback_ms
    if type(value) is str:
        try:
            ms = parse_iso_ms(value)
        except (ValueError, OverflowError):
            raise InvalidPayload("timestamp", "ISO 8601 time", value) from None
    elif type(value) is int or type(value) is float:  # not bool
        if not math.isfinite(value):
            raise InvalidPayload("timestamp", "a finite epoch number", value)
        ms = int(value if value > _EPOCH_MS_ABOVE else value * 1000)
    else:
        raise InvalidPayload("timestamp", "ISO 8601 text or an epoch number", value)
    if not limits.not_before_ms <= ms <= now_ms + limits.max_ahead_ms:
        raise InvalidPayload("timestamp", f"a time from {iso_timestamp(limits.not_before_ms)} to "
                                          f"{limits.max_ahead_ms / 3_600_000:g} h after the receiver's clock "
                                          f"({iso_timestamp(now_ms)})", value)
    return ms


def _depth(value: object, limit: int) -> int:
    """Nesting depth of a list / dict value, giving up (returning more than ``limit``) once past it."""
    if limit < 0:
        return 1
    if type(value) is list:
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    if type(value) is dict:
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    return 0


def _check_value(name: str, value: object, limits: PayloadLimits) -> bool:
    """Whether ``value`` (not a finite float, bool, small int or null) is storable; False means a bad value (a
    non-finite number); raises when the value breaks a bound."""
    kind = type(value)
    if kind is float:
        return False  # NaN or infinite (finite floats never get here)
    if kind is int:  # beyond 64 bits: stored as its text (a float would round it); JSON caps it at 4,300 digits
        return True
    field = f"tags.{name}"
    if kind is str:
        text: str = value  # type: ignore[assignment]
        if "\x00" in text:  # PostgreSQL cannot store it in text
            raise InvalidPayload(field, "text without NUL characters")
        if text.isascii() and len(text) <= limits.max_value_bytes:
            return True
        encoded = _utf8(text, field)
    elif kind is list or kind is dict:
        if _depth(value, limits.max_depth) > limits.max_depth:
            raise InvalidPayload(field, f"a list or object nested at most {limits.max_depth} deep")
        try:
            encoded = _utf8(json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":")), field)
        except ValueError:
            raise InvalidPayload(field, "a list or object holding only finite numbers") from None
    else:  # JSON has no other types
        raise InvalidPayload(field, "null, a boolean, a number, a string, a list or an object", value)
    if len(encoded) > limits.max_value_bytes:
        raise InvalidPayload(field, f"a value of at most {limits.max_value_bytes} bytes", f"{len(encoded)} bytes")
    return True


def _utf8(text: str, field: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise InvalidPayload(field, "text that is valid Unicode (no lone surrogates)") from None


DEFAULT_LIMITS = PayloadLimits()


def parse_data(edge_id: str, data: bytes, *, now_ms: int, fallback_ms: int | Callable[[], int],
               limits: PayloadLimits = DEFAULT_LIMITS) -> DataPayload:
    """Validate one data message from ``edge_id`` (the subject's edge token); see the module docstring."""
    check_name(edge_id, "edge")
    body = decode_json(data)
    if type(body) is not dict:
        raise InvalidPayload("payload", "a JSON object", type(body).__name__)
    tags = body.get("tags")
    if type(tags) is not dict:
        raise InvalidPayload("tags", "an object of tag name to value", tags if tags is None else type(tags).__name__)
    if len(tags) > limits.max_tags:
        raise InvalidPayload("tags", f"at most {limits.max_tags} tags per message", f"{len(tags)} tags")
    if not _VALID_NAMES.issuperset(tags):
        for name in tags:
            check_name(name, "tags")
    quality = body.get("quality")
    if quality is None:
        quality = {}
    elif type(quality) is not dict:
        raise InvalidPayload("quality", "an object of tag name to 'good' or 'bad'", type(quality).__name__)
    elif quality:
        for name, q in quality.items():
            if q != "good" and q != "bad":
                raise InvalidPayload(f"quality.{name}", "'good' or 'bad'", q)
        quality = {name: q for name, q in quality.items() if q == "bad" and name in tags}
    try:  # one C loop for the common case: finite numbers only (a NaN, an inf or anything else spoils the sum)
        total = sum(tags.values(), 0.0)
    except (TypeError, OverflowError):
        total = math.nan
    bad: list[str] | None = None
    if total - total != 0.0:
        for name, value in tags.items():
            kind = type(value)
            if kind is float:
                if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
                    continue
            elif value is None or kind is bool or (kind is int and -_BIG < value < _BIG):
                continue
            if not _check_value(name, value, limits):
                bad = bad or []
                bad.append(name)
    if bad:
        quality = dict(quality)
        for name in bad:
            tags[name] = None
            quality[name] = "bad"
    return DataPayload(ts=parse_timestamp(body.get("timestamp"), fallback_ms, now_ms, limits), tags=tags,
                       quality=quality, connection_id=_check_id(body.get("connection_id"), "connection_id"),
                       equipment_id=_check_id(body.get("equipment_id"), "equipment_id"), edge_id=edge_id)
