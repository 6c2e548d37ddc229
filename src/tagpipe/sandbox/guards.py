"""Runtime guards and the builtins a hook sees: guarded attribute, item, write, import and print access."""

from __future__ import annotations

import datetime as _datetime
import operator
from collections.abc import Callable
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from tagpipe.sandbox.modules import CuratedModule, guarded_import

MAX_POW_BITS = 100_000
MAX_PRINT_CHARS = 65_536
_MISSING: Any = object()


class ScriptClass(type):
    """Metaclass of every class a script defines, so the write guard can tell the script's own objects."""


def _forbidden(name: str) -> bool:
    return name.startswith("_") or name in INSPECT_ATTRIBUTES


def guarded_getattr(obj: Any, name: Any, default: Any = _MISSING) -> Any:
    """``getattr`` that refuses ``_`` names, frame/code attributes and ``str.format``."""
    if type(name) is not str:
        raise TypeError("attribute name must be a str")
    if _forbidden(name):
        raise AttributeError(f'"{name}" is not allowed in hooks (names starting with "_" are private)')
    if (name == "format" or name == "format_map") and (
        isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str))
    ):
        raise AttributeError("str.format is not available in hooks; use an f-string")
    try:
        return getattr(obj, name)
    except AttributeError as e:
        if default is not _MISSING:
            return default
        # A fresh error: the original one's ``obj`` could lead to objects the script never had.
        message = str(e) if type(obj) is CuratedModule else f"{type(obj).__name__!s} object has no attribute {name!r}"
        raise AttributeError(message) from None


def guarded_hasattr(obj: Any, name: Any) -> bool:
    """``hasattr`` through the attribute guard; private names are reported absent."""
    if type(name) is not str:
        raise TypeError("attribute name must be a str")
    if _forbidden(name):
        return False
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def guarded_getitem(obj: Any, index: Any) -> Any:
    """``obj[index]``."""
    return obj[index]


class _ReadOnly:
    """What the write guard returns for objects a script may not modify."""

    __slots__ = ("kind",)
    kind: str

    def __init__(self, kind: str) -> None:
        object.__setattr__(self, "kind", kind)

    def _refuse(self, *args: Any) -> None:
        raise TypeError(f"a {self.kind} cannot be modified in hooks")

    __setattr__ = __delattr__ = __setitem__ = __delitem__ = _refuse


def guarded_write(obj: Any) -> Any:
    """Allow item writes on lists and dicts and attribute writes on instances of the script's own classes."""
    kind = type(obj)
    if kind is dict or kind is list or type(kind) is ScriptClass:
        return obj
    return _ReadOnly(kind.__name__)


def guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    """``**`` and ``pow`` with a cap on the size of integer results."""
    if (
        mod is None and isinstance(base, int) and isinstance(exp, int) and exp > 0
        and int.bit_length(abs(base)) > 1 and exp * int.bit_length(abs(base)) > MAX_POW_BITS
    ):
        raise ValueError(f"integer result of ** would exceed {MAX_POW_BITS} bits")
    return pow(base, exp) if mod is None else pow(base, exp, mod)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": guarded_pow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "&=": operator.iand, "^=": operator.ixor, "|=": operator.ior,
    "@=": operator.imatmul,
}  # fmt: skip


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """``x op= y`` for names."""
    return _INPLACE[op](target, value)


def guarded_apply(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Calls with ``*args`` / ``**kwargs``."""
    return func(*args, **kwargs)


class PrintCapture:
    """Collects what hooks print during one request, up to a size cap."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        room = MAX_PRINT_CHARS - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        self.size = 0
        return text


CAPTURE = PrintCapture()


class ScriptPrint:
    """RestrictedPython's ``_print_``: ``print`` in a hook writes here; ``printed`` returns the text."""

    def __init__(self, _getattr_: Any = None) -> None:
        self.txt: list[str] = []

    def _call_print(self, *objects: Any, sep: Any = " ", end: Any = "\n", flush: bool = False) -> None:
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        if type(sep) is not str or type(end) is not str:
            raise TypeError("print: sep and end must be str")
        text = sep.join(str(o) for o in objects) + end
        if sum(map(len, self.txt)) < MAX_PRINT_CHARS:
            self.txt.append(text[:MAX_PRINT_CHARS])
        CAPTURE.write(text)

    def __call__(self) -> str:
        return "".join(self.txt)


def _it(obj: Any) -> Any:
    return iter(obj)


class GuardedType:
    """``list`` / ``tuple`` for hooks: construct through the iteration guard, still usable in isinstance."""

    __slots__ = ("_type",)

    def __init__(self, kind: type) -> None:
        object.__setattr__(self, "_type", kind)

    def __call__(self, *args: Any) -> Any:
        if args:
            return self._type(_it(args[0]))
        return self._type()

    def __instancecheck__(self, obj: Any) -> bool:
        return isinstance(obj, self._type)

    def __subclasscheck__(self, cls: Any) -> bool:
        return issubclass(cls, self._type)

    def __mro_entries__(self, bases: Any) -> tuple[type]:
        return (self._type,)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._type, name)

    def __eq__(self, other: object) -> bool:
        return other is self or other is self._type

    def __hash__(self) -> int:
        return hash(self._type)

    def __repr__(self) -> str:
        return repr(self._type)


LIST = GuardedType(list)
TUPLE = GuardedType(tuple)

_TYPES: dict[type, Any] = {list: LIST, tuple: TUPLE}
_PLAIN_TYPES = {
    type(None), bool, int, float, complex, str, bytes, dict, set, frozenset, range, slice, list, tuple,
    _datetime.date, _datetime.datetime, _datetime.time, _datetime.timedelta, _datetime.timezone,
}  # fmt: skip


def guarded_type(obj: Any) -> Any:
    """One-argument ``type`` that returns only data types, exception types and the script's own classes."""
    kind = type(obj)
    if kind in _PLAIN_TYPES or type(kind) is ScriptClass or issubclass(kind, BaseException):
        return _TYPES.get(kind, kind)
    raise TypeError(f"type() of a {kind.__name__} is not available in hooks")


def _sorted(iterable: Any, /, *, key: Any = None, reverse: bool = False) -> list[Any]:
    return sorted(_it(iterable), key=key, reverse=reverse)


def _zip(*iterables: Any, strict: bool = False) -> Any:
    return zip(*[_it(i) for i in iterables], strict=strict)


def _map(func: Any, *iterables: Any) -> Any:
    return map(func, *[_it(i) for i in iterables])


def _filter(func: Any, iterable: Any) -> Any:
    return filter(func, _it(iterable))


def _enumerate(iterable: Any, start: int = 0) -> Any:
    return enumerate(_it(iterable), start)


def _min(*args: Any, **kwargs: Any) -> Any:
    return min(_it(args[0]), **kwargs) if len(args) == 1 else min(*args, **kwargs)


def _max(*args: Any, **kwargs: Any) -> Any:
    return max(_it(args[0]), **kwargs) if len(args) == 1 else max(*args, **kwargs)


def _sum(iterable: Any, start: Any = 0) -> Any:
    return sum(_it(iterable), start)


def _any(iterable: Any) -> bool:
    return any(_it(iterable))


def _all(iterable: Any) -> bool:
    return all(_it(iterable))


def _reversed(seq: Any) -> Any:
    if type(seq) in (list, tuple, str, range, dict):
        return reversed(seq)
    return reversed(list(_it(seq)))


_EXCEPTIONS = [
    ArithmeticError, AssertionError, AttributeError, Exception, ImportError, IndexError, KeyError,
    LookupError, MemoryError, NameError, NotImplementedError, OverflowError, RecursionError,
    RuntimeError, StopIteration, TypeError, UnicodeError, ValueError, ZeroDivisionError,
]  # fmt: skip

BUILTINS: dict[str, Any] = {
    "None": None, "True": True, "False": False,
    "__build_class__": __build_class__, "__import__": guarded_import,
    "abs": abs, "bool": bool, "bytes": bytes, "callable": callable, "chr": chr, "complex": complex,
    "dict": dict, "divmod": divmod, "float": float, "frozenset": frozenset, "hash": hash, "int": int,
    "isinstance": isinstance, "issubclass": issubclass, "iter": _it, "len": len, "next": next,
    "object": object, "ord": ord, "range": range, "repr": repr, "round": round, "set": set,
    "slice": slice, "str": str, "bin": bin, "hex": hex, "oct": oct,
    "getattr": guarded_getattr, "hasattr": guarded_hasattr, "type": guarded_type, "pow": guarded_pow,
    "list": LIST, "tuple": TUPLE, "sorted": _sorted, "zip": _zip, "map": _map, "filter": _filter,
    "enumerate": _enumerate, "min": _min, "max": _max, "sum": _sum, "any": _any, "all": _all,
    "reversed": _reversed,
    **{e.__name__: e for e in _EXCEPTIONS},
}  # fmt: skip


def script_globals(name: str) -> dict[str, Any]:
    """A fresh global namespace for one script, with RestrictedPython's hooks wired to our guards."""
    return {
        "__builtins__": dict(BUILTINS),
        "__name__": name,
        "__metaclass__": ScriptClass,
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": _it,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": guarded_write,
        "_inplacevar_": guarded_inplacevar,
        "_print_": ScriptPrint,
        "_apply_": guarded_apply,
        "_pow_": guarded_pow,
    }
