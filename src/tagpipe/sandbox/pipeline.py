"""Pure hook logic: which scripts apply to a context, in what order, and how one cycle flows through them.

No I/O here: the worker runs ``run_cycle`` with a caller that executes sandboxed functions, the
benchmarks and tests run it with plain functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

HOOK_ORDER: tuple[str, ...] = ("transform", "derived_tags", "filter", "alarm", "pre_send")


class _Failed:
    """Marker returned by a caller when a hook raised, timed out or returned something unusable."""

    def __repr__(self) -> str:
        return "FAILED"


FAILED: Any = _Failed()


@dataclass(frozen=True, kw_only=True)
class HookSpec:
    """Where and when one script runs: its id, hook type, scope, priority and time budget."""

    script_id: int
    hook_type: str
    scope: str = "global"
    equipment_id: int | None = None
    connection_id: int | str | None = None
    device_id: str | None = None
    priority: int = 100
    timeout_ms: int = 1000
    slot: int = 0  # the number the worker marks while this script runs (the pool's, never 0 there)

    @classmethod
    def from_mapping(cls, script: Mapping[str, Any]) -> HookSpec:
        """Build a spec from a ScriptConfig dump (extra keys such as ``code`` are ignored)."""
        return cls(
            script_id=int(script["id"]),
            hook_type=str(script["hook_type"]),
            scope=str(script.get("scope") or "global"),
            equipment_id=script.get("equipment_id"),
            connection_id=script.get("connection_id"),
            device_id=script.get("device_id"),
            priority=int(script.get("priority", 100)),
            timeout_ms=int(script.get("timeout_ms", 1000)),
        )


class Caller(Protocol):
    """Runs one hook; returns its checked result or ``FAILED`` (having recorded why)."""

    def call(self, spec: HookSpec, *args: Any) -> Any: ...

    def call_each(self, spec: HookSpec, items: list[tuple[str, Any]]) -> list[Any]:
        """Call a per-tag hook once per (tag name, value); one result (or FAILED) per item."""
        ...

    def reject(self, spec: HookSpec, message: str) -> None: ...


def _same_id(wanted: object, actual: object) -> bool:
    # Central ids are ints, the edge may carry them as strings ("5"); an unset id never matches.
    if wanted is None or actual is None:
        return False
    return str(wanted) == str(actual)


def scope_matches(spec: HookSpec, context: Mapping[str, Any]) -> bool:
    """Tell whether a script applies to a cycle with this context."""
    if spec.scope == "global":
        return True
    if spec.scope == "equipment":
        return _same_id(spec.equipment_id, context.get("equipment_id"))
    if spec.scope == "connection":
        return _same_id(spec.connection_id, context.get("connection_id"))
    if spec.scope == "device":
        return _same_id(spec.device_id, context.get("device_id"))
    return False


def select_hooks(
    specs: Sequence[HookSpec], context: Mapping[str, Any], skip: frozenset[int] = frozenset()
) -> dict[str, list[HookSpec]]:
    """Group the scripts that apply to ``context`` by hook type, each list by priority then id."""
    selected: dict[str, list[HookSpec]] = {name: [] for name in HOOK_ORDER}
    for spec in specs:
        if spec.script_id in skip or spec.hook_type not in selected:
            continue
        if scope_matches(spec, context):
            selected[spec.hook_type].append(spec)
    for hooks in selected.values():
        hooks.sort(key=lambda s: (s.priority, s.script_id))
    return selected


def run_cycle(
    payload: Mapping[str, Any], hooks: Mapping[str, Sequence[HookSpec]], caller: Caller
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Run transform, derived_tags, filter, alarm and pre_send; return (payload or None if filtered, alarms).

    ``tags`` changes only by transform results and derived_tags results: the sandbox caller relies on it to
    know whether the tags it hands to hooks can hold a list or dict (``cycle.CycleCaller.flat``).
    """
    tags: dict[str, Any] = dict(payload.get("tags") or {})
    call = caller.call

    # Script-major order gives the same values as tag-major: each script sees its tags in order.
    for spec in hooks.get("transform", ()):
        items = list(tags.items())
        for (name, _), out in zip(items, caller.call_each(spec, items), strict=True):
            if out is not FAILED:
                tags[name] = out

    derived: dict[str, Any] = {}
    for spec in hooks.get("derived_tags", ()):
        out = call(spec, tags)
        if out is FAILED or out is None:
            continue
        if type(out) is not dict or any(type(k) is not str for k in out):
            caller.reject(spec, "derived_tags must return a dict of tag name to value")
            continue
        derived.update(out)
    tags.update(derived)

    for spec in hooks.get("filter", ()):
        out = call(spec, tags)
        if out is not FAILED and not out:
            return None, []

    found: list[tuple[int, int, dict[str, Any]]] = []
    items = list(tags.items())
    for script_index, spec in enumerate(hooks.get("alarm", ())):
        for tag_index, out in enumerate(caller.call_each(spec, items)):
            if out is FAILED or not out:
                continue
            if type(out) is not dict:
                caller.reject(spec, "alarm must return a dict or None")
                continue
            out["script_id"] = spec.script_id
            found.append((tag_index, script_index, out))
    found.sort(key=lambda item: (item[0], item[1]))
    alarms = [alarm for _, _, alarm in found]

    result: dict[str, Any] = dict(payload)
    result["tags"] = tags
    for spec in hooks.get("pre_send", ()):
        out = call(spec, result)
        if out is FAILED or out is None:
            continue
        if type(out) is not dict:
            caller.reject(spec, "pre_send must return the payload dict or None")
            continue
        result = out
    return result, alarms
