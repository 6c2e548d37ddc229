"""codec.types: every data type x byte order round trips, known vectors, and errors for bad values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagpipe.codec import (
    byte_length,
    decode_bytes,
    decode_registers,
    encode_bytes,
    encode_registers,
    register_count,
    scale_value,
    unscale_value,
)
from tagpipe.contracts.config import ByteOrder, DataType
from tagpipe.errors import InvalidInput
from tests.codec.strategies import NUMERIC, ORDERS, values

BE, LE, BES, LES = (ByteOrder.BIG_ENDIAN, ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN_BYTE_SWAP,
                    ByteOrder.LITTLE_ENDIAN_BYTE_SWAP)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[DataType, ByteOrder, object]:
    data_type = draw(st.sampled_from(list(DataType)))
    return data_type, draw(st.sampled_from(ORDERS)), draw(values(data_type))


@settings(max_examples=400)
@given(typed_values())
def test_every_type_and_byte_order_round_trips(case: tuple[DataType, ByteOrder, object]) -> None:
    data_type, order, value = case
    data = encode_bytes(value, data_type, order)
    assert len(data) == byte_length(data_type)
    assert decode_bytes(data, data_type, order) == value
    regs = encode_registers(value, data_type, order)
    assert len(regs) == register_count(data_type)
    assert decode_registers(regs, data_type, order) == value


# FLOAT32 3.25 is 0x40500000: bytes A B C D = 40 50 00 00.
FLOAT_VECTORS = [
    (BE, "40500000"), (LE, "00005040"), (BES, "50400000"), (LES, "00004050"),
]


@pytest.mark.parametrize(("order", "hex_bytes"), FLOAT_VECTORS)
def test_float32_known_vectors(order: ByteOrder, hex_bytes: str) -> None:
    assert encode_bytes(3.25, DataType.FLOAT32, order).hex() == hex_bytes
    assert decode_bytes(bytes.fromhex(hex_bytes), DataType.FLOAT32, order) == 3.25


KNOWN = [
    (DataType.INT16, BE, -1234, "fb2e"),
    (DataType.INT16, LE, -1234, "2efb"),
    (DataType.UINT32, BE, 0x01020304, "01020304"),
    (DataType.UINT32, LE, 0x01020304, "04030201"),
    (DataType.UINT32, LES, 0x01020304, "03040102"),
    (DataType.UINT32, BES, 0x01020304, "02010403"),
    (DataType.INT64, BE, -2, "fffffffffffffffe"),
    (DataType.UINT64, LE, 0x0102030405060708, "0807060504030201"),
    (DataType.FLOAT64, BE, 1.5, "3ff8000000000000"),
    (DataType.BOOL, BE, True, "0001"),
    (DataType.STRING, BE, "AB", "41420000000000000000000000000000"),
]


@pytest.mark.parametrize(("data_type", "order", "value", "hex_bytes"), KNOWN)
def test_known_vectors(data_type: DataType, order: ByteOrder, value: object, hex_bytes: str) -> None:
    assert encode_bytes(value, data_type, order).hex() == hex_bytes
    assert decode_bytes(bytes.fromhex(hex_bytes), data_type, order) == value


def test_registers_are_big_endian_words() -> None:
    assert encode_registers(3.25, DataType.FLOAT32) == [0x4050, 0x0000]
    assert encode_registers(3.25, DataType.FLOAT32, LES) == [0x0000, 0x4050]
    assert decode_registers([0x0000, 0x4050], DataType.FLOAT32, LES) == 3.25


def test_string_length_and_padding() -> None:
    assert byte_length(DataType.STRING, 5) == 6
    assert encode_bytes("abc", DataType.STRING, BE, 5) == b"abc\x00\x00\x00"
    assert decode_bytes(b"abc\x00zz", DataType.STRING) == "abc"
    with pytest.raises(InvalidInput, match="at most 6 bytes"):
        encode_bytes("too long!", DataType.STRING, BE, 5)


BAD_VALUES = [
    (DataType.INT16, 40000), (DataType.UINT16, -1), (DataType.INT32, 2**31), (DataType.UINT64, 2**64),
    (DataType.INT16, 1.5), (DataType.INT16, "12"), (DataType.FLOAT32, None), (DataType.BOOL, 2),
    (DataType.BOOL, "maybe"), (DataType.STRING, 12), (DataType.FLOAT32, True),
]


@pytest.mark.parametrize(("data_type", "value"), BAD_VALUES)
def test_bad_values_name_the_value_field(data_type: DataType, value: object) -> None:
    with pytest.raises(InvalidInput) as e:
        encode_bytes(value, data_type)
    assert e.value.field == "value"


@pytest.mark.parametrize("data_type", NUMERIC)
def test_whole_floats_are_accepted_for_integers(data_type: DataType) -> None:
    assert decode_bytes(encode_bytes(7.0, data_type), data_type) == 7


def test_bool_spellings() -> None:
    for text, expected in [("true", True), ("OFF", False), ("1", True), (0, False)]:
        assert decode_bytes(encode_bytes(text, DataType.BOOL), DataType.BOOL) is expected


def test_scale_and_unscale() -> None:
    assert scale_value(100, 0.1, 5) == 15.0
    assert scale_value(True, 10, 1) is True
    assert scale_value("x", 10, 1) == "x"
    assert unscale_value(15.0, 0.1, 5, DataType.INT16) == 100
    assert math.isclose(unscale_value(15.0, 0.1, 5, DataType.FLOAT32), 100.0)
    with pytest.raises(InvalidInput) as e:
        unscale_value(1, 0, 0, DataType.INT16)
    assert e.value.field == "scale"


@pytest.mark.parametrize("data_type", [DataType.UINT16, DataType.INT64, DataType.FLOAT64])
def test_a_value_whose_raw_value_overflows_is_invalid_input(data_type: DataType) -> None:
    """-1.8e308 through a scale of 0.1 is infinite: refused naming value, not an OverflowError (a 500 on writes)."""
    with pytest.raises(InvalidInput) as e:
        unscale_value(-1.7976931348623155e308, 0.1, 0, data_type)
    assert e.value.field == "value"
