"""Framing between the pool and its workers: a 4-byte length, then one msgpack message; never pickle."""

from __future__ import annotations

import struct
from typing import Any

import msgpack

HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def encode(message: Any) -> bytes:
    """One framed message."""
    body = msgpack.packb(message, use_bin_type=True)
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Any:
    """The message in one frame body (plain data only: no ext types)."""
    return msgpack.unpackb(body, raw=False, strict_map_key=False, ext_hook=_no_ext)


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError("msgpack extension types are not accepted")
