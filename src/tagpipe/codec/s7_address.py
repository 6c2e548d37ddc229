"""Siemens S7 addresses (``DB1.DBW2``, ``MW10``, ``I0.1``, ``QB2``) and the bytes a value occupies there.

Widths: X is one bit (BOOL); B is one byte (BOOL, or INT16 / UINT16 holding SINT / USINT) or the first byte
of a value that has its own size (LINT / ULINT / LREAL as INT64 / UINT64 / FLOAT64, or an S7 STRING);
W is a word (INT16 / UINT16); D is a double word (INT32 / UINT32 / FLOAT32).
A STRING is the S7 ``STRING[n]`` type: a 2-byte header (declared length, actual length) then ``n``
characters, where ``n`` is the tag's ``length`` (default 254, as in STEP 7). S7 is big-endian.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tagpipe.codec.types import byte_length, decode_bytes, encode_bytes
from tagpipe.contracts.config import ByteOrder, DataType
from tagpipe.errors import InvalidInput

EXPECTED_DB = "DB<n>.DB<X|B|W|D><offset>[.bit]"
EXPECTED = f"{EXPECTED_DB} or <M|I|Q><X|B|W|D><offset>[.bit] (e.g. MW10, I0.1, QB2)"
S7_STRING_DEFAULT = 254
MAX_OFFSET = 65535

_DB = re.compile(r"^DB(\d{1,5})\.DB([XBWD])(\d{1,5})(?:\.(\d+))?$", re.IGNORECASE)
_DB_LIKE = re.compile(r"^DB\d", re.IGNORECASE)
_MEM = re.compile(r"^([MIEQA])([XBWD]?)(\d{1,5})(?:\.(\d+))?$", re.IGNORECASE)


class Area(StrEnum):
    DB = "DB"
    MK = "M"
    PE = "I"
    PA = "Q"

    @property
    def writable(self) -> bool:
        return self is not Area.PE


class Width(StrEnum):
    BIT = "X"
    BYTE = "B"
    WORD = "W"
    DWORD = "D"


_GERMAN = {"E": "I", "A": "Q"}
_FIXED = {Width.WORD: 2, Width.DWORD: 4}
_FITS = {
    Width.BIT: {DataType.BOOL},
    Width.BYTE: {DataType.BOOL, DataType.INT16, DataType.UINT16, DataType.INT64, DataType.UINT64,
                 DataType.FLOAT64, DataType.STRING},
    Width.WORD: {DataType.INT16, DataType.UINT16},
    Width.DWORD: {DataType.INT32, DataType.UINT32, DataType.FLOAT32},
}
_ONE_BYTE = {DataType.BOOL, DataType.INT16, DataType.UINT16}


@dataclass(frozen=True, slots=True)
class S7Address:
    area: Area
    db: int
    width: Width
    offset: int
    bit: int | None = None


def parse_s7_address(text: str) -> S7Address:
    """Parse an S7 address; raises InvalidInput naming ``address`` and the accepted form."""
    s = str(text).strip()
    if m := _DB.match(s):
        db, width, offset, bit = int(m[1]), Width(m[2].upper()), int(m[3]), m[4]
        if db < 1 or db > 65535 or (width is Width.BIT) != (bit is not None):
            raise InvalidInput("address", EXPECTED_DB, text)
        return _checked(S7Address(Area.DB, db, width, offset, _bit(bit, text)), text)
    if _DB_LIKE.match(s):
        raise InvalidInput("address", EXPECTED_DB, text)
    if m := _MEM.match(s):
        letter = m[1].upper()
        area = Area(_GERMAN.get(letter, letter))
        mem_width = Width(m[2].upper()) if m[2] else (Width.BIT if m[4] is not None else None)
        if mem_width is None or (mem_width is Width.BIT) != (m[4] is not None):
            raise InvalidInput("address", EXPECTED, text)
        return _checked(S7Address(area, 0, mem_width, int(m[3]), _bit(m[4], text)), text)
    raise InvalidInput("address", EXPECTED, text)


def _bit(raw: str | None, text: str) -> int | None:
    if raw is None:
        return None
    if len(raw) > 1 or int(raw) > 7:
        raise InvalidInput("address", "a bit number 0-7 after the byte offset", text)
    return int(raw)


def _checked(addr: S7Address, text: str) -> S7Address:
    if addr.offset > MAX_OFFSET:
        raise InvalidInput("address", f"a byte offset of at most {MAX_OFFSET}", text)
    return addr


def check_fits(addr: S7Address, data_type: DataType, address_text: str) -> None:
    """Raise InvalidInput naming ``data_type`` when the type does not fit the address width."""
    if data_type not in _FITS[addr.width]:
        allowed = ", ".join(sorted(t.value for t in _FITS[addr.width]))
        raise InvalidInput("data_type", f"one of {allowed} for a {addr.width.name} address ({address_text})",
                           data_type.value)


def size_of(addr: S7Address, data_type: DataType, length: int | None = None) -> int:
    """Bytes to read for a value at ``addr`` (a bit reads its whole byte)."""
    if addr.width is Width.BIT:
        return 1
    if addr.width in _FIXED:
        return _FIXED[addr.width]
    if data_type is DataType.STRING:
        return 2 + (length or S7_STRING_DEFAULT)
    if data_type in _ONE_BYTE:
        return 1
    return byte_length(data_type)


def decode_value(data: bytes, addr: S7Address, data_type: DataType,
                 byte_order: ByteOrder = ByteOrder.BIG_ENDIAN) -> bool | int | float | str:
    """The raw value stored in ``data`` (exactly ``size_of`` bytes read at ``addr``)."""
    if addr.width is Width.BIT:
        return bool((data[0] >> (addr.bit or 0)) & 1)
    if addr.width is Width.BYTE and data_type in _ONE_BYTE:
        return decode_byte(data[0], data_type)
    if data_type is DataType.STRING:
        count = min(data[1], len(data) - 2)
        return bytes(data[2:2 + count]).decode("latin-1")
    return decode_bytes(data, data_type, byte_order)


def encode_value(value: object, addr: S7Address, data_type: DataType,
                 byte_order: ByteOrder = ByteOrder.BIG_ENDIAN, length: int | None = None) -> bytes:
    """Bytes to write at ``addr`` (not for bits, which are written as a BIT item)."""
    if addr.width is Width.BYTE and data_type in _ONE_BYTE:
        return bytes([encode_byte(value, data_type)])
    if data_type is DataType.STRING:
        size = length or S7_STRING_DEFAULT
        if not isinstance(value, str):
            raise InvalidInput("value", "a string", value)
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidInput("value", "a string of Latin-1 characters (S7 STRING)", value) from None
        if len(raw) > size:
            raise InvalidInput("value", f"at most {size} characters", value)
        return bytes([size, len(raw)]) + raw.ljust(size, b"\x00")
    return encode_bytes(value, data_type, byte_order)


def decode_byte(b: int, data_type: DataType) -> bool | int:
    """One byte as BOOL (non-zero), UINT16 (0..255, USINT/BYTE) or INT16 (-128..127, SINT)."""
    if data_type is DataType.BOOL:
        return b != 0
    return b - 256 if data_type is DataType.INT16 and b > 127 else b


def encode_byte(value: object, data_type: DataType) -> int:
    """The byte for a one-byte value; raises InvalidInput when it does not fit."""
    if data_type is DataType.BOOL:
        return encode_bytes(value, DataType.BOOL)[-1]
    lo, hi = (-128, 127) if data_type is DataType.INT16 else (0, 255)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInput("value", f"an integer {lo}..{hi} for a one-byte {data_type.value}", value)
    return value & 0xFF
