"""Restricted compilation: RestrictedPython's transformer plus our import, ``**`` and dunder-method rules."""

from __future__ import annotations

import ast
import re
import types
from typing import Any

from RestrictedPython.compile import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from tagpipe.sandbox.modules import MODULES
from tagpipe.sandbox.results import CodeError

MAX_CODE_CHARS = 100_000

# Special methods that would run script code at surprising times or change how objects are built.
_DENIED_METHODS = frozenset({
    "__del__", "__getattr__", "__getattribute__", "__setattr__", "__delattr__", "__init_subclass__",
    "__class_getitem__", "__set_name__", "__new__", "__reduce__", "__reduce_ex__", "__getstate__",
    "__setstate__", "__instancecheck__", "__subclasscheck__", "__get__", "__set__", "__delete__",
    "__mro_entries__", "__prepare__", "__format__", "__index__", "__dir__", "__subclasshook__",
})  # fmt: skip

_LINE = re.compile(r"^Line (\d+): ")


class HookPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, also checking imports at save time and routing ``**`` through a cap."""

    def _check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                self.error(node, "relative imports are not allowed")
                return
            module = MODULES.get(node.module or "")
            if module is None:
                self.error(node, f'import of "{node.module}" is not allowed (allowed: {", ".join(sorted(MODULES))})')
                return
            for alias in node.names:
                if alias.name not in module.exports():
                    self.error(node, f'cannot import "{alias.name}" from "{node.module}"')
            return
        for alias in node.names:
            if alias.name not in MODULES:
                self.error(node, f'import of "{alias.name}" is not allowed (allowed: {", ".join(sorted(MODULES))})')

    def visit_Import(self, node: ast.Import) -> Any:
        self._check_import(node)
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        self._check_import(node)
        return super().visit_ImportFrom(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        if node.name in _DENIED_METHODS:
            self.error(node, f'defining "{node.name}" is not allowed')
        return super().visit_FunctionDef(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        if isinstance(node.op, ast.Pow):
            call = ast.Call(func=ast.Name("_pow_", ast.Load()), args=[node.left, node.right], keywords=[])
            copy_locations(call, node)
            return call
        return node


def _short(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."


def _code_error(message: str) -> CodeError:
    match = _LINE.match(message)
    if match:
        return CodeError(message=_short(message[match.end():]), line=int(match.group(1)))
    return CodeError(message=_short(message))


def compile_hook(code: str, filename: str) -> tuple[types.CodeType | None, list[CodeError]]:
    """Compile a script under the hook policy; any failure (even RecursionError) becomes a CodeError."""
    return compile_restricted(code, filename, "exec")


def compile_restricted(code: str, filename: str, mode: str) -> tuple[types.CodeType | None, list[CodeError]]:
    """Compile statements (``exec``) or one expression (``eval``) under the policy every kind of program shares."""
    if type(code) is not str:
        return None, [CodeError(message="code must be a str")]
    if len(code) > MAX_CODE_CHARS:
        return None, [CodeError(message=f"code longer than {MAX_CODE_CHARS} characters")]
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(code, filename=filename, policy=HookPolicy)
    except SyntaxError as e:
        return None, [CodeError(message=_short(f"{type(e).__name__}: {e.msg}"), line=e.lineno)]
    except RecursionError:
        return None, [CodeError(message="code is nested too deeply")]
    except MemoryError:
        return None, [CodeError(message="code is too large to compile")]
    except Exception as e:  # noqa: BLE001 - any compiler failure is a clean rejection
        return None, [CodeError(message=_short(f"cannot compile: {type(e).__name__}: {e}"))]
    if result.errors:
        return None, [_code_error(m) for m in result.errors]
    return result.code, []


def find_function(code: str, function: str, arity: int) -> CodeError | None:
    """Check statically that the module defines ``function`` taking ``arity`` positional arguments."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None  # compile_hook reports it
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            args = node.args
            positional = len(args.posonlyargs) + len(args.args)
            required = positional - len(args.defaults)
            if required > arity or (positional < arity and args.vararg is None):
                return CodeError(
                    message=f"{function} must take {arity} arguments", line=node.lineno
                )
            return None
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == function for t in node.targets
        ):
            return None
    return CodeError(message=f"the script must define a function named {function}")
