"""The alarm_condition kind: an expression, or ``condition(values, context)``, over several tags' values -> bool.

An expression sees each value whose name is an identifier as a variable (``temperature > 80 and running``),
and all of them as the dict ``values`` (``values["line 3 speed"] < 5``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, ClassVar

from tagpipe.sandbox.guards import script_globals
from tagpipe.sandbox.policy import compile_restricted
from tagpipe.sandbox.program import Kind, Program
from tagpipe.sandbox.results import CodeError
from tagpipe.sandbox.usercode import compile_function_module, function_of, run_module

EXAMPLE = "temperature > 80 and running"
EXAMPLE_FUNCTION = '''\
def condition(values, context):
    """Too hot while running, or the pressure sensor is missing."""
    if values.get("pressure") is None:
        return True
    return values["temperature"] > 80 and values["running"] == 1
'''


@dataclass(frozen=True, kw_only=True)
class ConditionProgram(Program):
    """``code`` is one expression, or a module defining ``condition(values, context)``."""

    kind: ClassVar[str] = "alarm_condition"


def is_expression(code: str) -> bool:
    """Tell an expression from a module: what parses as an expression is one."""
    try:
        ast.parse(code, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


class ExpressionRunner:
    __slots__ = ("code", "files", "globals")

    def __init__(self, code: Any, filename: str, name: str) -> None:
        self.code = code
        self.files = {filename: "condition"}
        self.globals = script_globals(name)

    def run(self, inputs: dict[str, Any], context: dict[str, Any]) -> Any:
        ns = dict(self.globals)
        ns.update((k, v) for k, v in inputs.items() if type(k) is str and k.isidentifier() and k[0] != "_")
        ns["values"] = inputs
        ns["context"] = context
        return eval(self.code, ns)


class FunctionRunner:
    __slots__ = ("files", "func")

    def __init__(self, func: Any, filename: str) -> None:
        self.func = func
        self.files = {filename: "condition"}

    def run(self, inputs: dict[str, Any], context: dict[str, Any]) -> Any:
        return self.func(inputs, context)


def _compile(program: ConditionProgram, filename: str) -> tuple[Any, list[CodeError]]:
    if type(program.code) is str and is_expression(program.code):
        code_obj, errors = compile_restricted(program.code, filename, "eval")
        return ("expression", code_obj), errors
    code_obj, errors = compile_function_module(program.code, filename, "condition", 2)
    return ("function", code_obj), errors


def _load(program: ConditionProgram, compiled: Any, filename: str, state: dict[str, Any] | None) -> Any:
    form, code_obj = compiled
    name = f"condition_{program.id}".replace("-", "_")
    if form == "expression":
        return ExpressionRunner(code_obj, filename, name)
    return FunctionRunner(function_of(run_module(code_obj, name, filename), "condition"), filename)


def _check(program: ConditionProgram, out: Any) -> bool:
    kind = type(out)
    if kind is bool:
        return bool(out)
    if kind is int or kind is float:
        return bool(out != 0)
    raise ValueError(f"an alarm condition must give True or False, not a {kind.__name__}")


ALARM_CONDITION = Kind(
    name="alarm_condition", program=ConditionProgram, compile=_compile, load=_load, check=_check,
    description="An alarm condition over several tags: an expression, or condition(values, context), giving a bool.",
    inputs="the tags' values by name",
    result="True when the alarm condition holds (a number counts as true when it is not 0)",
)  # fmt: skip
