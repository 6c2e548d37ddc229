"""Hooks in a collection cycle, inside the worker: fresh inputs, deadline marks, result checks, errors per script."""

from __future__ import annotations

from operator import itemgetter
from time import monotonic
from typing import Any

from tagpipe.sandbox.marker import Marker
from tagpipe.sandbox.pipeline import FAILED, HookSpec, select_hooks
from tagpipe.sandbox.plain import INT_MAX, INT_MIN, MAX_CHARS, NotPlain, fresh, plain_copy
from tagpipe.sandbox.usercode import describe, error_line

SCALAR = frozenset({type(None), bool, int, float, str})
_SELECTED_MAX = 64


class HookIndex:
    """The loaded hooks as a cycle needs them: specs, functions and file names by script id, selections by scope."""

    __slots__ = ("_selected", "files", "funcs", "specs")

    def __init__(self) -> None:
        self.specs: list[HookSpec] = []
        self.funcs: dict[int, Any] = {}
        self.files: dict[int, str] = {}
        self._selected: dict[tuple[Any, ...], dict[str, list[HookSpec]]] = {}

    def set(self, hooks: list[tuple[HookSpec, Any, str]]) -> None:
        """Replace the index with these (spec, function, file name)."""
        self.specs = [spec for spec, _, _ in hooks]
        self.funcs = {spec.script_id: func for spec, func, _ in hooks}
        self.files = {spec.script_id: filename for spec, _, filename in hooks}
        self._selected.clear()

    def select(self, context: dict[str, Any], skip: frozenset[int]) -> dict[str, list[HookSpec]]:
        """``select_hooks`` for this context, remembered per scope ids and skip set until the next change."""
        key = (_scope_key(context.get("equipment_id")), _scope_key(context.get("connection_id")),
               _scope_key(context.get("device_id")), skip)  # fmt: skip
        hooks = self._selected.get(key)
        if hooks is None:
            hooks = select_hooks(self.specs, context, skip)
            if len(self._selected) >= _SELECTED_MAX:
                self._selected.clear()
            self._selected[key] = hooks
        return hooks


def _scope_key(value: Any) -> Any:
    # select_hooks compares ids as str (an int 5 and "5" match alike); None never matches anything.
    return None if value is None else str(value)


class _Raised:
    """What a call that raised leaves in the result list until the batch's results are checked."""

    __slots__ = ("line", "memory", "message")

    def __init__(self, message: str, line: int | None, memory: bool) -> None:
        self.message = message
        self.line = line
        self.memory = memory


# Results that need neither a copy nor a range check: the common case, recognised for a whole batch at once.
_DONE = frozenset({float, bool, type(None)})
_SCALAR_OR_FAILED = frozenset({*SCALAR, type(FAILED)})
_GET_TAGS = frozenset({"derived_tags", "filter"})  # whole-cycle hooks whose argument is the cycle's tags
_second = itemgetter(1)


class CycleCaller:
    """Calls hooks for one cycle: fresh inputs, deadline marks, result checks, errors counted per script.

    The marker is written before every call (for a per-tag hook: the first call, then only the call
    number) and cleared once the cycle ends: the parent only kills when the marked call is past its
    deadline, and the host code between calls takes microseconds.
    Results are checked once per batch: a batch of floats, bools and Nones passes with one set of
    types; anything else is copied item by item, each under a fresh mark of its own.

    ``flat`` says the cycle's tags hold only scalars, so the hooks that get them (transform, derived_tags,
    filter, alarm) need a shallow copy and no scan. It starts from one scan of the collected values; the tags
    change only by transform results and derived_tags results (``pipeline.run_cycle``), and a list or dict
    among those clears it.
    """

    def __init__(self, hooks: HookIndex, marker: Marker, context: dict[str, Any], flat: bool) -> None:
        self.funcs = hooks.funcs
        self.files = hooks.files
        self.mark = marker.mark
        self.call_number = marker.call
        self.context = context
        self.runs: dict[int, int] = dict.fromkeys(self.funcs, 0)
        self.errors: dict[int, list[Any]] = {}
        self.restart = False
        self.flat = flat

    def call(self, spec: HookSpec, *args: Any) -> Any:
        """Call a whole-cycle hook (derived_tags, filter, pre_send) with a fresh copy of its input."""
        sid = spec.script_id
        budget = spec.timeout_ms
        budget_s = budget / 1000.0
        value = dict(args[0]) if self.flat and spec.hook_type in _GET_TAGS else fresh(args[0])
        self.runs[sid] += 1
        self.mark(spec.slot, monotonic() + budget_s, budget, 0)
        try:
            results = [self.funcs[sid](value, dict(self.context))]
        except BaseException as e:  # noqa: BLE001 - user code may raise anything, even BaseException
            results = [_Raised(describe(e), error_line(e, self.files[sid]), isinstance(e, MemoryError))]
        if type(results[0]) not in _DONE:
            self._check(spec, results, budget_s)
            out = results[0]
            if spec.hook_type == "derived_tags" and type(out) is dict and not set(map(type, out.values())) <= SCALAR:
                self.flat = False  # they join the tags
        return results[0]

    def call_each(self, spec: HookSpec, items: list[tuple[Any, Any]]) -> list[Any]:
        """Call a hook once per (name, value); each call gets its own copy of a list or dict value."""
        if not self.flat and not set(map(type, map(_second, items))) <= SCALAR:
            items = [(name, fresh(value)) for name, value in items]
        sid = spec.script_id
        func = self.funcs[sid]
        budget = spec.timeout_ms
        budget_s = budget / 1000.0
        context = dict(self.context)
        self.runs[sid] += len(items)
        results: list[Any] = []
        append = results.append
        call = self.call_number
        pending = enumerate(items, 1)
        self.mark(spec.slot, monotonic() + budget_s, budget, 0)
        while True:
            try:
                for number, (name, value) in pending:
                    call[0] = number  # each call its own budget, counted by the parent from when it sees this
                    append(func(name, value, context))
                break
            except BaseException as e:  # noqa: BLE001 - user code may raise anything, even BaseException
                append(_Raised(describe(e), error_line(e, self.files[sid]), isinstance(e, MemoryError)))
        if not set(map(type, results)) <= _DONE:
            self._check(spec, results, budget_s)
            if spec.hook_type == "transform" and not set(map(type, results)) <= _SCALAR_OR_FAILED:
                self.flat = False  # they replace tag values
        return results

    def _check(self, spec: HookSpec, results: list[Any], budget_s: float) -> None:
        """Copy each result that is not a float, bool or None to plain data; record failures in call order."""
        mark = self.mark
        budget = spec.timeout_ms
        for index, out in enumerate(results):
            kind = type(out)
            if kind in _DONE or (kind is int and INT_MIN <= out <= INT_MAX) or (kind is str and len(out) <= MAX_CHARS):
                continue
            if kind is _Raised:
                self.restart = self.restart or out.memory
                self.record(spec, out.message, out.line)
                results[index] = FAILED
                continue
            mark(spec.slot, monotonic() + budget_s, budget, 0)
            try:
                results[index] = plain_copy(out)
            except NotPlain as e:
                self.record(spec, f"bad result: {e}", None)
                results[index] = FAILED
            except MemoryError as e:
                self.restart = True
                self.record(spec, describe(e), None)
                results[index] = FAILED

    def reject(self, spec: HookSpec, message: str) -> None:
        self.record(spec, message, None)

    def record(self, spec: HookSpec, message: str, line: int | None, timeout: bool = False) -> None:
        seen = self.errors.get(spec.script_id)
        if seen is None:
            self.errors[spec.script_id] = [spec.hook_type, message, line, 1, timeout]
        else:
            seen[3] += 1
