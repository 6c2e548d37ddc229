"""The one rule for the names tags are known by, on every path (API, edge payloads, MQTT collectors)."""

from __future__ import annotations

import re

NAME_MAX = 120
# No whitespace or control characters (C0, DEL, C1), nor the characters NATS and MQTT give a meaning in a subject.
NAME_PATTERN = r"^[^\s/.#+*>\x00-\x1f\x7f-\x9f]+$"
NAME_RULE = "1 to 120 characters without spaces, control characters, '/', '.', '#', '+', '*' or '>'"
_NAME = re.compile(NAME_PATTERN[1:-1])  # used with fullmatch: Python's $ would accept a trailing newline


def valid_name(text: object) -> bool:
    """Whether ``text`` is a tag name by the rule above (the same rule as ``TagSpec.name`` in the API)."""
    return type(text) is str and 0 < len(text) <= NAME_MAX and _NAME.fullmatch(text) is not None
