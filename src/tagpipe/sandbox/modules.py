"""The importable modules: curated read-only namespaces for math, datetime, json, statistics and re.

Never the real modules: their public attributes lead to sys, os, codecs and builtins.
"""

from __future__ import annotations

import datetime as _datetime
import json as _json
import math as _math
import re as _re
import statistics as _statistics
from collections.abc import Callable, Iterator
from typing import Any

MAX_PATTERN = 1_000
MAX_SUBJECT = 100_000


class CuratedModule:
    """A read-only namespace with the public names a script may use from one module."""

    __slots__ = ("_module_name", "_names")

    def __init__(self, name: str, names: dict[str, Any]) -> None:
        object.__setattr__(self, "_module_name", name)
        object.__setattr__(self, "_names", dict(names))

    def __getattr__(self, attr: str) -> Any:
        try:
            return self._names[attr]
        except KeyError:
            raise AttributeError(f"module {self._module_name!r} has no attribute {attr!r} in hooks") from None

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"module {self._module_name!r} is read-only")

    def __delattr__(self, attr: str) -> None:
        raise AttributeError(f"module {self._module_name!r} is read-only")

    def __repr__(self) -> str:
        return f"<module {self._module_name!r} (hook subset)>"

    def exports(self) -> frozenset[str]:
        """Names this module offers to ``from ... import``."""
        return frozenset(self._names)


def _public(module: Any, names: list[str]) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names if hasattr(module, name)}


_MATH_NAMES = [n for n in dir(_math) if not n.startswith("_")]

_STATISTICS_NAMES = [
    "mean", "fmean", "geometric_mean", "harmonic_mean", "median", "median_low", "median_high",
    "median_grouped", "mode", "multimode", "quantiles", "pstdev", "pvariance", "stdev", "variance",
    "covariance", "correlation", "linear_regression", "NormalDist", "StatisticsError",
]  # fmt: skip

_DATETIME_NAMES = ["date", "datetime", "time", "timedelta", "timezone", "tzinfo", "MINYEAR", "MAXYEAR", "UTC"]


def _dumps(obj: Any, *, indent: int | str | None = None, sort_keys: bool = False,
           separators: tuple[str, str] | None = None, ensure_ascii: bool = True,
           default: Callable[[Any], Any] | None = None, allow_nan: bool = True) -> str:
    """json.dumps without the ``cls`` hook."""
    return _json.dumps(obj, indent=indent, sort_keys=sort_keys, separators=separators,
                       ensure_ascii=ensure_ascii, default=default, allow_nan=allow_nan)


def _loads(text: str | bytes, *, object_hook: Callable[[Any], Any] | None = None,
           parse_float: Callable[[str], Any] | None = None, parse_int: Callable[[str], Any] | None = None) -> Any:
    """json.loads without the ``cls`` hook."""
    return _json.loads(text, object_hook=object_hook, parse_float=parse_float, parse_int=parse_int)


_RE_FLAGS = {
    "I": _re.IGNORECASE, "IGNORECASE": _re.IGNORECASE, "M": _re.MULTILINE, "MULTILINE": _re.MULTILINE,
    "S": _re.DOTALL, "DOTALL": _re.DOTALL, "X": _re.VERBOSE, "VERBOSE": _re.VERBOSE, "A": _re.ASCII, "ASCII": _re.ASCII,
}  # fmt: skip
_ALLOWED_FLAGS = _re.IGNORECASE | _re.MULTILINE | _re.DOTALL | _re.VERBOSE | _re.ASCII


def _subject(text: Any) -> Any:
    if isinstance(text, (str, bytes)) and len(text) > MAX_SUBJECT:
        raise ValueError(f"re: input longer than {MAX_SUBJECT} characters")
    return text


class Match:
    """A regular-expression match, without the way back to the compiled pattern."""

    __slots__ = ("_m",)

    def __init__(self, m: _re.Match[Any]) -> None:
        self._m = m

    def group(self, *groups: Any) -> Any:
        return self._m.group(*groups)

    def groups(self, default: Any = None) -> tuple[Any, ...]:
        return self._m.groups(default)

    def groupdict(self, default: Any = None) -> dict[str, Any]:
        return self._m.groupdict(default)

    def start(self, group: Any = 0) -> int:
        return self._m.start(group)

    def end(self, group: Any = 0) -> int:
        return self._m.end(group)

    def span(self, group: Any = 0) -> tuple[int, int]:
        return self._m.span(group)

    def __getitem__(self, group: Any) -> Any:
        return self._m[group]

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<Match span={self._m.span()} match={self._m.group(0)!r}>"

    @property
    def string(self) -> Any:
        return self._m.string

    @property
    def lastindex(self) -> int | None:
        return self._m.lastindex

    @property
    def lastgroup(self) -> str | None:
        return self._m.lastgroup


def _wrap(m: _re.Match[Any] | None) -> Match | None:
    return None if m is None else Match(m)


def _repl(repl: Any) -> Any:
    if callable(repl):
        return lambda m: repl(Match(m))
    return repl


class Pattern:
    """A compiled regular expression whose methods check the input length."""

    __slots__ = ("_p",)
    _p: _re.Pattern[Any]

    def __init__(self, pattern: Any, flags: int = 0) -> None:
        if isinstance(pattern, Pattern):
            pattern = pattern._p.pattern
        if not isinstance(pattern, (str, bytes)):
            raise TypeError("re: pattern must be a str")
        if len(pattern) > MAX_PATTERN:
            raise ValueError(f"re: pattern longer than {MAX_PATTERN} characters")
        if int(flags) & ~_ALLOWED_FLAGS:
            raise ValueError("re: only the flags I, M, S, X and A are allowed")
        self._p = _re.compile(pattern, int(flags))

    def match(self, text: Any, pos: int = 0, endpos: int = MAX_SUBJECT) -> Match | None:
        return _wrap(self._p.match(_subject(text), pos, endpos))

    def search(self, text: Any, pos: int = 0, endpos: int = MAX_SUBJECT) -> Match | None:
        return _wrap(self._p.search(_subject(text), pos, endpos))

    def fullmatch(self, text: Any, pos: int = 0, endpos: int = MAX_SUBJECT) -> Match | None:
        return _wrap(self._p.fullmatch(_subject(text), pos, endpos))

    def findall(self, text: Any) -> list[Any]:
        return self._p.findall(_subject(text))

    def finditer(self, text: Any) -> Iterator[Match]:
        return (Match(m) for m in self._p.finditer(_subject(text)))

    def split(self, text: Any, maxsplit: int = 0) -> list[Any]:
        return self._p.split(_subject(text), maxsplit)

    def sub(self, repl: Any, text: Any, count: int = 0) -> Any:
        return self._p.sub(_repl(repl), _subject(text), count)

    def subn(self, repl: Any, text: Any, count: int = 0) -> tuple[Any, int]:
        return self._p.subn(_repl(repl), _subject(text), count)

    @property
    def pattern(self) -> Any:
        return self._p.pattern

    @property
    def flags(self) -> int:
        return self._p.flags

    @property
    def groups(self) -> int:
        return self._p.groups

    def __repr__(self) -> str:
        return f"re.compile({self._p.pattern!r})"


def _re_functions() -> dict[str, Any]:
    def match(pattern: Any, text: Any, flags: int = 0) -> Match | None:
        return Pattern(pattern, flags).match(text)

    def search(pattern: Any, text: Any, flags: int = 0) -> Match | None:
        return Pattern(pattern, flags).search(text)

    def fullmatch(pattern: Any, text: Any, flags: int = 0) -> Match | None:
        return Pattern(pattern, flags).fullmatch(text)

    def findall(pattern: Any, text: Any, flags: int = 0) -> list[Any]:
        return Pattern(pattern, flags).findall(text)

    def finditer(pattern: Any, text: Any, flags: int = 0) -> Iterator[Match]:
        return Pattern(pattern, flags).finditer(text)

    def split(pattern: Any, text: Any, maxsplit: int = 0, flags: int = 0) -> list[Any]:
        return Pattern(pattern, flags).split(text, maxsplit)

    def sub(pattern: Any, repl: Any, text: Any, count: int = 0, flags: int = 0) -> Any:
        return Pattern(pattern, flags).sub(repl, text, count)

    def subn(pattern: Any, repl: Any, text: Any, count: int = 0, flags: int = 0) -> tuple[Any, int]:
        return Pattern(pattern, flags).subn(repl, text, count)

    def escape(text: Any) -> Any:
        return _re.escape(_subject(text))

    return {
        "compile": Pattern, "match": match, "search": search, "fullmatch": fullmatch, "findall": findall,
        "finditer": finditer, "split": split, "sub": sub, "subn": subn, "escape": escape, "error": _re.error,
        **_RE_FLAGS,
    }  # fmt: skip


MODULES: dict[str, CuratedModule] = {
    "math": CuratedModule("math", _public(_math, _MATH_NAMES)),
    "datetime": CuratedModule("datetime", _public(_datetime, _DATETIME_NAMES)),
    "json": CuratedModule("json", {"dumps": _dumps, "loads": _loads, "JSONDecodeError": _json.JSONDecodeError}),
    "statistics": CuratedModule("statistics", _public(_statistics, _STATISTICS_NAMES)),
    "re": CuratedModule("re", _re_functions()),
}


def guarded_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> CuratedModule:
    """``__import__`` for hooks: exact allowed names only, no relative imports, every imported name checked."""
    if level != 0:
        raise ImportError("relative imports are not allowed in hooks")
    module = MODULES.get(name) if type(name) is str else None
    if module is None:
        raise ImportError(f"import of {name!r} is not allowed in hooks (allowed: {', '.join(sorted(MODULES))})")
    for item in fromlist or ():
        if type(item) is not str or item not in module.exports():
            raise ImportError(f"cannot import {item!r} from {name!r} in hooks")
    return module
