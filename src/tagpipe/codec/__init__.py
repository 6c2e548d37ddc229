"""Pure decoding: data types x byte orders, scale and offset, address parsing. No I/O, no tagpipe imports but
contracts and errors."""

from tagpipe.codec.types import (
    byte_length,
    decode_bytes,
    decode_registers,
    encode_bytes,
    encode_registers,
    register_count,
    scale_value,
    unscale_value,
)

__all__ = [
    "byte_length", "decode_bytes", "decode_registers", "encode_bytes", "encode_registers",
    "register_count", "scale_value", "unscale_value",
]
