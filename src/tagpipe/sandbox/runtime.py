"""The worker's engine: compiled scripts, guarded calls with deadline marks, cycles, dry runs and validation."""

from __future__ import annotations

import logging
import time
import types
from operator import itemgetter
from time import monotonic
from typing import Any

from tagpipe.sandbox.guards import CAPTURE, script_globals
from tagpipe.sandbox.hooks import HOOK_TYPES
from tagpipe.sandbox.marker import COMPILE_ID, DRY_RUN_ID, Marker
from tagpipe.sandbox.pipeline import FAILED, HookSpec, run_cycle, select_hooks
from tagpipe.sandbox.plain import INT_MAX, INT_MIN, MAX_CHARS, NotPlain, fresh, plain_copy
from tagpipe.sandbox.policy import compile_hook, find_function
from tagpipe.sandbox.results import CodeError

logger = logging.getLogger(__name__)

COMPILE_BUDGET_MS = 3000
MAX_MESSAGE = 500
_SCALAR = {type(None), bool, int, float, str}


def _filename(script_id: int) -> str:
    return f"<hook {script_id}>"


def error_line(exc: BaseException, filename: str) -> int | None:
    """The line of the innermost frame of the script's own code in a traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe(exc: BaseException) -> str:
    """``Type: message`` for an exception raised by user code, shortened, never raising."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - a script's own __str__ may fail
        text = type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _code_error(err: CodeError) -> dict[str, Any]:
    return {"message": err.message, "line": err.line}


class _Loaded:
    __slots__ = ("filename", "func", "spec")

    def __init__(self, spec: HookSpec, func: Any, filename: str) -> None:
        self.spec = spec
        self.func = func
        self.filename = filename


class _Raised:
    """What a call that raised leaves in the result list until the batch's results are checked."""

    __slots__ = ("line", "memory", "message")

    def __init__(self, message: str, line: int | None, memory: bool) -> None:
        self.message = message
        self.line = line
        self.memory = memory


# Results that need neither a copy nor a range check: the common case, recognised for a whole batch at once.
_DONE = frozenset({float, bool, type(None)})
_SCALAR_OR_FAILED = frozenset({*_SCALAR, type(FAILED)})
_GET_TAGS = frozenset({"derived_tags", "filter"})  # whole-cycle hooks whose argument is the cycle's tags
_second = itemgetter(1)


class _CycleCaller:
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

    def __init__(self, runtime: Runtime, context: dict[str, Any], flat: bool) -> None:
        self.funcs = runtime.funcs
        self.files = runtime.files
        self.mark = runtime.marker.mark
        self.call_number = runtime.marker.call
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
        self.mark(sid, monotonic() + budget_s, budget, 0)
        try:
            results = [self.funcs[sid](value, dict(self.context))]
        except BaseException as e:  # noqa: BLE001 - user code may raise anything, even BaseException
            results = [_Raised(describe(e), error_line(e, self.files[sid]), isinstance(e, MemoryError))]
        if type(results[0]) not in _DONE:
            self._check(spec, results, budget_s)
            out = results[0]
            if spec.hook_type == "derived_tags" and type(out) is dict and not set(map(type, out.values())) <= _SCALAR:
                self.flat = False  # they join the tags
        return results[0]

    def call_each(self, spec: HookSpec, items: list[tuple[Any, Any]]) -> list[Any]:
        """Call a hook once per (name, value); each call gets its own copy of a list or dict value."""
        if not self.flat and not set(map(type, map(_second, items))) <= _SCALAR:
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
        self.mark(sid, monotonic() + budget_s, budget, 0)
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
        sid = spec.script_id
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
            mark(sid, monotonic() + budget_s, budget, 0)
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


class Runtime:
    """Everything the worker holds: the loaded scripts and the marker it writes before user code runs."""

    def __init__(self, marker: Marker) -> None:
        self.marker = marker
        self.loaded: dict[int, _Loaded] = {}
        self.specs: list[HookSpec] = []
        self.funcs: dict[int, Any] = {}
        self.files: dict[int, str] = {}
        self._selected: dict[tuple[Any, ...], dict[str, list[HookSpec]]] = {}

    def _select(self, context: dict[str, Any], skip: frozenset[int]) -> dict[str, list[HookSpec]]:
        """``select_hooks`` for this context, remembered per scope ids and skip set until the next load."""
        key = (_scope_key(context.get("equipment_id")), _scope_key(context.get("connection_id")),
               _scope_key(context.get("device_id")), skip)  # fmt: skip
        hooks = self._selected.get(key)
        if hooks is None:
            hooks = select_hooks(self.specs, context, skip)
            if len(self._selected) >= _SELECTED_MAX:
                self._selected.clear()
            self._selected[key] = hooks
        return hooks

    def _build(self, script_id: int, code: str, hook_type: str, budget_ms: float) -> tuple[Any, CodeError | None]:
        """Compile, run the module body and fetch the hook function."""
        hook = HOOK_TYPES.get(hook_type)
        if hook is None:
            return None, CodeError(message=f"unknown hook type {hook_type!r}")
        filename = _filename(script_id)
        self.marker.enter(COMPILE_ID if script_id == DRY_RUN_ID else script_id, COMPILE_BUDGET_MS)
        try:
            code_obj, errors = compile_hook(code, filename)
            if errors:
                return None, errors[0]
            missing = find_function(code, hook.function, len(hook.arguments))
            if missing is not None:
                return None, missing
        finally:
            self.marker.leave()
        namespace = script_globals(f"hook_{script_id}".replace("-", "_"))
        self.marker.enter(script_id, budget_ms)
        try:
            exec(code_obj, namespace)  # noqa: S102 - restricted code object, guarded globals
        except BaseException as e:  # noqa: BLE001
            return None, CodeError(message=describe(e), line=error_line(e, filename))
        finally:
            self.marker.leave()
        func = namespace.get(hook.function)
        if not isinstance(func, types.FunctionType):
            return None, CodeError(message=f"the script must define a function named {hook.function}")
        return func, None

    def load(self, scripts: list[dict[str, Any]]) -> dict[str, Any]:
        """Replace all loaded scripts; return the errors of those that do not compile."""
        self.loaded = {}
        errors: dict[int, dict[str, Any]] = {}
        for script in scripts:
            spec = HookSpec.from_mapping(script)
            func, err = self._build(spec.script_id, script.get("code", ""), spec.hook_type, spec.timeout_ms)
            if err is not None:
                errors[spec.script_id] = _code_error(err)
                continue
            self.loaded[spec.script_id] = _Loaded(spec, func, _filename(spec.script_id))
        self.specs = [entry.spec for entry in self.loaded.values()]
        self.funcs = {sid: entry.func for sid, entry in self.loaded.items()}
        self.files = {sid: entry.filename for sid, entry in self.loaded.items()}
        self._selected.clear()
        return {"errors": errors}

    def cycle(self, payload: dict[str, Any], context: dict[str, Any], skip: list[int]) -> dict[str, Any]:
        """Run one collection cycle through every applicable hook."""
        hooks = self._select(context, frozenset(skip))
        tags = payload.get("tags")
        flat = type(tags) is dict and set(map(type, tags.values())) <= _SCALAR
        caller = _CycleCaller(self, {k: v for k, v in context.items() if type(v) in _SCALAR}, flat)
        try:
            result, alarms = run_cycle(payload, hooks, caller)
        finally:
            self.marker.leave()
        CAPTURE.take()
        errors = [[sid, *info] for sid, info in caller.errors.items()]
        runs = [[sid, n] for sid, n in caller.runs.items() if n]
        return {"p": result, "a": alarms, "e": errors, "r": runs, "x": caller.restart}

    def validate(self, code: str, hook_type: str) -> list[dict[str, Any]]:
        """Compile errors and a missing hook function, without running anything."""
        hook = HOOK_TYPES.get(hook_type)
        if hook is None:
            return [{"message": f"unknown hook type {hook_type!r}", "line": None}]
        self.marker.enter(COMPILE_ID, COMPILE_BUDGET_MS)
        try:
            _, errors = compile_hook(code, _filename(DRY_RUN_ID))
            if not errors:
                missing = find_function(code, hook.function, len(hook.arguments))
                errors = [missing] if missing else []
        finally:
            self.marker.leave()
        return [_code_error(e) for e in errors]

    def dry_run(
        self, code: str, hook_type: str, test_input: dict[str, Any], context: dict[str, Any], timeout_ms: float
    ) -> dict[str, Any]:
        """Compile ``code`` apart from the loaded scripts and call its hook once with ``test_input``."""
        CAPTURE.take()
        func, err = self._build(DRY_RUN_ID, code, hook_type, timeout_ms)
        if err is not None:
            return {"ok": False, "error": err.message, "line": err.line, "prints": CAPTURE.take()}
        hook = HOOK_TYPES[hook_type]
        names = ("tag_name", "value") if hook_type == "alarm" else hook.arguments[:-1]
        if hook_type == "transform":
            names = ("tag_name", "raw_value")
        missing = [n for n in names if n not in test_input]
        if missing:
            return {"ok": False, "error": f"test_input needs {', '.join(missing)}", "line": None, "prints": ""}
        args = [fresh(test_input[n]) for n in names]
        filename = _filename(DRY_RUN_ID)
        self.marker.enter(DRY_RUN_ID, timeout_ms)
        started = time.perf_counter()
        try:
            out = func(*args, fresh(context))
            duration = (time.perf_counter() - started) * 1000
            out = plain_copy(out)
        except NotPlain as e:
            return self._dry_error(f"bad result: {e}", None, started)
        except MemoryError as e:
            return {**self._dry_error(describe(e), error_line(e, filename), started), "x": True}
        except BaseException as e:  # noqa: BLE001
            return self._dry_error(describe(e), error_line(e, filename), started)
        finally:
            self.marker.leave()
        if duration > timeout_ms:
            return self._dry_error(f"timed out after {timeout_ms:g} ms", None, started)
        problem = _check_shape(hook_type, out)
        if problem:
            return self._dry_error(problem, None, started)
        return {"ok": True, "result": out, "prints": CAPTURE.take(), "duration_ms": duration}

    def _dry_error(self, message: str, line: int | None, started: float) -> dict[str, Any]:
        duration = (time.perf_counter() - started) * 1000
        return {"ok": False, "error": message, "line": line, "prints": CAPTURE.take(), "duration_ms": duration}


_SELECTED_MAX = 64


def _scope_key(value: Any) -> Any:
    # select_hooks compares ids as str (an int 5 and "5" match alike); None never matches anything.
    return None if value is None else str(value)


def _check_shape(hook_type: str, out: Any) -> str | None:
    if hook_type == "derived_tags" and out is not None and type(out) is not dict:
        return "derived_tags must return a dict of tag name to value"
    if hook_type == "alarm" and out and type(out) is not dict:
        return "alarm must return a dict or None"
    if hook_type == "pre_send" and out is not None and type(out) is not dict:
        return "pre_send must return the payload dict or None"
    return None
