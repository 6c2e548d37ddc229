"""Values the pool hands back: cycle results, dry-run results, compile errors and script errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class SandboxError(Exception):
    """The sandbox worker could not be started or kept alive."""


@dataclass(frozen=True, kw_only=True)
class CodeError:
    """A script that does not compile or lacks its hook function, with the line when known."""

    message: str
    line: int | None = None
    script_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ScriptError:
    """A hook that failed during one cycle (exception, bad result or timeout), aggregated per script."""

    script_id: int
    hook_type: str
    message: str
    line: int | None = None
    count: int = 1
    timeout: bool = False


@dataclass(frozen=True, kw_only=True)
class CycleResult:
    """The outcome of one collection cycle; ``payload`` is None when a filter dropped it."""

    payload: dict[str, Any] | None
    alarms: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ScriptError] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class DryRunResult:
    """The outcome of running unsaved code once against a test input."""

    ok: bool
    result: Any = None
    prints: str = ""
    duration_ms: float = 0.0
    error: str | None = None
    line: int | None = None
