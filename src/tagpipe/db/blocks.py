"""Compressed blocks of one tag's samples: lossless, every float bit pattern kept (NaN payloads, ±inf, -0.0). Pure.

A block holds rows sorted by time with distinct timestamps: (ts, numeric value or None, text or None, quality). Its
columns are laid out so that zlib finds what repeats, with every per-value step done by C code (``array``, slicing,
``itertools.accumulate``, big-integer XOR) or one list comprehension:

- timestamps: the first, then the gaps between them (a 1 s tag's gaps are all 1000);
- numbers, when every one of them is a decimal with at most 9 digits after the point (what sensors, counters and
  states report: 23.4, 1013, 0/1): the scaled integers' differences, zigzagged so small negative steps stay small;
  otherwise each number's 8 bytes XORed with the previous number's (Gorilla's idea: neighbours share sign, exponent and
  leading mantissa bits, which the XOR turns into zero bytes);
- each 8-byte column is byte-transposed (the n first bytes, then the n second bytes ...): the high bytes, nearly all
  zero, end up side by side;
- per row a kind byte (number, none, text, both) and the quality, then the texts as one JSON list.

The result is the header (version, number encoding, decimal places, row count) and one zlib stream.
"""

from __future__ import annotations

import json
import operator
import struct
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate
from typing import NamedTuple

VERSION = 1
_HEADER = struct.Struct("<BBBI")
_DECIMAL, _XOR = 0, 1
_NUMBER, _NONE, _TEXT, _BOTH = 0, 1, 2, 3
_MAX_PLACES = 9
_EXACT = 2**53  # scaled integers below this convert to float and back exactly


class Columns(NamedTuple):
    """A block's rows as columns (what readers want: a trend takes ``ts`` and ``values`` only)."""

    ts: list[int]
    values: list[float | None]
    texts: list[str | None]
    quality: list[int]


def encode(ts: Sequence[int], values: Sequence[float | None], texts: Sequence[str | None],
           quality: Sequence[int]) -> bytes:
    """One block from columns of equal length, ``ts`` strictly increasing (ValueError otherwise)."""
    n = len(ts)
    if not (len(values) == len(texts) == len(quality) == n):
        raise ValueError("block columns differ in length")
    ts = list(ts)
    if not all(map(operator.lt, ts, ts[1:])):
        raise ValueError("block timestamps must be strictly increasing")
    if texts.count(None) == n and None not in values:  # numbers only, the usual block: no per-row work
        kinds, numbers, strings = bytes(n), list(values), []
    else:
        kinds = bytes((_NUMBER if t is None else _BOTH) if v is not None else (_NONE if t is None else _TEXT)
                      for v, t in zip(values, texts, strict=True))
        numbers = [v for v in values if v is not None]
        strings = [t for t in texts if t is not None]
    mode, places, packed = _pack_numbers(numbers)  # type: ignore[arg-type]
    gaps = array("q", [ts[0], *map(operator.sub, ts[1:], ts)] if n else [])
    body = b"".join([_transpose(gaps.tobytes()), kinds, array("h", quality).tobytes(), packed,
                     json.dumps(strings, ensure_ascii=False).encode() if strings else b""])
    return _HEADER.pack(VERSION, mode, places, n) + zlib.compress(body, 6)


def decode(data: bytes) -> Columns:
    """The columns of a block made by ``encode`` (ValueError for anything else)."""
    try:
        version, mode, places, n = _HEADER.unpack_from(data)
        body = zlib.decompress(data[_HEADER.size:])
    except (struct.error, zlib.error) as e:
        raise ValueError(f"not a sample block: {e}") from None
    if version != VERSION or mode not in (_DECIMAL, _XOR) or places > _MAX_PLACES:
        raise ValueError(f"not a sample block: version {version}, encoding {mode}, places {places}")
    at = 8 * n
    gaps = array("q")
    gaps.frombytes(_untranspose(body[:at], n))
    kinds = body[at:at + n]
    quality = array("h")
    quality.frombytes(body[at + n:at + 3 * n])
    at += 3 * n
    count = n - kinds.count(_NONE) - kinds.count(_TEXT)
    numbers = _unpack_numbers(mode, places, body[at:at + 8 * count], count)
    rest = body[at + 8 * count:]
    try:
        strings = json.loads(rest) if rest else []
    except ValueError as e:
        raise ValueError(f"not a sample block: its texts are not JSON ({e})") from None
    if len(kinds) != n or len(quality) != n or len(numbers) != count or not isinstance(strings, list) or \
            len(strings) != n - kinds.count(_NUMBER) - kinds.count(_NONE) or max(kinds, default=0) > _BOTH:
        raise ValueError("not a sample block: its columns do not add up")
    it_numbers, it_strings = iter(numbers), iter(strings)
    values: list[float | None] = list(numbers) if count == n else \
        [next(it_numbers) if k in (_NUMBER, _BOTH) else None for k in kinds]
    texts: list[str | None] = [None] * n if not strings else \
        [next(it_strings) if k in (_TEXT, _BOTH) else None for k in kinds]
    return Columns(list(accumulate(gaps)), values, texts, quality.tolist())


def _pack_numbers(numbers: list[float]) -> tuple[int, int, bytes]:
    decimal = _as_decimals(numbers)
    if decimal is not None:
        places, scaled = decimal
        steps = list(map(operator.sub, scaled, [0, *scaled[:-1]]))
        zigzag = array("Q", [(d << 1) ^ (d >> 63) for d in steps])
        return _DECIMAL, places, _transpose(zigzag.tobytes())
    raw = array("d", numbers).tobytes()
    x = int.from_bytes(raw, "little")
    xored = (x ^ (x << 64)) & ((1 << (64 * len(numbers))) - 1)
    return _XOR, 0, _transpose(xored.to_bytes(len(raw), "little"))


def _unpack_numbers(mode: int, places: int, packed: bytes, count: int) -> list[float]:
    raw = _untranspose(packed, count)
    if mode == _DECIMAL:
        zigzag = array("Q")
        zigzag.frombytes(raw)
        scaled = accumulate((z >> 1) ^ -(z & 1) for z in zigzag)
        if places == 0:
            return [float(s) for s in scaled]
        scale = 10.0 ** places
        return [s / scale for s in scaled]
    x = int.from_bytes(raw, "little")
    shift = 64
    while shift < 64 * count:  # prefix XOR by doubling: log2(count) big-integer steps
        x ^= x << shift
        shift *= 2
    numbers = array("d")
    numbers.frombytes((x & ((1 << (64 * count)) - 1)).to_bytes(8 * count, "little"))
    return numbers.tolist()


def _places(v: float) -> int | None:
    r = repr(v)
    if "e" in r or "n" in r:  # 1e-05, 1e+22, inf, nan
        return None
    return 0 if r.endswith(".0") else len(r) - r.index(".") - 1


def _as_decimals(numbers: list[float]) -> tuple[int, list[int]] | None:
    """(places, the numbers times 10**places) when 0 to 9 decimal places write every number exactly, else None."""
    guess = 0
    for v in numbers[:16]:  # a guess from the first few, checked on all below (and raised once if one needs more)
        places = _places(v)
        if places is None:
            return None
        guess = max(guess, places)
    for _ in range(2):
        if guess > _MAX_PLACES:
            return None
        scale = 10.0 ** guess
        scaled = [round(x) if -_EXACT < (x := v * scale) < _EXACT else None for v in numbers]  # None: nan, inf, huge
        bad = next((v for v, s in zip(numbers, scaled, strict=True)
                    if s is None or s / scale != v or (v == 0.0 and str(v)[0] == "-")), None)
        if bad is None:
            return guess, scaled  # type: ignore[return-value]
        more = _places(bad)
        if more is None or more <= guess:
            return None
        guess = more
    return None


def _transpose(raw: bytes) -> bytes:
    return b"".join(raw[i::8] for i in range(8))


def _untranspose(raw: bytes, n: int) -> bytes:
    if len(raw) != 8 * n:
        raise ValueError("not a sample block: a column is cut short")
    out = bytearray(8 * n)
    for i in range(8):
        out[i::8] = raw[i * n:(i + 1) * n]
    return bytes(out)
