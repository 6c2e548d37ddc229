"""Values to and from bytes and 16-bit registers for every data type and byte order.

Canonical form is big-endian bytes (ABCD). A byte order says how the device lays those out:
word order (which 16-bit word comes first) and byte order inside each word.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from tagpipe.contracts.config import ByteOrder, DataType
from tagpipe.errors import InvalidInput

_STRUCT = {
    DataType.INT16: ">h", DataType.UINT16: ">H",
    DataType.INT32: ">i", DataType.UINT32: ">I",
    DataType.INT64: ">q", DataType.UINT64: ">Q",
    DataType.FLOAT32: ">f", DataType.FLOAT64: ">d",
}
_SIZE = {DataType.BOOL: 2, DataType.INT16: 2, DataType.UINT16: 2, DataType.INT32: 4, DataType.UINT32: 4,
         DataType.INT64: 8, DataType.UINT64: 8, DataType.FLOAT32: 4, DataType.FLOAT64: 8}
_WORD_LITTLE = {ByteOrder.LITTLE_ENDIAN, ByteOrder.LITTLE_ENDIAN_BYTE_SWAP}
_BYTE_SWAPPED = {ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN_BYTE_SWAP}
DEFAULT_STRING_LENGTH = 16


def byte_length(data_type: DataType, length: int | None = None) -> int:
    """Bytes a value occupies on the wire (a STRING of odd length is padded to whole words)."""
    if data_type is DataType.STRING:
        n = length or DEFAULT_STRING_LENGTH
        return n + (n % 2)
    return _SIZE[data_type]


def register_count(data_type: DataType, length: int | None = None) -> int:
    return byte_length(data_type, length) // 2


def _reorder(data: bytes, order: ByteOrder | None, *, words: bool = True) -> bytes:
    """Device layout to canonical big-endian, or back (None is big-endian): the mapping is its own inverse."""
    chunks = [data[i:i + 2] for i in range(0, len(data), 2)]
    if words and order in _WORD_LITTLE:
        chunks.reverse()
    if order in _BYTE_SWAPPED:
        chunks = [c[::-1] for c in chunks]
    return b"".join(chunks)


def decode_bytes(data: bytes, data_type: DataType,
                 byte_order: ByteOrder | None = ByteOrder.BIG_ENDIAN) -> bool | int | float | str:
    """Decode one value from its device bytes (length must match ``byte_length``)."""
    if data_type is DataType.STRING:
        raw = _reorder(bytes(data), byte_order, words=False)
        return raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace")
    if data_type is DataType.BOOL:
        return any(data)
    value: int | float = struct.unpack(_STRUCT[data_type], _reorder(bytes(data), byte_order))[0]
    return value


def encode_bytes(value: object, data_type: DataType, byte_order: ByteOrder | None = ByteOrder.BIG_ENDIAN,
                 length: int | None = None) -> bytes:
    """Encode one value into device bytes; raises InvalidInput when it does not fit the type."""
    if data_type is DataType.STRING:
        if not isinstance(value, str):
            raise InvalidInput("value", "a string", value)
        size = byte_length(data_type, length)
        raw = value.encode("utf-8")
        if len(raw) > size:
            raise InvalidInput("value", f"at most {size} bytes", value)
        return _reorder(raw.ljust(size, b"\x00"), byte_order, words=False)
    if data_type is DataType.BOOL:
        return b"\x00\x01" if _as_bool(value) else b"\x00\x00"
    number = _as_number(value, data_type)
    try:
        packed = struct.pack(_STRUCT[data_type], number)
    except (struct.error, OverflowError):
        raise InvalidInput("value", f"a value in the range of {data_type.value}", value) from None
    return _reorder(packed, byte_order)


def decode_registers(registers: Sequence[int], data_type: DataType,
                     byte_order: ByteOrder | None = ByteOrder.BIG_ENDIAN) -> bool | int | float | str:
    data = b"".join(int(r & 0xFFFF).to_bytes(2, "big") for r in registers)
    return decode_bytes(data, data_type, byte_order)


def encode_registers(value: object, data_type: DataType, byte_order: ByteOrder | None = ByteOrder.BIG_ENDIAN,
                     length: int | None = None) -> list[int]:
    data = encode_bytes(value, data_type, byte_order, length)
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "on", "off"}:
        return value.strip().lower() in {"true", "1", "on"}
    raise InvalidInput("value", "true or false", value)


def _as_number(value: object, data_type: DataType) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput("value", f"a number for {data_type.value}", value)
    if data_type in (DataType.FLOAT32, DataType.FLOAT64):
        return float(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidInput("value", f"an integer for {data_type.value}", value)
        return int(value)
    return value


def scale_value(raw: object, scale: float, offset: float) -> object:
    """value = raw x scale + offset for numbers; booleans and strings pass unchanged."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return raw
    if scale == 1 and offset == 0:
        return raw
    value = raw * scale + offset
    return round(value, 12) if isinstance(value, float) else value


def unscale_value(value: object, scale: float, offset: float, data_type: DataType) -> object:
    """The raw value to write so that it reads back as ``value``."""
    if data_type in (DataType.BOOL, DataType.STRING) or (scale == 1 and offset == 0):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput("value", f"a number for {data_type.value}", value)
    if scale == 0:
        raise InvalidInput("scale", "a non-zero number to write through", scale)
    raw = (value - offset) / scale
    if not math.isfinite(raw):
        raise InvalidInput("value", f"a value whose raw value (value - offset) / scale fits {data_type.value}", value)
    if data_type in (DataType.FLOAT32, DataType.FLOAT64):
        return raw
    return round(raw)
