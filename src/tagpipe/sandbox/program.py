"""What the sandbox runs: a program (an id within its kind, code, a time budget) and the declaration of a kind.

A kind is one entry of ``kinds.KINDS``: its program class (the fields the program has besides id, code and
budget), how its code is compiled and checked before anything runs, how it is loaded (its module body or
initialization code runs), what a run calls it with, and how the result is checked. The pool and the worker
know nothing else about kinds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from tagpipe.sandbox.results import CodeError, ProgramId, ProgramKey

MAX_TIMEOUT_MS = 60_000


@dataclass(frozen=True, kw_only=True)
class Program:
    """One program: an id unique within its kind, its code and the time one run may take."""

    kind: ClassVar[str] = ""

    id: ProgramId
    code: str
    timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if type(self.id) not in (int, str):
            raise TypeError(f"a program id is an int or a str, not {type(self.id).__name__}")
        object.__setattr__(self, "timeout_ms", max(1, min(int(self.timeout_ms), MAX_TIMEOUT_MS)))

    @property
    def key(self) -> ProgramKey:
        return (self.kind, self.id)

    def fields(self) -> dict[str, Any]:
        """The plain data that goes to the worker, from which it builds the same program."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


class Runner(Protocol):
    """A loaded program inside the worker: ``run`` raises what the user code raised."""

    # file name of each code object → what it is ("calculation", "initialization", ...), for lines and traces
    files: dict[str, str]

    def run(self, inputs: dict[str, Any], context: dict[str, Any]) -> Any: ...


class StatefulRunner(Runner, Protocol):
    """A runner whose variables outlive a run: read after each run, put back after a failure or a restart."""

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Kind:
    """The declaration of one kind of program; see the module docstring."""

    name: str
    program: type[Program]
    description: str
    inputs: str  # what ``inputs`` of a run holds
    result: str  # what a run gives back
    stateful: bool = False
    # (program, file name) -> (compiled, errors): restricted compile and static checks; no user code runs.
    compile: Callable[[Any, str], tuple[Any, list[CodeError]]]
    # (program, compiled, file name, state or None) -> runner: runs the module body or initialization code
    # (the caller marks the deadline); raises usercode.Rejected. A stateful kind puts ``state`` over its own.
    load: Callable[[Any, Any, str, dict[str, Any] | None], Runner]
    # (program, result) -> the result as plain data of the kind's shape; raises ValueError (NotPlain too).
    check: Callable[[Any, Any], Any]

    def build(self, fields: dict[str, Any]) -> Program:
        """The program from what ``Program.fields`` sent; TypeError or ValueError when the fields are wrong."""
        return self.program(**fields)
