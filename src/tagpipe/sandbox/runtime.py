"""The worker's engine: programs of every kind by slot, hooks in collection cycles, runs, dry runs and validation.

A slot is the number the pool gives a loaded program, the same in every worker; the worker writes it to the
deadline marker while the program's code runs, so the parent knows whom to blame when it has to kill.
"""

from __future__ import annotations

import time
from typing import Any, cast

from tagpipe.sandbox.cycle import SCALAR, CycleCaller, HookIndex
from tagpipe.sandbox.guards import CAPTURE
from tagpipe.sandbox.hooks import HookProgram, HookRunner
from tagpipe.sandbox.kinds import kind_of
from tagpipe.sandbox.marker import COMPILE_ID, DRY_RUN_ID, Marker
from tagpipe.sandbox.pipeline import HookSpec, run_cycle
from tagpipe.sandbox.plain import NotPlain, keep_state
from tagpipe.sandbox.program import Kind, Program, Runner, StatefulRunner
from tagpipe.sandbox.results import CodeError
from tagpipe.sandbox.trace import Tracer
from tagpipe.sandbox.usercode import BadInput, Rejected, describe, error_line

COMPILE_BUDGET_MS = 3000
NOT_LOADED = "the program is not loaded"


def _code_error(err: CodeError) -> dict[str, Any]:
    return {"message": err.message, "line": err.line}


class Loaded:
    """One program in the worker: its runner and, for a stateful kind, the last state a run left good."""

    __slots__ = ("good", "kind", "program", "runner")

    def __init__(self, kind: Kind, program: Program, runner: Runner, good: dict[str, Any] | None) -> None:
        self.kind = kind
        self.program = program
        self.runner = runner
        self.good = good

    def restore(self, state: dict[str, Any]) -> None:
        """Put ``state`` (plain, already checked) back into the program and keep it as the good one."""
        cast(StatefulRunner, self.runner).restore(state)
        self.good = state


def _where(exc: BaseException, files: dict[str, str]) -> tuple[str, int | None]:
    """A prefix naming the part of the program that raised, unless it is the main code, and its line."""
    place = ""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in files:
            place = name
        tb = tb.tb_next
    if not place:
        return "", None
    label = "" if place == next(iter(files)) else files[place] + ": "
    return label, error_line(exc, place)


class Runtime:
    """Everything the worker holds: the loaded programs and the marker it writes before user code runs."""

    def __init__(self, marker: Marker) -> None:
        self.marker = marker
        self.programs: dict[int, Loaded] = {}
        self.hooks = HookIndex()

    # -- loading -----------------------------------------------------------------------------

    def load(self, scripts: list[dict[str, Any]]) -> dict[str, Any]:
        """Replace every loaded hook with these script dicts, each in the slot of its id; errors by script id."""
        self.drop([slot for slot, loaded in self.programs.items() if loaded.kind.name == "hook"])
        items = [[int(s["id"]), "hook", HookProgram.from_script(s).fields(), None] for s in scripts]
        return {"errors": self.add(items)["errors"]}

    def add(self, items: list[list[Any]]) -> dict[str, Any]:
        """Load ``[slot, kind, fields, state]`` items, each replacing what its slot held; errors and states by slot.

        A stateful program runs its initialization code; ``state`` (when not None) then goes over what it made.
        """
        errors: dict[int, dict[str, Any]] = {}
        states: dict[int, dict[str, Any]] = {}
        for slot, kind_name, fields, state in items:
            self.programs.pop(slot, None)
            try:
                kind = kind_of(kind_name)
                program = kind.build(fields)
            except (TypeError, ValueError) as e:
                errors[slot] = {"message": f"bad program: {e}", "line": None}
                continue
            loaded, err = self._build(slot, kind, program, state)
            if loaded is None:
                errors[slot] = _code_error(err or CodeError(message="not loaded"))
                continue
            self.programs[slot] = loaded
            if loaded.good is not None:
                states[slot] = loaded.good
        self._index_hooks()
        return {"errors": errors, "states": states}

    def drop(self, slots: list[int]) -> None:
        """Unload the programs in these slots (an empty slot is fine)."""
        for slot in slots:
            self.programs.pop(slot, None)
        self._index_hooks()

    def _index_hooks(self) -> None:
        hooks = []
        for slot, loaded in self.programs.items():
            program = loaded.program
            if isinstance(program, HookProgram):
                runner = cast(HookRunner, loaded.runner)
                spec = HookSpec(script_id=program.id, hook_type=program.hook_type, scope=program.scope,
                                equipment_id=program.equipment_id, connection_id=program.connection_id,
                                device_id=program.device_id, priority=program.priority,
                                timeout_ms=program.timeout_ms, slot=slot)  # fmt: skip
                hooks.append((spec, runner.func, next(iter(runner.files))))
        self.hooks.set(hooks)

    def _build(
        self, slot: int, kind: Kind, program: Program, state: dict[str, Any] | None
    ) -> tuple[Loaded | None, CodeError | None]:
        """Compile (under the compile budget), then run the module body or initialization code (under its own)."""
        filename = f"<{kind.name} {program.id}>"
        self.marker.enter(COMPILE_ID if slot == DRY_RUN_ID else slot, COMPILE_BUDGET_MS)
        try:
            compiled, errors = kind.compile(program, filename)
        finally:
            self.marker.leave()
        if errors:
            return None, errors[0]
        self.marker.enter(slot, program.timeout_ms)
        try:
            runner = kind.load(program, compiled, filename, state)
            good = keep_state(cast(StatefulRunner, runner).state()) if kind.stateful else None
        except Rejected as r:
            return None, r.error
        except NotPlain as e:
            return None, CodeError(message=str(e))
        except BaseException as e:  # noqa: BLE001 - user code may raise anything
            return None, CodeError(message=describe(e), line=error_line(e, filename))
        finally:
            self.marker.leave()
        return Loaded(kind, program, runner, good), None

    # -- running -----------------------------------------------------------------------------

    def cycle(self, payload: dict[str, Any], context: dict[str, Any], skip: list[int]) -> dict[str, Any]:
        """Run one collection cycle through every applicable hook."""
        hooks = self.hooks.select(context, frozenset(skip))
        tags = payload.get("tags")
        flat = type(tags) is dict and set(map(type, tags.values())) <= SCALAR
        caller = CycleCaller(self.hooks, self.marker, {k: v for k, v in context.items() if type(v) in SCALAR}, flat)
        try:
            result, alarms = run_cycle(payload, hooks, caller)
        finally:
            self.marker.leave()
        CAPTURE.take()
        errors = [[sid, *info] for sid, info in caller.errors.items()]
        runs = [[sid, n] for sid, n in caller.runs.items() if n]
        return {"p": result, "a": alarms, "e": errors, "r": runs, "x": caller.restart}

    def run(
        self, slot: int, inputs: dict[str, Any], context: dict[str, Any], state: dict[str, Any] | None, trace: bool
    ) -> list[Any]:
        """Run the program in ``slot`` once (after putting ``state`` in, when the pool sends one).

        ``[ok, result, prints, duration_ms, error, line, state, trace, restart]``; ``state`` is the new state
        after a good run of a stateful program, else None (the worker went back to the last good one).
        """
        loaded = self.programs.get(slot)
        if loaded is None:
            return [False, None, "", 0.0, NOT_LOADED, None, None, None, False]
        if state is not None and loaded.good is not None:
            loaded.restore(state)
        return self._call(slot, loaded, inputs, context, trace)

    def _call(self, slot: int, loaded: Loaded, inputs: Any, context: Any, trace: bool) -> list[Any]:
        runner, kind, program = loaded.runner, loaded.kind, loaded.program
        if type(inputs) is not dict or type(context) is not dict:
            return [False, None, "", 0.0, "inputs and context must be dicts", None, None, None, False]
        CAPTURE.take()
        tracer = Tracer(runner.files) if trace else None
        stage = "run"
        ok, out, state, error, line, restart = False, None, None, None, None, False
        self.marker.enter(slot, program.timeout_ms)
        started = time.perf_counter()
        try:
            if tracer is None:
                out = runner.run(inputs, context)
            else:
                with tracer:
                    out = runner.run(inputs, context)
            duration = (time.perf_counter() - started) * 1000
            stage = "check"
            out = kind.check(program, out)
            stage = "state"
            if loaded.good is not None:
                state = keep_state(cast(StatefulRunner, runner).state())
            ok = True
        except BaseException as e:  # noqa: BLE001 - user code may raise anything, even BaseException
            duration = (time.perf_counter() - started) * 1000
            out, restart = None, isinstance(e, MemoryError)
            if stage == "run" and isinstance(e, BadInput):
                error = str(e)
            elif stage == "run":
                place, line = _where(e, runner.files)
                error = place + describe(e)
            elif isinstance(e, NotPlain) and stage == "check":
                error = f"bad result: {e}"
            else:
                error = str(e) if isinstance(e, ValueError) else describe(e)
        finally:
            self.marker.leave()
        if not ok and loaded.good is not None:
            loaded.restore(loaded.good)  # a failed run leaves nothing behind
        else:
            loaded.good = state if state is not None else loaded.good
        steps = None
        if tracer is not None:
            steps = tracer.steps + ([{"truncated": True}] if tracer.truncated else [])
        return [ok, out, CAPTURE.take(), duration, error, line, state, steps, restart]

    # -- editing support ---------------------------------------------------------------------

    def validate(self, code: str, hook_type: str) -> list[dict[str, Any]]:
        """Compile errors and a missing hook function, without running anything."""
        return self.check("hook", {"id": DRY_RUN_ID, "code": code, "hook_type": hook_type})

    def check(self, kind_name: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
        """A program's compile errors (with lines) and what its kind checks statically; nothing runs."""
        try:
            kind = kind_of(kind_name)
            program = kind.build(fields)
        except (TypeError, ValueError) as e:
            return [{"message": f"bad program: {e}", "line": None}]
        self.marker.enter(COMPILE_ID, COMPILE_BUDGET_MS)
        try:
            _, errors = kind.compile(program, f"<{kind.name} {program.id}>")
        finally:
            self.marker.leave()
        return [_code_error(e) for e in errors]

    def dry_run(
        self, code: str, hook_type: str, test_input: dict[str, Any], context: dict[str, Any], timeout_ms: float
    ) -> dict[str, Any]:
        """Compile hook ``code`` apart from the loaded programs and call its hook once with ``test_input``."""
        fields = {"id": DRY_RUN_ID, "code": code, "hook_type": hook_type, "timeout_ms": timeout_ms}
        return self.try_run("hook", fields, test_input, context, None, False)

    def try_run(
        self, kind_name: str, fields: dict[str, Any], inputs: dict[str, Any], context: dict[str, Any],
        state: dict[str, Any] | None, trace: bool,
    ) -> dict[str, Any]:  # fmt: skip
        """Load a program apart from the loaded ones (``state`` over its own) and run it once."""
        CAPTURE.take()
        try:
            kind = kind_of(kind_name)
            program = kind.build(fields)
        except (TypeError, ValueError) as e:
            return {"ok": False, "error": f"bad program: {e}", "line": None, "prints": "", "duration_ms": 0.0}
        loaded, err = self._build(DRY_RUN_ID, kind, program, state)
        if loaded is None:
            err = err or CodeError(message="not loaded")
            return {"ok": False, "error": err.message, "line": err.line, "prints": CAPTURE.take(), "duration_ms": 0.0}
        before = loaded.good
        ok, out, prints, duration, error, line, after, steps, restart = self._call(
            DRY_RUN_ID, loaded, inputs, context, trace)
        timeout = ok and duration > program.timeout_ms
        if timeout:
            ok, out, error = False, None, f"timed out after {program.timeout_ms:g} ms"
        return {"ok": ok, "result": out, "prints": prints, "duration_ms": duration, "error": error, "line": line,
                "state": after if ok else before, "trace": steps, "x": restart, "timeout": timeout}  # fmt: skip
