"""The cycle payload encoding between the pool and a worker: names remembered, every message complete."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from tagpipe.sandbox.protocol import TagMap, decode, encode


def _over_the_wire(sender: TagMap, receiver: TagMap, payload: dict[str, Any] | None) -> Any:
    return receiver.unpack(decode(encode(sender.pack(payload))[4:]))


def test_payloads_round_trip_as_names_change() -> None:
    sender, receiver = TagMap(), TagMap()
    for payload in [
        {"timestamp": "t", "tags": {"a": 1.0, "b": None}, "site": "x"},
        {"timestamp": "t", "tags": {"a": 2.0, "b": True}, "site": "x"},
        {"timestamp": "t", "tags": {"b": 2.0, "c": [1, {"d": "e"}]}},
        {"timestamp": "t", "tags": {}},
        {"timestamp": "t", "tags": None},
        {"timestamp": "t"},
        {"tags": {"a": 1.0}},
    ]:
        got = _over_the_wire(sender, receiver, payload)
        assert got == payload and list(got) == list(payload)
    assert _over_the_wire(sender, receiver, None) is None
    fresh = TagMap()  # a restarted worker remembers nothing and still reads every message
    assert _over_the_wire(sender, fresh, {"tags": {"a": 3.0}}) == {"tags": {"a": 3.0}}


def test_interleaved_devices_round_trip() -> None:
    sender, receiver = TagMap(), TagMap()
    press = {"timestamp": "t", "tags": {"temperature": 1.0, "pressure": 2.0}}
    mixer = {"timestamp": "t", "tags": {"speed": 3.0, "running": True}}
    for i in range(4):
        for payload in (press, mixer, {"tags": {f"t{n}": float(n + i) for n in range(3)}}):
            assert _over_the_wire(sender, receiver, payload) == payload


MALFORMED = [
    "text",
    [{"tags": None}],
    [[], None, None],
    [{"tags": None}, b"\x92\xa1a\xa1b", [1.0]],  # two names, one value
    [{"tags": None}, msgpack.packb("a"), [1.0]],  # names are not a list
    [{"tags": None}, msgpack.packb([[1]]), [1.0]],  # an unhashable name
    [{"tags": None}, "a", [1.0]],
    [{}, msgpack.packb(["a"]), [1.0]],  # no tags key to fill
]


@pytest.mark.parametrize("packed", MALFORMED)
def test_malformed_payloads_are_refused(packed: Any) -> None:
    with pytest.raises(ValueError, match="malformed"):
        TagMap().unpack(packed)
