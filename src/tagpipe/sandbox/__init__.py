"""User Python hooks run safely and fast: restricted compile, limited worker processes, hook ordering.

Imports only ``tagpipe.contracts`` and ``tagpipe.errors`` from tagpipe (never db, web, bus, server, plant,
history, fleet, scripts or edge), so the edge agent and the server can both use it.
"""

from __future__ import annotations

from tagpipe.sandbox.hooks import HOOK_TYPES, HookType
from tagpipe.sandbox.pool import SandboxPool
from tagpipe.sandbox.results import CodeError, CycleResult, DryRunResult, SandboxError, ScriptError

__all__ = [
    "HOOK_TYPES", "CodeError", "CycleResult", "DryRunResult", "HookType", "SandboxError", "SandboxPool",
    "ScriptError",
]
