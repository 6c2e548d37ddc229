"""A debug run's trace: after each line of the program's own code, the variables it changed and what it printed.

Runs in the worker with ``sys.settrace`` for one run only, inside the run's deadline. Values are shown without
calling any user code (no ``repr`` of a script's object), shortened, and the number of steps is capped.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any, Self

from tagpipe.sandbox.guards import CAPTURE
from tagpipe.sandbox.modules import CuratedModule
from tagpipe.sandbox.usercode import BASE_NAMES

MAX_STEPS = 1_000
MAX_ITEMS = 20
MAX_TEXT = 200
MAX_DEPTH = 3
_PLAIN = (type(None), bool, float)
_SEQUENCES = (list, tuple, set, frozenset)


def show(value: Any, depth: int = 0) -> Any:
    """A short plain picture of ``value``: scalars as they are, containers cut, other objects by type name."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is int:
        return value if -(2**63) <= value < 2**64 else f"<int of {value.bit_length()} bits>"
    if kind is str:
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."
    if kind in _SEQUENCES:
        if depth >= MAX_DEPTH:
            return f"<{kind.__name__} of {len(value)}>"
        items = [show(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
        return [*items, f"... {len(value) - MAX_ITEMS} more"] if len(value) > MAX_ITEMS else items
    if kind is dict:
        if depth >= MAX_DEPTH:
            return f"<dict of {len(value)}>"
        shown = {}
        for k, v in list(value.items())[:MAX_ITEMS]:
            shown[k if type(k) is str else f"<{type(k).__name__}>"] = show(v, depth + 1)
        if len(value) > MAX_ITEMS:
            shown["..."] = f"{len(value) - MAX_ITEMS} more"
        return shown
    return f"<{kind.__name__}>"


class Tracer:
    """Collects steps for the code objects of one program, named by ``files`` (file name -> what it is)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self._main = next(iter(files.values()))
        self.steps: list[dict[str, Any]] = []
        self.truncated = False
        self._seen: dict[int, tuple[int, dict[str, Any]]] = {}  # frame -> (line it is on, variables shown)
        self._printed = 0

    def __enter__(self) -> Self:
        self._printed = CAPTURE.size
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)

    def _call(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename not in self.files:
            return None
        self._seen[id(frame)] = (0, self._variables(frame))
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if self.truncated:
            return None
        if event == "line" or event == "return":
            self._step(frame)
            if event == "line":
                self._seen[id(frame)] = (frame.f_lineno, self._seen[id(frame)][1])
            else:
                self._seen.pop(id(frame), None)
        return self._local

    def _step(self, frame: FrameType) -> None:
        """The line this frame was on has finished: record what it changed."""
        line, before = self._seen.get(id(frame), (0, {}))
        now = self._variables(frame)
        if line == 0:
            self._seen[id(frame)] = (line, now)
            return
        changed = {k: v for k, v in now.items() if k not in before or before[k] != v}
        printed = CAPTURE.size - self._printed
        self._printed = CAPTURE.size
        if len(self.steps) >= MAX_STEPS:
            self.truncated = True
            sys.settrace(None)
            frame.f_trace = None
            return
        code = self.files[frame.f_code.co_filename]
        if not changed and printed <= 0 and code != self._main:
            self._seen[id(frame)] = (line, now)
            return  # a line of a helper function or an output expression that changed nothing
        step: dict[str, Any] = {"code": code, "line": line, "changed": changed}
        if printed > 0:
            step["printed"] = "".join(CAPTURE.parts)[-printed:]
        self.steps.append(step)
        self._seen[id(frame)] = (line, now)

    @staticmethod
    def _variables(frame: FrameType) -> dict[str, Any]:
        return {k: show(v) for k, v in frame.f_locals.items()
                if type(k) is str and k.isidentifier() and k not in BASE_NAMES and not k.startswith("_")
                and not callable(v)
                and type(v) is not CuratedModule}  # fmt: skip
