"""codec.s7_address: addresses, widths that fit each data type, and S7 STRING / one-byte values, as case tables."""

from __future__ import annotations

import pytest

from tagpipe.codec.s7_address import (
    Area,
    S7Address,
    Width,
    check_fits,
    decode_value,
    encode_value,
    parse_s7_address,
    size_of,
)
from tagpipe.contracts.config import DataType
from tagpipe.errors import InvalidInput

DB, M, I, Q = Area.DB, Area.MK, Area.PE, Area.PA  # noqa: E741 - I is the S7 input area, as in "I0.0"
X, B, W, D = Width.BIT, Width.BYTE, Width.WORD, Width.DWORD

GOOD = [
    ("DB1.DBX0.0", S7Address(DB, 1, X, 0, 0)),
    ("DB1.DBX3.7", S7Address(DB, 1, X, 3, 7)),
    ("DB1.DBB1", S7Address(DB, 1, B, 1)),
    ("DB1.DBW2", S7Address(DB, 1, W, 2)),
    ("DB1.DBD4", S7Address(DB, 1, D, 4)),
    ("db12.dbw100", S7Address(DB, 12, W, 100)),
    ("DB65535.DBB65535", S7Address(DB, 65535, B, 65535)),
    ("MW10", S7Address(M, 0, W, 10)),
    ("MB3", S7Address(M, 0, B, 3)),
    ("MD4", S7Address(M, 0, D, 4)),
    ("MX0.1", S7Address(M, 0, X, 0, 1)),
    ("M0.1", S7Address(M, 0, X, 0, 1)),
    ("IX0.1", S7Address(I, 0, X, 0, 1)),
    ("I0.1", S7Address(I, 0, X, 0, 1)),
    ("E0.1", S7Address(I, 0, X, 0, 1)),
    ("IB0", S7Address(I, 0, B, 0)),
    ("IW2", S7Address(I, 0, W, 2)),
    ("QX0.0", S7Address(Q, 0, X, 0, 0)),
    ("QB2", S7Address(Q, 0, B, 2)),
    ("QW4", S7Address(Q, 0, W, 4)),
    ("AW4", S7Address(Q, 0, W, 4)),
    (" QD8 ", S7Address(Q, 0, D, 8)),
]

DB_FORM = "address: expected DB<n>.DB<X|B|W|D><offset>[.bit], got "
BAD = [
    ("DB1.DBQ4", DB_FORM + "'DB1.DBQ4'"),
    ("DB1.DBX0", DB_FORM + "'DB1.DBX0'"),
    ("DB1.DBW2.1", DB_FORM + "'DB1.DBW2.1'"),
    ("DB0.DBW2", DB_FORM + "'DB0.DBW2'"),
    ("DB1.W2", DB_FORM + "'DB1.W2'"),
    ("DB1", DB_FORM + "'DB1'"),
    ("DB1.DBX0.8", "address: expected a bit number 0-7"),
    ("DB1.DBW70000", "address: expected a byte offset of at most 65535"),
    ("M10", "address: expected DB<n>.DB<X|B|W|D><offset>[.bit] or <M|I|Q>"),
    ("MW", "address: expected DB<n>"),
    ("MW10.1", "address: expected DB<n>"),
    ("ZW10", "address: expected DB<n>"),
    ("M0.9", "address: expected a bit number 0-7"),
    ("", "address: expected DB<n>"),
    ("%MW10", "address: expected DB<n>"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_addresses(text: str, expected: S7Address) -> None:
    assert parse_s7_address(text) == expected


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_addresses(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_s7_address(text)
    assert e.value.field == "address"
    assert str(e.value).startswith(message)


FITS = [
    ("DB1.DBX0.0", DataType.BOOL, True), ("DB1.DBX0.0", DataType.INT16, False),
    ("DB1.DBB0", DataType.UINT16, True), ("DB1.DBB0", DataType.STRING, True),
    ("DB1.DBB0", DataType.FLOAT64, True), ("DB1.DBB0", DataType.FLOAT32, False),
    ("DB1.DBW0", DataType.INT16, True), ("DB1.DBW0", DataType.FLOAT64, False),
    ("DB1.DBW0", DataType.FLOAT32, False), ("DB1.DBD0", DataType.FLOAT32, True),
    ("DB1.DBD0", DataType.INT32, True), ("DB1.DBD0", DataType.INT64, False), ("MD0", DataType.UINT32, True),
]


@pytest.mark.parametrize(("text", "data_type", "ok"), FITS)
def test_data_type_must_fit_the_width(text: str, data_type: DataType, ok: bool) -> None:
    addr = parse_s7_address(text)
    if ok:
        check_fits(addr, data_type, text)
    else:
        with pytest.raises(InvalidInput) as e:
            check_fits(addr, data_type, text)
        assert e.value.field == "data_type" and text in str(e.value)


def test_s7_string_has_a_two_byte_header() -> None:
    addr = parse_s7_address("DB1.DBB10")
    data = encode_value("abc", addr, DataType.STRING, length=6)
    assert data == b"\x06\x03abc\x00\x00\x00"
    assert size_of(addr, DataType.STRING, 6) == 8
    assert size_of(addr, DataType.STRING) == 256
    assert decode_value(data, addr, DataType.STRING) == "abc"
    with pytest.raises(InvalidInput, match="at most 6 characters"):
        encode_value("toolong", addr, DataType.STRING, length=6)


@pytest.mark.parametrize(("data_type", "value", "byte"), [
    (DataType.INT16, -1, 0xFF), (DataType.INT16, 127, 0x7F), (DataType.UINT16, 200, 200), (DataType.BOOL, True, 1)])
def test_one_byte_values(data_type: DataType, value: object, byte: int) -> None:
    addr = parse_s7_address("MB0")
    assert encode_value(value, addr, data_type) == bytes([byte])
    assert decode_value(bytes([byte]), addr, data_type) == value


@pytest.mark.parametrize(("data_type", "value"), [(DataType.INT16, 128), (DataType.UINT16, 256),
                                                  (DataType.UINT16, -1), (DataType.INT16, 1.5)])
def test_one_byte_values_out_of_range(data_type: DataType, value: object) -> None:
    with pytest.raises(InvalidInput) as e:
        encode_value(value, parse_s7_address("MB0"), data_type)
    assert e.value.field == "value"
