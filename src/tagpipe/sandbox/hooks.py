"""The five hook types of the seed (000), with the function each script must define and example code."""

from __future__ import annotations

from dataclasses import dataclass


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
