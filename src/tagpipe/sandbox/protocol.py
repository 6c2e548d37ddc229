"""Framing between the pool and its workers: a 4-byte length, then one msgpack message; never pickle."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import msgpack

HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def encode(message: Any) -> bytes:
    """One framed message."""
    body: bytes = msgpack.packb(message, use_bin_type=True)
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Any:
    """The message in one frame body (plain data only: no ext types)."""
    return msgpack.unpackb(body, raw=False, strict_map_key=False, ext_hook=_no_ext)


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError("msgpack extension types are not accepted")


class TagMap:
    """Sends a cycle payload with its tag names as one msgpack blob that both ends remember.

    A device reports the same tag names every cycle, and a map of str keys is the slowest thing msgpack
    decodes (it hashes and interns every key): the names go as a ``bin`` blob, which the receiver decodes
    only the first time it sees it, and the values as a list. Both ends remember the name lists of the last
    ``REMEMBERED`` devices (an edge interleaves its devices' cycles). Each message still carries everything;
    the memo only saves work. One instance per end of one worker's pipe.
    """

    REMEMBERED = 256

    def __init__(self) -> None:
        self._sent_names: list[Any] = []
        self._sent_blob = b""
        self._blobs: dict[tuple[Any, ...], bytes] = {}
        self._got_blob = b""
        self._got_names: list[Any] = []
        self._names: dict[bytes, list[Any]] = {}

    def pack(self, payload: Mapping[str, Any] | None) -> Any:
        """``[payload with tags None, names blob, values]``; ``[payload, None, None]`` when tags is not a dict."""
        if payload is None:
            return None
        tags = payload.get("tags")
        if type(tags) is not dict:
            return [dict(payload), None, None]
        names = list(tags)
        if names != self._sent_names:
            key = tuple(names)
            blob = self._blobs.get(key)
            if blob is None:
                blob = msgpack.packb(names, use_bin_type=True)
                _remember(self._blobs, key, blob, self.REMEMBERED)
            self._sent_names, self._sent_blob = names, blob
        rest = dict(payload)
        rest["tags"] = None
        return [rest, self._sent_blob, list(tags.values())]

    def unpack(self, packed: Any) -> dict[str, Any] | None:
        """The payload ``pack`` sent; ValueError when the message does not have that shape."""
        if packed is None:
            return None
        if type(packed) is not list or len(packed) != 3 or type(packed[0]) is not dict:
            raise ValueError("malformed cycle payload")
        payload: dict[str, Any]
        payload, blob, values = packed
        if blob is None and values is None:
            return payload
        if type(blob) is not bytes or type(values) is not list or "tags" not in payload:
            raise ValueError("malformed cycle payload")
        if blob != self._got_blob:
            names = self._names.get(blob)
            if names is None:
                names = decode(blob)
                if type(names) is not list:
                    raise ValueError("malformed cycle payload")
                _remember(self._names, blob, names, self.REMEMBERED)
            self._got_blob, self._got_names = blob, names
        if len(self._got_names) != len(values):
            raise ValueError("malformed cycle payload")
        try:
            payload["tags"] = dict(zip(self._got_names, values, strict=True))
        except TypeError as e:  # an unhashable name
            raise ValueError("malformed cycle payload") from e
        return payload


def _remember(memo: dict[Any, Any], key: Any, value: Any, limit: int) -> None:
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
