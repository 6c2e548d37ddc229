"""The calc kind: a calculated-tag script (seed 002) with initialization code, calculation code and outputs.

Loading runs the initialization code once; the plain-data variables it leaves are the script's state. A run
binds the inputs as variables (and the ``inputs`` dict, and ``context``), runs the calculation code, reads each
output's expression, and hands back the state variables' new values. Functions, classes and modules the
initialization code defines are code, not state: they are made again whenever the script is loaded. A variable
the calculation code creates lives for that run only: to keep one, give it a value in the initialization code.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tagpipe.sandbox.guards import GuardedType
from tagpipe.sandbox.modules import CuratedModule
from tagpipe.sandbox.plain import fresh, plain_copy
from tagpipe.sandbox.policy import compile_restricted
from tagpipe.sandbox.program import Kind, Program
from tagpipe.sandbox.results import CodeError
from tagpipe.sandbox.usercode import BASE_NAMES, run_module

INIT = "initialization code: "
# What initialization code may define besides state: code, made again at every load.
_CODE_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type, CuratedModule, GuardedType)


@dataclass(frozen=True, kw_only=True)
class CalcProgram(Program):
    """``code`` is the calculation code; ``outputs`` maps each output name to a variable or an expression."""

    kind: ClassVar[str] = "calc"

    init: str = ""
    outputs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "outputs", dict(self.outputs))


def _identifier(name: Any) -> bool:
    return type(name) is str and name.isidentifier() and not name.startswith("_")


def state_of(namespace: dict[str, Any]) -> dict[str, Any]:
    """The variables of a namespace that are state: not guards, not private, not code."""
    return {k: v for k, v in namespace.items()
            if k not in BASE_NAMES and not k.startswith("_") and not isinstance(v, _CODE_TYPES)}  # fmt: skip


class CalcRunner:
    """One loaded calc script: the namespace its initialization code made, with the state variables in it.

    Which variables are state is settled at load: a state variable that a run sets to something else than plain
    data (a function, a set) makes the run fail; it is never dropped from the state.
    """

    __slots__ = ("calc", "code", "files", "names", "namespace", "outputs", "state_names")

    def __init__(self, namespace: dict[str, Any], calc: Any, outputs: list[tuple[str, Any]], files: dict[str, str]):
        self.namespace = namespace
        self.calc = calc
        self.outputs = outputs
        self.files = files
        # What the namespace holds besides state, put back after every run: guards, functions, modules.
        self.code = {k: v for k, v in namespace.items() if k in BASE_NAMES or isinstance(v, _CODE_TYPES)}
        self.state_names = frozenset(state_of(namespace))
        self.names = frozenset(namespace)

    def run(self, inputs: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        ns = self.namespace
        try:
            code = self.code
            for name, value in inputs.items():
                if _identifier(name) and name not in code:  # an input never hides a function or module
                    ns[name] = value
            ns["inputs"] = inputs
            ns["context"] = context
            exec(self.calc, ns)  # exec: restricted code object, guarded globals
            return {name: eval(expression, ns) for name, expression in self.outputs}
        finally:
            for name in [k for k in ns if k not in self.names]:
                del ns[name]  # the run's own variables and its inputs
            ns.update(self.code)

    def state(self) -> dict[str, Any]:
        ns = self.namespace
        return {name: ns[name] for name in self.state_names if name in ns}

    def restore(self, state: dict[str, Any]) -> None:
        ns = self.namespace
        for name in self.state_names:
            ns.pop(name, None)
        kept = {k: v for k, v in state.items() if _identifier(k) and k not in self.code}
        ns.update(fresh(kept))
        self.state_names = frozenset(kept)
        self.names = frozenset(ns)


def _compile(program: CalcProgram, filename: str) -> tuple[Any, list[CodeError]]:
    init, errors = compile_restricted(program.init, filename[:-1] + " init>", "exec")
    if errors:
        return None, [CodeError(message=INIT + e.message, line=e.line) for e in errors]
    calc, errors = compile_restricted(program.code, filename, "exec")
    if errors:
        return None, errors
    outputs = []
    for name, expression in program.outputs.items():
        if type(name) is not str or not name:
            return None, [CodeError(message=f"output names must be non-empty str, got {name!r}")]
        code_obj, errors = compile_restricted(expression, f"{filename[:-1]} output {name}>", "eval")
        if errors:
            return None, [CodeError(message=f"output {name!r}: {errors[0].message}")]
        outputs.append((name, code_obj))
    return (init, calc, outputs), []


def _load(program: CalcProgram, compiled: Any, filename: str, state: dict[str, Any] | None) -> CalcRunner:
    init, calc, outputs = compiled
    init_file = filename[:-1] + " init>"
    namespace = run_module(init, f"calc_{program.id}", init_file, INIT)
    files = {filename: "calculation code", init_file: "initialization code"}
    files.update((expression.co_filename, f"output {name!r}") for name, expression in outputs)
    runner = CalcRunner(namespace, calc, outputs, files)
    if state is not None:
        runner.restore({**runner.state(), **state})  # variables a new version's initialization adds keep their value
    return runner


def _check(program: CalcProgram, out: Any) -> Any:
    return plain_copy(out)


CALC = Kind(
    name="calc", program=CalcProgram, compile=_compile, load=_load, check=_check, stateful=True,
    description="A calculated-tag script (seed 002): initialization code once, calculation code per run, outputs.",
    inputs="the input values by variable name (also visible as the dict ``inputs``)",
    result="the outputs by name: each output's expression, read after the calculation code ran",
)  # fmt: skip
