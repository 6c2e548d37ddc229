"""The five hook types of the seed (000), with the function each script must define and example code; the hook kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tagpipe.sandbox.plain import plain_copy
from tagpipe.sandbox.program import Kind, Program
from tagpipe.sandbox.results import CodeError
from tagpipe.sandbox.usercode import BadInput, compile_function_module, function_of, run_module

if TYPE_CHECKING:
    from tagpipe.contracts.config import ScriptConfig


@dataclass(frozen=True, kw_only=True)
class HookType:
    """One kind of user hook: its config name, the function it calls and an example script."""

    name: str
    function: str
    signature: str
    arguments: tuple[str, ...]
    description: str
    example: str


_TRANSFORM = '''\
def transform(tag_name, raw_value, context):
    """Scale a raw sensor count to degrees Celsius."""
    if tag_name == "temperature_raw":
        return round(raw_value * 0.1 - 40.0, 2)
    return raw_value
'''

_DERIVED = '''\
def derived_tags(tags, context):
    """Electrical power from voltage and current."""
    voltage = tags.get("voltage")
    current = tags.get("current")
    if voltage is None or current is None:
        return {}
    return {"power": round(voltage * current, 3)}
'''

_FILTER = '''\
def filter_data(tags, context):
    """Publish only while the machine is running."""
    return tags.get("running", 1) == 1
'''

_ALARM = '''\
def alarm(tag_name, value, context):
    """Raise an alarm when the temperature is over 80."""
    if tag_name == "temperature" and value is not None and value > 80:
        return {"level": "warning", "tag": tag_name, "value": value,
                "message": f"temperature {value} > 80"}
    return None
'''

_PRE_SEND = '''\
def pre_send(payload, context):
    """Add the site and the number of tags to the message."""
    payload["company_code"] = context.get("company_code")
    payload["tag_count"] = len(payload.get("tags", {}))
    return payload
'''

HOOK_TYPES: dict[str, HookType] = {
    "transform": HookType(
        name="transform",
        function="transform",
        signature="transform(tag_name, raw_value, context) -> value",
        arguments=("tag_name", "raw_value", "context"),
        description="Convert one raw value (scaling, unit conversion); called per tag, chained by priority.",
        example=_TRANSFORM,
    ),
    "derived_tags": HookType(
        name="derived_tags",
        function="derived_tags",
        signature="derived_tags(tags, context) -> dict",
        arguments=("tags", "context"),
        description="Compute new tags from several tags (power = voltage x current); results are merged.",
        example=_DERIVED,
    ),
    "filter": HookType(
        name="filter",
        function="filter_data",
        signature="filter_data(tags, context) -> bool",
        arguments=("tags", "context"),
        description="Decide whether this cycle is published; every filter must pass.",
        example=_FILTER,
    ),
    "alarm": HookType(
        name="alarm",
        function="alarm",
        signature="alarm(tag_name, value, context) -> dict | None",
        arguments=("tag_name", "value", "context"),
        description="Return an alarm dict when a value crosses a limit; called per tag, all alarms collected.",
        example=_ALARM,
    ),
    "pre_send": HookType(
        name="pre_send",
        function="pre_send",
        signature="pre_send(payload, context) -> dict",
        arguments=("payload", "context"),
        description="Shape the final message before it is sent (add metadata); chained, None keeps it.",
        example=_PRE_SEND,
    ),
}


@dataclass(frozen=True, kw_only=True)
class HookProgram(Program):
    """A hook script as the edge config carries it (seed 000): its hook type, where it applies and its priority."""

    kind: ClassVar[str] = "hook"

    id: int
    hook_type: str
    scope: str = "global"
    equipment_id: int | None = None
    connection_id: int | str | None = None
    device_id: str | None = None
    priority: int = 100

    @classmethod
    def from_script(cls, script: ScriptConfig | Mapping[str, Any]) -> HookProgram:
        """From a ScriptConfig or its dump; extra keys (name, version) are ignored, missing ones get defaults."""
        data = dict(script) if isinstance(script, Mapping) else script.model_dump(mode="json")
        return cls(
            id=int(data["id"]), code=data.get("code") or "", hook_type=str(data.get("hook_type")),
            scope=data.get("scope") or "global", equipment_id=data.get("equipment_id"),
            connection_id=data.get("connection_id"), device_id=data.get("device_id"),
            priority=100 if data.get("priority") is None else int(data["priority"]),
            timeout_ms=int(data.get("timeout_ms") or 1000),
        )  # fmt: skip


class HookRunner:
    """A loaded hook: its function; ``run`` calls it once with arguments named as in a dry run's test input."""

    __slots__ = ("files", "func", "names")

    def __init__(self, func: Any, filename: str, hook_type: str) -> None:
        self.func = func
        self.files = {filename: "hook"}
        names = HOOK_TYPES[hook_type].arguments[:-1]
        self.names = ("tag_name", "raw_value") if hook_type == "transform" else names

    def run(self, inputs: dict[str, Any], context: dict[str, Any]) -> Any:
        missing = [n for n in self.names if n not in inputs]
        if missing:
            raise BadInput(f"test_input needs {', '.join(missing)}")
        return self.func(*[inputs[n] for n in self.names], context)


def _compile(program: HookProgram, filename: str) -> tuple[Any, list[CodeError]]:
    hook = HOOK_TYPES.get(program.hook_type)
    if hook is None:
        return None, [CodeError(message=f"unknown hook type {program.hook_type!r}")]
    return compile_function_module(program.code, filename, hook.function, len(hook.arguments))


def _load(program: HookProgram, compiled: Any, filename: str, state: dict[str, Any] | None) -> HookRunner:
    namespace = run_module(compiled, f"hook_{program.id}", filename)
    return HookRunner(function_of(namespace, HOOK_TYPES[program.hook_type].function), filename, program.hook_type)


def check_shape(hook_type: str, out: Any) -> str | None:
    """What is wrong with a hook's (plain) result for its hook type, if anything."""
    if hook_type == "derived_tags" and out is not None and type(out) is not dict:
        return "derived_tags must return a dict of tag name to value"
    if hook_type == "alarm" and out and type(out) is not dict:
        return "alarm must return a dict or None"
    if hook_type == "pre_send" and out is not None and type(out) is not dict:
        return "pre_send must return the payload dict or None"
    return None


def _check(program: HookProgram, out: Any) -> Any:
    out = plain_copy(out)
    problem = check_shape(program.hook_type, out)
    if problem:
        raise ValueError(problem)
    return out


HOOK = Kind(
    name="hook", program=HookProgram, compile=_compile, load=_load, check=_check,
    description="An edge hook (seed 000): transform, derived_tags, filter, alarm or pre_send, run in collection "
                "cycles.",
    inputs="the hook's arguments by name, as a dry run's test input (tag_name and raw_value for transform)",
    result="what the hook function returned",
)  # fmt: skip
