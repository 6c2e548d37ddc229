"""Values the pool hands back: cycle results, run results, dry-run results, compile errors and script errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tagpipe.errors import SandboxError

__all__ = ["CodeError", "CycleResult", "DryRunResult", "RunResult", "SandboxError", "ScriptError"]

ProgramId = int | str
# (kind, id): a calc script 3 and a hook 3 are two programs.
ProgramKey = tuple[str, ProgramId]


@dataclass(frozen=True, kw_only=True)
class CodeError:
    """A script that does not compile or lacks its hook function, with the line when known."""

    message: str
    line: int | None = None
    script_id: ProgramId | None = None


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


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One run of a loaded program (or a dry run of unsaved code).

    ``result`` is the checked result: a calc script's outputs by name, a parser's records, an alarm condition's
    bool, a hook's return value. ``state`` (stateful kinds) is the state kept after this run: the new one when
    ``ok``, the last good one when not. ``trace`` is the step list of a traced run.
    """

    key: ProgramKey
    ok: bool
    result: Any = None
    prints: str = ""
    duration_ms: float = 0.0
    error: str | None = None
    line: int | None = None
    timeout: bool = False
    state: dict[str, Any] | None = None
    trace: list[dict[str, Any]] | None = None
