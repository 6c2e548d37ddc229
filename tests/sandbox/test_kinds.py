"""The kinds table and each kind inside one worker's runtime, in process: compile errors, calls, result checks,
state."""

from __future__ import annotations

from typing import Any

import pytest

from tagpipe.sandbox import (
    KINDS,
    CalcProgram,
    ConditionProgram,
    HookProgram,
    ParserProgram,
    Program,
    marker,
)
from tagpipe.sandbox.runtime import Runtime

COUNTER = CalcProgram(id=1, init="count = 0\nhistory = []\n",
                      code="count += 1\nhistory.append(a)\nif len(history) > 3:\n    history.pop(0)\n",
                      outputs={"n": "count", "mean": "sum(history) / len(history)"})  # fmt: skip


def runtime() -> Runtime:
    return Runtime(marker.Marker(bytearray(marker.SIZE)))


def load(rt: Runtime, slot: int, program: Program, state: dict[str, Any] | None = None) -> dict[str, Any]:
    return rt.add([[slot, program.kind, program.fields(), state]])


def test_every_kind_is_registered_under_its_own_name() -> None:
    assert set(KINDS) == {"hook", "calc", "parser", "alarm_condition"}
    for name, kind in KINDS.items():
        assert kind.name == name == kind.program.kind
        assert kind.description and kind.inputs and kind.result and kind.program.__doc__


# (program, expected message fragment, expected line)
BROKEN: list[tuple[Program, str, int | None]] = [
    (CalcProgram(id=1, init="x = 0\n", code="y = 1\nz = (\n"), "SyntaxError", 2),
    (CalcProgram(id=1, init="x = 0\nimport os\n", code="y = 1\n"), "initialization code: ", 2),
    (CalcProgram(id=1, code="y = 1\n", outputs={"o": "y +"}), "output 'o'", None),
    (CalcProgram(id=1, code="y = x.__class__\n"), '"__class__" is an invalid attribute name', 1),
    (ParserProgram(id=1, code="def parse(text):\n    return []\n"), "parse must take 2 arguments", 1),
    (ParserProgram(id=1, code="def parser(text, context):\n    return []\n"), "function named parse", None),
    (ConditionProgram(id=1, code="temperature >"), "SyntaxError", 1),
    (ConditionProgram(id=1, code="().__class__"), '"__class__" is an invalid attribute name', 1),
    (ConditionProgram(id=1, code="x = 1\n\ndef cond(values, context):\n    return True\n"), "function named condition",
     None),
    (HookProgram(id=1, hook_type="nope", code="x = 1\n"), "unknown hook type", None),
]


@pytest.mark.parametrize(("program", "message", "line"), BROKEN, ids=lambda v: str(v)[:40])
def test_broken_code_is_refused_with_line_and_message(program: Program, message: str, line: int | None) -> None:
    errors = runtime().check(program.kind, program.fields())
    assert errors and message in errors[0]["message"], errors
    assert errors[0]["line"] == line


def test_calc_state_comes_from_initialization_and_persists_between_runs() -> None:
    rt = runtime()
    assert load(rt, 1, COUNTER) == {"errors": {}, "states": {1: {"count": 0, "history": []}}}
    results = [rt.run(1, {"a": a}, {}, None, False) for a in (1.0, 2.0, 3.0, 4.0)]
    assert [r[1] for r in results] == [{"n": 1, "mean": 1.0}, {"n": 2, "mean": 1.5}, {"n": 3, "mean": 2.0},
                                       {"n": 4, "mean": 3.0}]  # fmt: skip
    assert results[-1][6] == {"count": 4, "history": [2.0, 3.0, 4.0]}


def test_a_failed_calc_run_leaves_the_last_good_state() -> None:
    rt = runtime()
    load(rt, 1, COUNTER)
    rt.run(1, {"a": 1.0}, {}, None, False)
    failed = rt.run(1, {"a": "text"}, {}, None, False)  # count += 1 ran, then sum() fails in the output
    assert failed[0] is False and "output 'mean': TypeError" in failed[4] and failed[6] is None
    assert rt.run(1, {"a": 3.0}, {}, None, False)[1] == {"n": 2, "mean": 2.0}


def test_calc_temporaries_and_inputs_do_not_outlive_a_run() -> None:
    rt = runtime()
    load(rt, 1, CalcProgram(id=1, init="seen = 0\n", code="seen += 1\ntmp = a * 2\n", outputs={"t": "tmp"}))
    assert rt.run(1, {"a": 2}, {}, None, False)[6] == {"seen": 1}
    probe = CalcProgram(id=1, init="seen = 0\n", code="x = tmp\n")
    load(rt, 1, probe, {"seen": 5})
    failed = rt.run(1, {}, {}, None, False)
    assert "NameError" in failed[4] and failed[5] == 1


def test_calc_state_that_cannot_be_kept_is_an_error_naming_the_variable() -> None:
    rt = runtime()
    errors = load(rt, 1, CalcProgram(id=1, init="seen = set()\n", code=""))["errors"]
    assert "variable 'seen' cannot be kept between runs" in errors[1]["message"]
    load(rt, 2, CalcProgram(id=2, init="seen = []\n", code="seen = set(seen)\n"))
    failed = rt.run(2, {}, {}, None, False)
    assert failed[0] is False and "variable 'seen' cannot be kept" in failed[4]
    load(rt, 4, CalcProgram(id=4, init="f = 0\n", code="def g():\n    return 1\nf = g\n"))
    failed = rt.run(4, {}, {}, None, False)
    assert failed[0] is False and "variable 'f' cannot be kept" in failed[4], "a function is never dropped silently"
    load(rt, 3, CalcProgram(id=3, init="buf = []\n", code="buf.append('x' * 400000)\n"))
    assert [rt.run(3, {}, {}, None, False)[0] for _ in range(3)] == [True, True, False]  # the third passes 1M chars
    assert len(rt.programs[3].good["buf"]) == 2  # type: ignore[index]


def test_a_state_given_at_load_goes_over_what_initialization_makes() -> None:
    rt = runtime()
    edited = CalcProgram(id=1, init="count = 0\nscale = 10\n", code="count += scale\n", outputs={"n": "count"})
    assert load(rt, 1, edited, {"count": 7})["states"] == {1: {"count": 7, "scale": 10}}
    assert rt.run(1, {}, {}, None, False)[1] == {"n": 17}
    assert rt.run(1, {}, {}, {"count": 100, "scale": 1}, False)[1] == {"n": 101}  # the pool sends a newer state


def test_calc_functions_and_modules_from_initialization_are_code_not_state() -> None:
    rt = runtime()
    program = CalcProgram(id=1, init="import math\ntotal = 0.0\ndef norm(x, y):\n    return math.hypot(x, y)\n",
                          code="total += norm(a, b)\n", outputs={"total": "round(total, 3)"})  # fmt: skip
    assert load(rt, 1, program)["states"] == {1: {"total": 0.0}}
    assert rt.run(1, {"a": 3, "b": 4}, {}, None, False)[1] == {"total": 5.0}
    assert rt.run(1, {"a": 3, "b": 4, "math": 1}, {}, None, False)[1] == {"total": 10.0}  # an input named math
    assert rt.run(1, {"a": 6, "b": 8}, {}, None, False)[1] == {"total": 20.0}  # does not replace the module


PARSER = ParserProgram(id=1, code="def parse(text, context):\n    out = []\n    for line in text.splitlines():\n"
                                  "        name, value = line.split('#')\n"
                                  "        out.append({'station': name, 'value': int(value) / 10})\n"
                                  "    return out\n")  # fmt: skip

PARSER_RESULTS = [
    # (return expression, expected records or error fragment)
    ("[{'a': 1}, {'b': [1, 'x']}]", [{"a": 1}, {"b": [1, "x"]}]),
    ("[]", []),
    ("{'a': 1}", "parse must return a list of dicts, not a dict"),
    ("[{'a': 1}, 'x']", "item 1 is a str"),
    ("[{'a': {1, 2}}]", "bad result: set is not allowed"),
    ("[{1: 'a'}]", "bad result: dict keys in a result must be str"),
    ("[{'a': (1, 2)}]", "bad result: tuple is not allowed"),
]


@pytest.mark.parametrize(("expression", "expected"), PARSER_RESULTS)
def test_a_parser_returns_a_list_of_dicts_of_plain_data(expression: str, expected: Any) -> None:
    rt = runtime()
    load(rt, 1, ParserProgram(id=1, code=f"def parse(text, context):\n    return {expression}\n"))
    ok, result, _, _, error, *_ = rt.run(1, {"text": "x"}, {}, None, False)
    if isinstance(expected, str):
        assert not ok and expected in error
    else:
        assert ok and result == expected


def test_a_parser_gets_the_text_and_reports_the_line_of_a_bad_record() -> None:
    rt = runtime()
    load(rt, 1, PARSER)
    assert rt.run(1, {"text": "101#235\n102#-12"}, {}, None, False)[1] == [
        {"station": "101", "value": 23.5}, {"station": "102", "value": -1.2}]
    ok, _, _, _, error, line, *_ = rt.run(1, {"text": "101#235\n102"}, {}, None, False)
    assert not ok and error.startswith("ValueError") and line == 4
    assert "inputs need text" in rt.run(1, {"txt": "x"}, {}, None, False)[4]


CONDITIONS = [
    # (code, values, expected bool or error fragment)
    ("temperature > 80 and running", {"temperature": 90, "running": True}, True),
    ("temperature > 80 and running", {"temperature": 90, "running": False}, False),
    ("values['line 3 speed'] < 5", {"line 3 speed": 4}, True),
    ("temperature - 80", {"temperature": 80.0}, False),
    ("temperature - 80", {"temperature": 81}, True),
    ("temperature > 80 and running", {"temperature": 90, "running": 1}, True),
    ("temperature > 80 and running", {"temperature": 90, "running": "yes"}, "must give True or False, not a str"),
    ("temperature > 80", {}, "NameError"),
    ("temperature > 80", {"temperature": None}, "TypeError"),
    ("def condition(values, context):\n    return values['a'] + values['b'] > context['limit']\n",
     {"a": 1, "b": 2}, True),
    ("def condition(values, context):\n    return None\n", {}, "not a NoneType"),
]


@pytest.mark.parametrize(("code", "values", "expected"), CONDITIONS)
def test_an_alarm_condition_gives_a_bool(code: str, values: dict[str, Any], expected: Any) -> None:
    rt = runtime()
    assert load(rt, 1, ConditionProgram(id=1, code=code))["errors"] == {}
    ok, result, _, _, error, *_ = rt.run(1, values, {"limit": 2}, None, False)
    if isinstance(expected, str):
        assert not ok and expected in error
    else:
        assert ok and result is expected


def test_values_named_like_guards_cannot_replace_them() -> None:
    rt = runtime()
    load(rt, 1, ConditionProgram(id=1, code="len(values) == 3 and x.real == 1"))
    assert rt.run(1, {"_getattr_": "nope", "__builtins__": {}, "x": 1}, {}, None, False)[1] is True


def test_a_hook_runs_alone_with_its_dry_run_arguments() -> None:
    rt = runtime()
    load(rt, 1, HookProgram(id=5, hook_type="alarm", code="def alarm(tag_name, value, context):\n"
                                                          "    return {'tag': tag_name, 'v': value}\n"))
    assert rt.run(1, {"tag_name": "t", "value": 3}, {}, None, False)[1] == {"tag": "t", "v": 3}
    assert "test_input needs value" in rt.run(1, {"tag_name": "t"}, {}, None, False)[4]


def test_a_trace_shows_each_line_its_changes_and_prints_and_stops_at_its_cap() -> None:
    rt = runtime()
    program = CalcProgram(id=1, init="count = 0\n", code="count += 1\nx = a * 2\nprint('x is', x)\ny = [x, 'k']\n",
                          outputs={"y": "y"})  # fmt: skip
    load(rt, 1, program)
    ok, result, prints, _, _, _, _, steps, _ = rt.run(1, {"a": 4}, {}, None, True)
    assert ok and result == {"y": [8, "k"]} and prints == "x is 8\n"
    assert steps == [
        {"code": "calculation code", "line": 1, "changed": {"count": 1}},
        {"code": "calculation code", "line": 2, "changed": {"x": 8}},
        {"code": "calculation code", "line": 3, "changed": {}, "printed": "x is 8\n"},
        {"code": "calculation code", "line": 4, "changed": {"y": [8, "k"]}},
    ]
    assert rt.run(1, {"a": 4}, {}, None, False)[7] is None  # no trace unless asked
    load(rt, 2, CalcProgram(id=2, code="n = 0\nfor i in range(100000):\n    n += i\n", outputs={"n": "n"}))
    ok, result, *_, steps, _ = rt.run(2, {}, {}, None, True)
    assert ok and result == {"n": 4999950000}
    assert len(steps) == 1001 and steps[-1] == {"truncated": True}


def test_a_trace_shows_a_scripts_own_object_by_its_class_name() -> None:
    rt = runtime()
    code = "class Point:\n    def __init__(self, x):\n        self.x = x\np = Point(2)\nn = p.x\n"
    load(rt, 1, CalcProgram(id=1, code=code, outputs={"n": "n"}))
    ok, result, *_, steps, _ = rt.run(1, {}, {}, None, True)
    assert ok and result == {"n": 2}
    assert {"code": "calculation code", "line": 4, "changed": {"p": "<Point>"}} in steps


def test_unload_leaves_the_other_programs() -> None:
    rt = runtime()
    load(rt, 1, COUNTER)
    load(rt, 2, PARSER)
    rt.run(1, {"a": 1.0}, {}, None, False)
    rt.drop([2])
    assert rt.run(2, {"text": "a#1"}, {}, None, False)[4] == "the program is not loaded"
    assert rt.run(1, {"a": 3.0}, {}, None, False)[1] == {"n": 2, "mean": 2.0}
