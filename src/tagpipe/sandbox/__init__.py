"""User code runs safely and fast: restricted compile, limited worker processes, kinds of program, hook ordering.

One executor (``SandboxPool``) runs every kind of program in ``KINDS``: edge hooks, calculated-tag scripts,
file parsers and alarm conditions, each loaded and unloaded on its own, a stateful program's state kept by
the pool. Imports only ``tagpipe.contracts`` and ``tagpipe.errors`` from tagpipe (never db, web, bus, server,
plant, history, fleet, scripts or edge), so the edge agent and the server can both use it.
"""

from __future__ import annotations

from tagpipe.sandbox.calc import CalcProgram
from tagpipe.sandbox.condition import ConditionProgram
from tagpipe.sandbox.hooks import HOOK_TYPES, HookProgram, HookType
from tagpipe.sandbox.jobs import Run
from tagpipe.sandbox.kinds import KINDS, kind_of
from tagpipe.sandbox.parser import ParserProgram
from tagpipe.sandbox.pool import SandboxPool
from tagpipe.sandbox.program import Kind, Program
from tagpipe.sandbox.results import (
    CodeError,
    CycleResult,
    DryRunResult,
    ProgramId,
    ProgramKey,
    RunResult,
    SandboxError,
    ScriptError,
)  # fmt: skip

__all__ = [
    "HOOK_TYPES", "KINDS", "CalcProgram", "CodeError", "ConditionProgram", "CycleResult", "DryRunResult",
    "HookProgram", "HookType", "Kind", "ParserProgram", "Program", "ProgramId", "ProgramKey", "Run", "RunResult",
    "SandboxError", "SandboxPool", "ScriptError", "kind_of",
]  # fmt: skip
