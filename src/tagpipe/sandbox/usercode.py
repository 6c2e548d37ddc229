"""Worker-side helpers every kind of program shares: messages and lines of user errors, module bodies, functions."""

from __future__ import annotations

import types
from typing import Any

from tagpipe.sandbox.guards import script_globals
from tagpipe.sandbox.policy import compile_restricted, find_function
from tagpipe.sandbox.results import CodeError

MAX_MESSAGE = 500
# The names RestrictedPython's guards and our builtins take in a fresh namespace: never user variables.
BASE_NAMES = frozenset(script_globals("x"))


class Rejected(Exception):
    """A program that cannot be loaded: its code error, with the line when known."""

    def __init__(self, error: CodeError) -> None:
        super().__init__(error.message)
        self.error = error


class BadInput(Exception):
    """The inputs of a run lack what the kind calls the program with."""


def error_line(exc: BaseException, *filenames: str) -> int | None:
    """The line of the innermost frame of the program's own code in a traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in filenames:
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


def compile_function_module(code: str, filename: str, function: str, arity: int) -> tuple[Any, list[CodeError]]:
    """Compile a module that must define ``function`` taking ``arity`` arguments; run nothing."""
    code_obj, errors = compile_restricted(code, filename, "exec")
    if errors:
        return None, errors
    missing = find_function(code, function, arity)
    return (None, [missing]) if missing is not None else (code_obj, [])


def run_module(code_obj: Any, name: str, filename: str, prefix: str = "") -> dict[str, Any]:
    """Run a compiled module body in a fresh guarded namespace; a failure is ``Rejected`` with its line."""
    namespace = script_globals(name.replace("-", "_"))
    try:
        exec(code_obj, namespace)  # exec: restricted code object, guarded globals
    except BaseException as e:  # noqa: BLE001 - user code may raise anything
        raise Rejected(CodeError(message=prefix + describe(e), line=error_line(e, filename))) from None
    return namespace


def function_of(namespace: dict[str, Any], function: str) -> Any:
    """The function a module body defined under ``function``."""
    func = namespace.get(function)
    if not isinstance(func, types.FunctionType):
        raise Rejected(CodeError(message=f"the script must define a function named {function}"))
    return func
