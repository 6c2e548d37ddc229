"""The data payload's boundary rule (contracts.data.parse_data) as a table of cases: pure, no I/O."""

from __future__ import annotations

import json
import math

import pytest

from tagpipe.contracts import DataPayload, InvalidPayload, PayloadLimits, parse_data, valid_name

NOW = 1_796_000_000_000  # 2026-11-30T00:53:20Z
RECEIVED = NOW - 500
LIMITS = PayloadLimits(max_tags=50, max_value_bytes=1000, max_depth=4)


def parse(raw: bytes | str | dict, edge: str = "edge-1") -> DataPayload:
    data = raw if isinstance(raw, bytes) else (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    return parse_data(edge, data, now_ms=NOW, fallback_ms=RECEIVED, limits=LIMITS)


def body(**fields: object) -> dict:
    return {"timestamp": "2026-11-30T00:00:00Z", "connection_id": 1, "tags": {"t": 1.5}, **fields}


ACCEPTED = [  # (payload, what the parsed payload holds)
    (body(), {"ts": 1_795_996_800_000, "tags": {"t": 1.5}, "quality": {}, "connection_id": "1"}),
    (body(timestamp=None), {"ts": RECEIVED}),
    ({"tags": {}}, {"ts": RECEIVED, "tags": {}, "connection_id": "", "equipment_id": ""}),
    (body(timestamp=1_795_996_800), {"ts": 1_795_996_800_000}),  # epoch seconds
    (body(timestamp=1_795_996_800_123), {"ts": 1_795_996_800_123}),  # epoch ms
    (body(timestamp="1990-01-01T00:00:00Z"), {"ts": 631_152_000_000}),
    (body(timestamp="2026-11-30T09:00:00+09:00"), {"ts": 1_795_996_800_000}),
    (body(connection_id="plc-7", equipment_id=4), {"connection_id": "plc-7", "equipment_id": "4"}),
    (body(tags={"온도": 21.5, "mode": "AUTO", "on": True, "n": None, "big": 10**30}),
     {"tags": {"온도": 21.5, "mode": "AUTO", "on": True, "n": None, "big": 10**30}}),
    (body(tags={"arr": [1, 2, {"a": "b"}]}), {"tags": {"arr": [1, 2, {"a": "b"}]}}),
    (body(tags={"a": 1.0, "b": 2.0}, quality={"a": "bad", "b": "good", "gone": "bad"}), {"quality": {"a": "bad"}}),
    (body(extra={"a pre_send hook": "added this"}), {"tags": {"t": 1.5}}),
    ('{"tags": {"x": NaN, "y": Infinity, "z": -Infinity, "ok": 1}}',
     {"tags": {"x": None, "y": None, "z": None, "ok": 1}, "quality": {"x": "bad", "y": "bad", "z": "bad"}}),
    (body(tags={"s": "é" * 500}), {"tags": {"s": "é" * 500}}),  # 1,000 bytes: just inside
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted(raw: bytes | str | dict, expected: dict) -> None:
    got = parse(raw)
    assert {k: getattr(got, k) for k in expected} == expected
    assert got.edge_id == "edge-1"


REJECTED = [  # (payload, edge, field named, fragment of the reason)
    (b"\xff\xfe{}", "edge-1", "payload", "UTF-8"),
    (b'{"tags": {"a": "\xc3\x28"}}', "edge-1", "payload", "UTF-8"),
    ("not json", "edge-1", "payload", "JSON"),
    ('{"tags": {"a": 1, "a": 2}}', "edge-1", "payload", "repeated key"),
    ('{"tags": {"a": 1}, "tags": {"b": 2}}', "edge-1", "payload", "repeated key"),
    ("[" * 100_000 + "]" * 100_000, "edge-1", "payload", "nested"),
    ('{"tags": {"a": ' + "[" * 10 + "]" * 10 + "}}", "edge-1", "tags.a", "nested at most 4"),
    ("[1, 2]", "edge-1", "payload", "a JSON object"),
    ({"tags": [1, 2]}, "edge-1", "tags", "an object of tag name to value"),
    ({"timestamp": "2026-01-01T00:00:00Z"}, "edge-1", "tags", "an object"),
    ({"tags": {f"t{i}": i for i in range(51)}}, "edge-1", "tags", "at most 50 tags"),
    (body(tags={"s": "x" * 1001}), "edge-1", "tags.s", "at most 1000 bytes"),
    (body(tags={"s": "é" * 501}), "edge-1", "tags.s", "at most 1000 bytes"),
    (body(tags={"l": list(range(400))}), "edge-1", "tags.l", "at most 1000 bytes"),
    ('{"tags": {"l": [1, NaN]}}', "edge-1", "tags.l", "finite numbers"),
    ('{"tags": {"s": "\\ud800"}}', "edge-1", "tags.s", "lone surrogates"),
    ('{"tags": {"s": "a\\u0000b"}}', "edge-1", "tags.s", "without NUL"),
    (body(tags={"a\r\nb": 1}), "edge-1", "tags", "tag name"),
    (body(tags={"a b": 1}), "edge-1", "tags", "tag name"),
    (body(tags={"a/b": 1}), "edge-1", "tags", "tag name"),
    (body(tags={"": 1}), "edge-1", "tags", "tag name"),
    (body(tags={"x" * 121: 1}), "edge-1", "tags", "tag name"),
    (body(tags={"\x00": 1}), "edge-1", "tags", "tag name"),
    (body(), "bad edge\n", "edge", "tag name"),
    ('{"timestamp": NaN, "tags": {}}', "edge-1", "timestamp", "finite"),
    ('{"timestamp": Infinity, "tags": {}}', "edge-1", "timestamp", "finite"),
    (body(timestamp=-1e12), "edge-1", "timestamp", "1990-01-01"),
    (body(timestamp=9e15), "edge-1", "timestamp", "1990-01-01"),
    (body(timestamp="2100-01-01T00:00:00Z"), "edge-1", "timestamp", "24 h after the receiver's clock"),
    (body(timestamp="1989-12-31T23:59:59Z"), "edge-1", "timestamp", "a time from 1990"),
    (body(timestamp=NOW + 86_400_001), "edge-1", "timestamp", "after the receiver's clock"),
    (body(timestamp="yesterday"), "edge-1", "timestamp", "ISO 8601"),
    (body(timestamp="99999-01-01T00:00:00Z"), "edge-1", "timestamp", "ISO 8601"),
    (body(timestamp=True), "edge-1", "timestamp", "ISO 8601 text or an epoch number"),
    (body(timestamp={"s": 1}), "edge-1", "timestamp", "ISO 8601 text or an epoch number"),
    (body(connection_id=[1]), "edge-1", "connection_id", "null, an integer or a string"),
    (body(connection_id=1.5), "edge-1", "connection_id", "null, an integer or a string"),
    (body(connection_id="a/b"), "edge-1", "connection_id", "an id of"),
    (body(equipment_id={"id": 4}), "edge-1", "equipment_id", "null, an integer or a string"),
    (body(quality=["bad"]), "edge-1", "quality", "an object"),
    (body(quality={"t": "meh"}), "edge-1", "quality.t", "'good' or 'bad'"),
    ("1" * 5000, "edge-1", "payload", "JSON"),  # an integer beyond Python's 4,300 digits
]


@pytest.mark.parametrize(("raw", "edge", "field", "reason"), REJECTED)
def test_rejected_naming_the_field(raw: bytes | str | dict, edge: str, field: str, reason: str) -> None:
    with pytest.raises(InvalidPayload) as e:
        parse(raw, edge)
    assert e.value.field == field
    assert reason in str(e.value) and str(e.value).startswith(f"{field}: expected ")


def test_a_rejected_value_is_shown_short() -> None:
    with pytest.raises(InvalidPayload) as e:
        parse(body(timestamp="x" * 10_000))
    assert len(str(e.value)) < 300


@pytest.mark.parametrize(("name", "valid"), [
    ("temperature", True), ("온도_1", True), ("温度-2", True), ("a:b@c", True), ("x" * 120, True),
    ("", False), ("x" * 121, False), ("a b", False), ("a\tb", False), ("a\r", False), ("a\n", False),
    ("a\x00", False), ("a\x7f", False), ("a\x85", False), ("a\u2028", False), ("a.b", False), ("a/b", False),
    ("#", False), ("+", False), ("*", False), (">", False), (1, False), (None, False),
])
def test_the_name_rule_is_the_apis(name: object, valid: bool) -> None:
    from pydantic import ValidationError

    from tagpipe.plant.schemas import TagSpec

    assert valid_name(name) is valid
    if isinstance(name, str):
        try:
            TagSpec(name=name, address="40001")
            api = True
        except ValidationError:
            api = False
        assert api is valid


def test_the_edge_sends_the_seed_shape_and_non_finite_values_as_bad() -> None:
    payload = DataPayload(ts=1_776_412_800_123, tags={"t": 1.5, "n": math.nan, "i": -math.inf, "s": "ok"},
                          quality={"q": "bad"}, connection_id="3", equipment_id="4")
    wire = json.loads(payload.encode())
    assert wire == {"timestamp": "2026-04-17T08:00:00.123Z", "equipment_id": 4, "connection_id": 3,
                    "tags": {"t": 1.5, "n": None, "i": None, "s": "ok"},
                    "quality": {"q": "bad", "n": "bad", "i": "bad"}}
    back = parse_data("edge-1", payload.encode(), now_ms=NOW, fallback_ms=0)
    assert (back.ts, back.connection_id, back.equipment_id, back.quality) == (
        payload.ts, "3", "4", {"n": "bad", "i": "bad"})
