"""codec.xgt_address: names, both bit numberings, widths per type letter and the default little-endian order."""

from __future__ import annotations

import pytest

from tagpipe.codec.xgt_address import (
    XgtAddress,
    check_fits,
    decode_value,
    encode_value,
    parse_xgt_address,
    size_of,
    tag_order,
)
from tagpipe.contracts.config import ByteOrder, DataType, TagConfig
from tagpipe.errors import InvalidInput

GOOD = [  # text, bit_index, address, byte offset, wire name in that bit style
    ("%MW100", None, XgtAddress("M", "W", 100), 200, "%MW100"),
    ("%DW200", "decimal", XgtAddress("D", "W", 200), 400, "%DW200"),
    ("%DB0", None, XgtAddress("D", "B", 0), 0, "%DB0"),
    ("%DD10", None, XgtAddress("D", "D", 10), 40, "%DD10"),
    ("%ML3", None, XgtAddress("M", "L", 3), 24, "%ML3"),
    ("%mw5", None, XgtAddress("M", "W", 5), 10, "%MW5"),
    ("%MX163", "decimal", XgtAddress("M", "X", 163), 20, "%MX163"),
    ("%MX10.3", "decimal", XgtAddress("M", "X", 163), 20, "%MX163"),
    ("%MX10.3", "hex", XgtAddress("M", "X", 163), 20, "%MX103"),
    ("%MX10.12", "hex", XgtAddress("M", "X", 172), 21, "%MX10C"),
    ("%MX172C", "hex", XgtAddress("M", "X", 2764), 345, "%MX172C"),
    ("%MX172C", None, XgtAddress("M", "X", 2764), 345, "%MX2764"),
    ("%MX163", "hex", XgtAddress("M", "X", 259), 32, "%MX163"),
    ("%PX0", None, XgtAddress("P", "X", 0), 0, "%PX0"),
    ("%KW1", None, XgtAddress("K", "W", 1), 2, "%KW1"),
]

BAD = [
    ("MW100", None), ("%MQ100", None), ("%YW1", None), ("%MW", None), ("%MW10.3", None), ("%MWA", None),
    ("%MB1A", None), ("%MX10.16", None), ("%MX172C", "decimal"), ("%DW12345678901234", None), ("", None),
]


@pytest.mark.parametrize(("text", "bit_index", "addr", "offset", "wire"), GOOD)
def test_good_names(text: str, bit_index: str | None, addr: XgtAddress, offset: int, wire: str) -> None:
    parsed = parse_xgt_address(text, bit_index)  # type: ignore[arg-type]
    assert parsed == addr
    assert parsed.byte_offset == offset
    assert parsed.wire_name(bit_index or "decimal") == wire  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "bit_index"), BAD)
def test_bad_names(text: str, bit_index: str | None) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_xgt_address(text, bit_index)  # type: ignore[arg-type]
    assert e.value.field == "address"


FITS = [
    ("%MX0", DataType.BOOL, True), ("%MX0", DataType.UINT16, False), ("%MB0", DataType.INT16, True),
    ("%MB0", DataType.STRING, True), ("%MW0", DataType.UINT16, True), ("%MW0", DataType.FLOAT32, True),
    ("%MW0", DataType.BOOL, False), ("%MD0", DataType.FLOAT32, True), ("%MD0", DataType.INT16, False),
    ("%MD0", DataType.FLOAT64, False), ("%ML0", DataType.FLOAT64, True), ("%ML0", DataType.INT32, False),
]


@pytest.mark.parametrize(("text", "data_type", "ok"), FITS)
def test_data_type_must_fit_the_type_letter(text: str, data_type: DataType, ok: bool) -> None:
    addr = parse_xgt_address(text)
    if ok:
        check_fits(addr, data_type, text)
    else:
        with pytest.raises(InvalidInput) as e:
            check_fits(addr, data_type, text)
        assert e.value.field == "data_type"


def test_sizes() -> None:
    assert size_of(parse_xgt_address("%MW0"), DataType.FLOAT32) == 4
    assert size_of(parse_xgt_address("%MW0"), DataType.UINT16) == 2
    assert size_of(parse_xgt_address("%MB0"), DataType.UINT16) == 1
    assert size_of(parse_xgt_address("%MB0"), DataType.STRING, 5) == 6
    assert size_of(parse_xgt_address("%MX7"), DataType.BOOL) == 1


def test_default_order_is_the_plcs_little_endian() -> None:
    assert tag_order(TagConfig(name="a", address="%DW0", data_type="FLOAT32")) is ByteOrder.LITTLE_ENDIAN
    assert tag_order(TagConfig(name="s", address="%DW0", data_type="STRING")) is ByteOrder.BIG_ENDIAN
    explicit = TagConfig(name="b", address="%DW0", data_type="FLOAT32", byte_order="BIG_ENDIAN")
    assert tag_order(explicit) is ByteOrder.BIG_ENDIAN
    # The worked example of the research notes: %DW100 holding D2 04 is 1234.
    assert decode_value(b"\xd2\x04", parse_xgt_address("%DW100"), DataType.INT16) == 1234
    assert encode_value(3.25, parse_xgt_address("%DD0"), DataType.FLOAT32) == bytes.fromhex("00005040")
    bit = parse_xgt_address("%MX11")
    assert decode_value(b"\x08", bit, DataType.BOOL) is True and encode_value(True, bit, DataType.BOOL) == b"\x01"
