"""Compressed sample blocks: every float bit pattern, text and quality comes back exactly; damage is refused."""

from __future__ import annotations

import math
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagpipe.db.blocks import decode, encode


def bits(v: float | None) -> bytes | None:
    return None if v is None else struct.pack("<d", v)


def roundtrip(ts: list[int], values: list, texts: list | None = None, quality: list | None = None) -> bytes:
    texts = texts or [None] * len(ts)
    quality = quality or [0] * len(ts)
    data = encode(ts, values, texts, quality)
    got = decode(data)
    assert got.ts == ts
    assert [bits(v) for v in got.values] == [bits(v) for v in values]
    assert (got.texts, got.quality) == (texts, quality)
    return data


any_float = st.integers(0, 2**64 - 1).map(lambda i: struct.unpack("<d", struct.pack("<Q", i))[0])
rows = st.lists(st.tuples(st.one_of(st.none(), any_float, st.floats(-1e6, 1e6).map(lambda f: round(f, 2))),
                          st.one_of(st.none(), st.text(max_size=5)), st.integers(0, 1)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(rows, st.integers(-2**40, 2**40), st.lists(st.integers(1, 10**9), min_size=60, max_size=60))
def test_any_rows_come_back_bit_for_bit(data: list, start: int, gaps: list[int]) -> None:
    ts = [start + sum(gaps[:i + 1]) for i in range(len(data))]
    roundtrip(ts, [v for v, _, _ in data], [t for _, t, _ in data], [q for _, _, q in data])


@pytest.mark.parametrize("special", [math.nan, -0.0, 0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308,
                                     struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]])  # a NaN payload
def test_special_floats_survive_among_decimals(special: float) -> None:
    roundtrip([1, 2, 3, 4], [20.5, special, 20.6, special])


def test_plant_like_values_cost_about_a_byte_and_random_floats_about_eight() -> None:
    rnd = random.Random(7)
    ts = [1_700_000_000_000 + 1000 * i for i in range(3600)]
    walk, x = [], 20.0
    for _ in ts:
        x += rnd.gauss(0, 0.05)
        walk.append(round(x, 1))
    assert len(roundtrip(ts, walk)) / len(ts) < 1.0
    assert len(roundtrip(ts, [float(i // 600 % 2) for i in range(3600)])) / len(ts) < 0.1  # a state
    assert len(roundtrip(ts, [rnd.random() for _ in ts])) / len(ts) < 8.5  # the worst case: no pattern at all


def test_timestamps_must_increase_and_columns_match() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        encode([2, 2], [1.0, 2.0], [None, None], [0, 0])
    with pytest.raises(ValueError, match="differ in length"):
        encode([1, 2], [1.0], [None, None], [0, 0])


@pytest.mark.parametrize("damage", [b"", b"\x01", b"\x09\x00\x00\x01\x00\x00\x00" + zlib.compress(b"x"),
                                    b"\x01\x00\x00\x05\x00\x00\x00" + zlib.compress(b"short"),
                                    b"\x01\x00\x00\x01\x00\x00\x00not zlib"])
def test_a_damaged_block_is_a_value_error_naming_it(damage: bytes) -> None:
    with pytest.raises(ValueError, match="not a sample block"):
        decode(damage)


def test_a_cut_block_is_refused() -> None:
    data = encode([1, 2, 3], [1.5, 2.5, 3.5], [None] * 3, [0] * 3)
    with pytest.raises(ValueError, match="not a sample block"):
        decode(data[:-3])
