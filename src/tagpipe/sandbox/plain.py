"""Checks that a value is plain data (exact None, bool, int, float, str, list, dict) and copies it."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_CHARS = 4_000_000
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
# A program's state goes back to the pool after every run and comes again at every restart: kept small.
STATE_ITEMS = 10_000
STATE_CHARS = 1_000_000

_SCALARS = (type(None), bool, float, str)
# Values a container may hold without a look at each one: no range, length or nesting to check.
_FLAT = frozenset({type(None), bool, float})
_STR_ONLY = frozenset({str})
_FRESH_SCALARS = frozenset({type(None), bool, int, float, str})


class NotPlain(ValueError):
    """The value is not plain data within the size limits."""


def plain_copy(value: Any, max_items: int = MAX_ITEMS, max_chars: int = MAX_CHARS) -> Any:
    """Return a fresh copy of plain data, or raise NotPlain saying what is wrong."""
    kind = type(value)
    if kind is float or kind is bool or value is None:
        return value
    if kind is int:
        if INT_MIN <= value <= INT_MAX:
            return value
        raise NotPlain("integer does not fit in 64 bits")
    if kind is str:
        if len(value) > max_chars:
            raise NotPlain(f"string longer than {max_chars} characters")
        return value
    return _copy(value, 0, set(), [max_items, max_chars, max_items, max_chars])


def _copy(value: Any, depth: int, path: set[int], budget: list[int]) -> Any:
    kind = type(value)
    if kind is str:
        budget[1] -= len(value)
        if budget[1] < 0:
            raise NotPlain(f"result holds more than {budget[3]} characters")
        return value
    if kind in _SCALARS:
        return value
    if kind is int:
        if INT_MIN <= value <= INT_MAX:
            return value
        raise NotPlain("integer does not fit in 64 bits")
    if kind is not list and kind is not dict:
        raise NotPlain(f"{kind.__name__} is not allowed in a result (use None, bool, int, float, str, list, dict)")
    if depth >= MAX_DEPTH:
        raise NotPlain(f"result nested deeper than {MAX_DEPTH} levels")
    key = id(value)
    if key in path:
        raise NotPlain("result refers to itself")
    budget[0] -= len(value)
    if budget[0] < 0:
        raise NotPlain(f"result holds more than {budget[2]} items")
    if kind is dict:
        flat = set(map(type, value.values())) <= _FLAT
        if flat and set(map(type, value)) <= _STR_ONLY:
            # Only str keys and float/bool/None values (the usual tag map): check and copy in bulk.
            budget[1] -= len("".join(value))  # the keys' characters, in one C call
            if budget[1] < 0:
                raise NotPlain(f"result holds more than {budget[3]} characters")
            return dict(value)
    elif set(map(type, value)) <= _FLAT:
        return list(value)
    path.add(key)
    try:
        if kind is list:
            return [_item(item, depth, path, budget) for item in value]
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str:
                raise NotPlain("dict keys in a result must be str")
            out[_item(k, depth, path, budget)] = _item(v, depth, path, budget)
        return out
    finally:
        path.discard(key)


def _item(value: Any, depth: int, path: set[int], budget: list[int]) -> Any:
    kind = type(value)
    if kind is float or kind is bool or value is None:
        return value
    if kind is str:
        budget[1] -= len(value)
        if budget[1] < 0:
            raise NotPlain(f"result holds more than {budget[3]} characters")
        return value
    if kind is int and INT_MIN <= value <= INT_MAX:
        return value
    return _copy(value, depth + 1, path, budget)


def keep_state(state: dict[str, Any]) -> dict[str, Any]:
    """A plain copy of a program's state within the state limits; NotPlain names the variable that cannot be kept."""
    try:
        copied: dict[str, Any] = plain_copy(state, STATE_ITEMS, STATE_CHARS)
    except NotPlain as whole:
        for name, value in state.items():
            try:
                plain_copy(value, STATE_ITEMS, STATE_CHARS)
            except NotPlain as e:
                raise NotPlain(f"variable {name!r} cannot be kept between runs: {e}") from None
        raise NotPlain(f"the state cannot be kept between runs: {whole}") from None
    return copied


def fresh(value: Any) -> Any:
    """Copy trusted plain input for one hook call, cheaply when it holds only scalars."""
    kind = type(value)
    if kind is dict:
        if set(map(type, value.values())) <= _FRESH_SCALARS:
            return dict(value)
        return {k: fresh(v) for k, v in value.items()}
    if kind is list:
        return [fresh(v) for v in value]
    return value
