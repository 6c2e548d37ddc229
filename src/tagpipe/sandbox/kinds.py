"""The kinds of program the sandbox runs, one line each: a feature adds its kind here (STYLE.md principle 2).

A kind is a module beside this one with a ``Program`` subclass (its ``kind`` is the table key) and one
``program.Kind`` declaration: how its code compiles, how it loads, what a run calls, how the result is checked.
"""

from __future__ import annotations

from tagpipe.sandbox.calc import CALC
from tagpipe.sandbox.condition import ALARM_CONDITION
from tagpipe.sandbox.hooks import HOOK
from tagpipe.sandbox.parser import PARSER
from tagpipe.sandbox.program import Kind

KINDS: dict[str, Kind] = {
    "hook": HOOK,
    "calc": CALC,
    "parser": PARSER,
    "alarm_condition": ALARM_CONDITION,
}


def kind_of(name: str) -> Kind:
    """The declaration of kind ``name``; ValueError naming the known kinds when there is none."""
    found = KINDS.get(name) if type(name) is str else None
    if found is None:
        raise ValueError(f"unknown kind of program {name!r} (known: {', '.join(KINDS)})")
    return found
