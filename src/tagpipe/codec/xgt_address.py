"""LS Electric XGT variable names (``%MW100``, ``%DB0``, ``%MX163``, ``%MX10.3``, ``%DD10``) and their bytes.

The index counts in units of the type letter: ``%DW10`` starts at byte 20, ``%DD10`` at byte 40.
Bits are ``%MX<n>`` where ``n`` is word x 16 + bit in decimal, or the word in decimal followed by one hex
digit for the bit on CPUs that number bits in hex (the driver's ``bit_index`` setting); ``%MX10.3`` (word 10,
bit 3) means the same on both. Widths: X is BOOL; B is one byte (BOOL, or INT16 / UINT16 as SINT / USINT)
or the first byte of a longer value; W is INT16 / UINT16, or the first word of a 32/64-bit value or STRING
(LS programs often keep a REAL in two D words); D is INT32 / UINT32 / FLOAT32; L is INT64 / UINT64 / FLOAT64.
XGT data is little-endian: a tag that does not set ``byte_order`` is read as LITTLE_ENDIAN (the PLC's own
layout; STRING bytes in memory order); a tag that sets it is read exactly as it says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tagpipe.codec.s7_address import decode_byte, encode_byte
from tagpipe.codec.types import byte_length, decode_bytes, encode_bytes
from tagpipe.contracts.config import ByteOrder, DataType, TagConfig
from tagpipe.errors import InvalidInput

BitIndex = Literal["decimal", "hex"]
EXPECTED = "%<device><X|B|W|D|L><index> with a device letter of PMKFTCLNDRUZSIQW (e.g. %MW100, %DB0, %MX163, %MX10.3)"
DEVICES = frozenset("PMKFTCLNDRUZSIQW")
TYPE_CODES = {"X": 0x00, "B": 0x01, "W": 0x02, "D": 0x03, "L": 0x04}
UNIT = {"X": 1, "B": 1, "W": 2, "D": 4, "L": 8}
MAX_NAME = 16
MAX_BYTES = 1400

_NAME = re.compile(r"^%([A-Z])([XBWDL])(\d+)([A-F])?(?:\.([0-9A-F]|1[0-5]))?$", re.IGNORECASE)
_ONE_BYTE = {DataType.BOOL, DataType.INT16, DataType.UINT16}
_NATIVE = {
    "B": _ONE_BYTE,
    "W": {DataType.INT16, DataType.UINT16},
    "D": {DataType.INT32, DataType.UINT32, DataType.FLOAT32},
    "L": {DataType.INT64, DataType.UINT64, DataType.FLOAT64},
}
_STARTS = {DataType.INT32, DataType.UINT32, DataType.FLOAT32, DataType.INT64, DataType.UINT64, DataType.FLOAT64,
           DataType.STRING}
_FITS = {"X": {DataType.BOOL}, "B": _ONE_BYTE | _STARTS, "W": _NATIVE["W"] | _STARTS,
         "D": _NATIVE["D"], "L": _NATIVE["L"]}


@dataclass(frozen=True, slots=True)
class XgtAddress:
    device: str
    kind: str  # the type letter X, B, W, D or L
    index: int  # in units of the type; for X the bit number word x 16 + bit

    @property
    def byte_offset(self) -> int:
        return self.index // 8 if self.kind == "X" else self.index * UNIT[self.kind]

    @property
    def bit(self) -> int:
        return self.index % 8

    def wire_name(self, bit_index: BitIndex = "decimal") -> str:
        """The variable name the PLC expects, e.g. ``%MX163`` (decimal) or ``%MX10A`` (hex)."""
        if self.kind == "X" and bit_index == "hex":
            return f"%{self.device}X{self.index // 16}{self.index % 16:X}"
        return f"%{self.device}{self.kind}{self.index}"


def parse_xgt_address(text: str, bit_index: BitIndex | None = None) -> XgtAddress:
    """Parse a name; ``bit_index=None`` accepts both bit styles (decimal unless the last digit is A-F)."""
    s = str(text).strip().upper()
    m = _NAME.match(s)
    if not m or m[1] not in DEVICES:
        raise InvalidInput("address", EXPECTED, text)
    device, kind, digits, hex_digit, dotted = m[1], m[2], m[3], m[4], m[5]
    if kind != "X" and (hex_digit or dotted is not None):
        raise InvalidInput("address", f"a plain decimal index for a {kind} name (bits only on X)", text)
    if kind != "X":
        index = int(digits)
    elif dotted is not None:
        if hex_digit:
            raise InvalidInput("address", "%<device>X<word>.<bit> with a decimal word", text)
        index = int(digits) * 16 + int(dotted, 16 if not dotted.isdigit() else 10)
    elif hex_digit or bit_index == "hex":
        if bit_index == "decimal":
            raise InvalidInput("address", "a decimal bit number (bit_index is decimal), or word.bit", text)
        word, bit = (digits, hex_digit) if hex_digit else (digits[:-1] or "0", digits[-1])
        index = int(word) * 16 + int(bit, 16)
    else:
        index = int(digits)
    addr = XgtAddress(device, kind, index)
    if len(addr.wire_name(bit_index or "decimal")) > MAX_NAME or addr.byte_offset > 0x7FFFFF:
        raise InvalidInput("address", f"a name of at most {MAX_NAME} characters", text)
    return addr


def check_fits(addr: XgtAddress, data_type: DataType, address_text: str) -> None:
    """Raise InvalidInput naming ``data_type`` when the type does not fit the type letter."""
    if data_type not in _FITS[addr.kind]:
        allowed = ", ".join(sorted(t.value for t in _FITS[addr.kind]))
        raise InvalidInput("data_type", f"one of {allowed} for a {addr.kind} name ({address_text})", data_type.value)


def size_of(addr: XgtAddress, data_type: DataType, length: int | None = None) -> int:
    """Bytes the value occupies from ``byte_offset`` (a bit occupies its byte)."""
    if addr.kind == "X" or (addr.kind == "B" and data_type in _ONE_BYTE):
        return 1
    if addr.kind in ("W", "D", "L") and data_type in _NATIVE[addr.kind]:
        return UNIT[addr.kind]
    return byte_length(data_type, length)


def is_native(addr: XgtAddress, data_type: DataType) -> bool:
    """True when one individual-read item of the name's own type returns the whole value."""
    return addr.kind == "X" or data_type in _NATIVE.get(addr.kind, set())


def tag_order(tag: TagConfig) -> ByteOrder:
    """The byte order to decode with: the tag's own if it set one, else the PLC's little-endian layout."""
    if tag.byte_order is not None:
        return tag.byte_order
    return ByteOrder.BIG_ENDIAN if tag.data_type is DataType.STRING else ByteOrder.LITTLE_ENDIAN


def decode_value(data: bytes, addr: XgtAddress, data_type: DataType,
                 byte_order: ByteOrder = ByteOrder.LITTLE_ENDIAN) -> bool | int | float | str:
    """The value in ``data`` (the ``size_of`` bytes at ``byte_offset``; for a bit, the byte holding it)."""
    if addr.kind == "X":
        return bool((data[0] >> addr.bit) & 1)
    if size_of(addr, data_type) == 1:
        return decode_byte(data[0], data_type)
    return decode_bytes(data, data_type, byte_order)


def encode_value(value: object, addr: XgtAddress, data_type: DataType,
                 byte_order: ByteOrder = ByteOrder.LITTLE_ENDIAN, length: int | None = None) -> bytes:
    """The bytes to store at ``byte_offset`` (for a bit: 0x00 or 0x01, as an X write carries it)."""
    if addr.kind == "X" or size_of(addr, data_type) == 1:
        return bytes([encode_byte(value, DataType.BOOL if addr.kind == "X" else data_type)])
    return encode_bytes(value, data_type, byte_order, length)
