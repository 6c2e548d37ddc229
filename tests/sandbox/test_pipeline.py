"""Pure hook logic as tables: scope matching, ordering, and how a cycle flows through the five hooks."""

from __future__ import annotations

from typing import Any

import pytest

from tagpipe.sandbox import marker
from tagpipe.sandbox.pipeline import FAILED, HookSpec, run_cycle, scope_matches, select_hooks
from tagpipe.sandbox.plain import NotPlain, plain_copy

CTX = {"device_id": "edge-1", "equipment_id": 7, "connection_id": "3", "company_code": "ACME"}

SCOPES = [
    # (scope, equipment_id, connection_id, device_id, matches CTX)
    ("global", None, None, None, True),
    ("equipment", 7, None, None, True),
    ("equipment", 8, None, None, False),
    ("equipment", None, None, None, False),  # unset id never matches (the seed matched None == None)
    ("connection", None, 3, None, True),  # int in the script, str on the edge
    ("connection", None, 4, None, False),
    ("device", None, None, "edge-1", True),
    ("device", None, None, "edge-2", False),
    ("device", None, None, None, False),
    ("nonsense", None, None, None, False),
]


@pytest.mark.parametrize(("scope", "equipment_id", "connection_id", "device_id", "expected"), SCOPES)
def test_scope_matches(scope: str, equipment_id: Any, connection_id: Any, device_id: Any, expected: bool) -> None:
    spec = HookSpec(script_id=1, hook_type="transform", scope=scope, equipment_id=equipment_id,
                    connection_id=connection_id, device_id=device_id)  # fmt: skip
    assert scope_matches(spec, CTX) is expected


ORDERS = [
    # ([(script_id, priority)], expected order)
    ([(1, 100), (2, 50), (3, 150)], [2, 1, 3]),
    ([(5, 10), (4, 10), (6, 5)], [6, 4, 5]),  # ties by script id
    ([], []),
]


@pytest.mark.parametrize(("scripts", "expected"), ORDERS)
def test_select_orders_by_priority_then_id(scripts: list[tuple[int, int]], expected: list[int]) -> None:
    specs = [HookSpec(script_id=s, hook_type="alarm", priority=p) for s, p in scripts]
    assert [s.script_id for s in select_hooks(specs, CTX)["alarm"]] == expected


def test_select_groups_by_type_and_skips() -> None:
    specs = [
        HookSpec(script_id=1, hook_type="transform"),
        HookSpec(script_id=2, hook_type="filter", scope="equipment", equipment_id=99),
        HookSpec(script_id=3, hook_type="pre_send"),
    ]
    selected = select_hooks(specs, CTX, skip=frozenset({3}))
    assert [s.script_id for s in selected["transform"]] == [1]
    assert selected["filter"] == [] and selected["pre_send"] == []


class _Caller:
    """Runs plain functions; an exception is a failure, recorded like the worker does."""

    def __init__(self, funcs: dict[int, Any]) -> None:
        self.funcs = funcs
        self.failures: list[tuple[int, str]] = []

    def call(self, spec: HookSpec, *args: Any) -> Any:
        try:
            return self.funcs[spec.script_id](*args, dict(CTX))
        except Exception as e:  # noqa: BLE001 - a hook may raise anything; it is a failure, as in the worker
            self.failures.append((spec.script_id, repr(e)))
            return FAILED

    def call_each(self, spec: HookSpec, items: list[tuple[str, Any]]) -> list[Any]:
        return [self.call(spec, name, value) for name, value in items]

    def reject(self, spec: HookSpec, message: str) -> None:
        self.failures.append((spec.script_id, message))


def _run(hooks: list[tuple[int, str, int, Any]], tags: dict[str, Any]) -> tuple[Any, list[Any], _Caller]:
    specs = [HookSpec(script_id=sid, hook_type=kind, priority=prio) for sid, kind, prio, _ in hooks]
    caller = _Caller({sid: func for sid, _, _, func in hooks})
    payload = {"timestamp": "t", "equipment_id": 7, "connection_id": "3", "tags": tags}
    result, alarms = run_cycle(payload, select_hooks(specs, CTX), caller)
    return result, alarms, caller


CYCLES = [
    ("transforms chain by priority",
     [(1, "transform", 20, lambda n, v, c: v + 1), (2, "transform", 10, lambda n, v, c: v * 10)],
     {"a": 1}, {"a": 11}, []),
    ("failing transform keeps the value",
     [(1, "transform", 1, lambda n, v, c: 1 / 0), (2, "transform", 2, lambda n, v, c: v + 1)],
     {"a": 1}, {"a": 2}, []),
    ("derived merged, each sees transformed tags", [(1, "transform", 1, lambda n, v, c: v * 2),
     (2, "derived_tags", 1, lambda t, c: {"p": t["v"] * t["i"]}), (3, "derived_tags", 2, lambda t, c: {"q": "p" in t})],
     {"v": 2, "i": 3}, {"v": 4, "i": 6, "p": 24, "q": False}, []),
    ("derived None is nothing, non-dict is rejected",
     [(1, "derived_tags", 1, lambda t, c: None), (2, "derived_tags", 2, lambda t, c: [1])],
     {"a": 1}, {"a": 1}, []),
    ("filter false drops the cycle", [(1, "filter", 1, lambda t, c: True), (2, "filter", 2, lambda t, c: t["run"] == 1),
     (3, "alarm", 1, lambda n, v, c: {"x": 1})], {"run": 0}, None, []),
    ("failing filter is skipped", [(1, "filter", 1, lambda t, c: 1 / 0)], {"a": 1}, {"a": 1}, []),
    ("alarms collected per tag in tag order, with script_id", [
        (1, "alarm", 2, lambda n, v, c: {"tag": n, "by": 1} if v > 5 else None),
        (2, "alarm", 1, lambda n, v, c: {"tag": n, "by": 2} if v > 8 else None)],
     {"a": 9, "b": 1, "c": 6}, {"a": 9, "b": 1, "c": 6},
     [{"tag": "a", "by": 2, "script_id": 2}, {"tag": "a", "by": 1, "script_id": 1},
      {"tag": "c", "by": 1, "script_id": 1}]),
    ("pre_send chained, None keeps the payload", [(1, "pre_send", 1, lambda p, c: {**p, "x": 1}),
     (2, "pre_send", 2, lambda p, c: None), (3, "pre_send", 3, lambda p, c: {**p, "y": p["x"] + 1})],
     {"a": 1}, {"a": 1}, []),
]  # fmt: skip


@pytest.mark.parametrize(("name", "hooks", "tags", "expected_tags", "expected_alarms"), CYCLES,
                         ids=[c[0] for c in CYCLES])
def test_cycle(name: str, hooks: Any, tags: Any, expected_tags: Any, expected_alarms: Any) -> None:
    result, alarms, _ = _run(hooks, tags)
    if expected_tags is None:
        assert result is None and alarms == []
    else:
        assert result is not None and result["tags"] == expected_tags
        assert result["timestamp"] == "t"
    assert alarms == expected_alarms


def test_pre_send_results_and_rejections_are_reported() -> None:
    result, _, caller = _run([(1, "pre_send", 1, lambda p, c: {**p, "x": 1}), (2, "pre_send", 2, lambda p, c: "nope"),
                              (3, "derived_tags", 1, lambda t, c: [1])], {"a": 1})  # fmt: skip
    assert result is not None and result["x"] == 1
    assert {sid for sid, _ in caller.failures} == {2, 3}


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


PLAIN = [
    ({"a": [1, 2.5, None, True, "s", {"b": []}]}, None),
    ((1, 2), "tuple"),
    ({1: 2}, "keys"),
    (2**64, "64 bits"),
    (_nested(40), "deeper"),
    ({1.5}, "set"),
]


@pytest.mark.parametrize(("value", "problem"), PLAIN)
def test_plain_copy(value: Any, problem: str | None) -> None:
    if problem is None:
        copy = plain_copy(value)
        assert copy == value and copy is not value
    else:
        with pytest.raises(NotPlain, match=problem):
            plain_copy(value)


def test_plain_copy_rejects_self_reference() -> None:
    a: list[Any] = []
    a.append(a)
    with pytest.raises(NotPlain, match="itself"):
        plain_copy({"x": a})


class _Str(str):
    pass


FLAT = [
    # Flat containers take the bulk path; each must be judged exactly as the item-by-item walk judges it.
    ({f"t{n}": float(n) for n in range(100)} | {"b": True, "n": None}, None),
    ([1.5, True, None] * 50, None),
    ({"a": 1.5, 2: 1.5}, "keys"),
    ({"a": 1.5, _Str("b"): 1.5}, "keys"),
    ({"a": 1.5, "b": _Str("x")}, "_Str"),
    ([1.5, 2**64], "64 bits"),
    ({"a": 1.5, "b": 2**64}, "64 bits"),
    ({"a" * 4_000_001: 1.0}, "characters"),
    ([1.5] * 100_001, "items"),
    ({"x": [1.5] * 60_000, "y": [1.5] * 60_000}, "items"),
]


@pytest.mark.parametrize(("value", "problem"), FLAT)
def test_plain_copy_of_flat_containers(value: Any, problem: str | None) -> None:
    if problem is None:
        copy = plain_copy(value)
        assert copy == value and copy is not value and type(copy) is type(value)
    else:
        with pytest.raises(NotPlain, match=problem):
            plain_copy(value)


def test_marker_gives_each_call_its_own_budget_from_when_the_parent_sees_it() -> None:
    buf = bytearray(marker.SIZE)
    mark = marker.Marker(buf)
    watch = marker.Watch()
    mark.mark(7, 10.0, 250.0, 0)
    assert marker.read(buf) == (7, 10.0, 250.0, 0)
    assert watch.limit(*marker.read(buf), now=9.9) == 10.0  # the first call: the marked deadline
    mark.call[0] = 1
    assert watch.limit(*marker.read(buf), now=10.1) == pytest.approx(10.35)  # first seen at 10.1
    assert watch.limit(*marker.read(buf), now=10.3) == pytest.approx(10.35)  # still the same call
    mark.call[0] = 2
    assert watch.limit(*marker.read(buf), now=10.3) == pytest.approx(10.55)  # the next call starts afresh
    mark.mark(7, 20.0, 250.0, 0)
    mark.call[0] = 2  # same script and call number, but a new mark: a new call
    assert watch.limit(*marker.read(buf), now=19.9) == pytest.approx(20.15)
    mark.leave()
    assert marker.read(buf)[0] == 0


def test_runtime_selects_hooks_per_context_and_forgets_them_on_load() -> None:
    from tagpipe.sandbox.runtime import Runtime

    runtime = Runtime(marker.Marker(bytearray(marker.SIZE)))
    add = "def transform(tag_name, raw_value, context):\n    return raw_value + {n}\n"
    runtime.load([
        {"id": 1, "hook_type": "transform", "code": add.format(n=1)},
        {"id": 2, "hook_type": "transform", "code": add.format(n=10), "scope": "equipment", "equipment_id": 7},
        {"id": 3, "hook_type": "transform", "code": add.format(n=100), "scope": "device", "device_id": "5"},
    ])  # fmt: skip

    def run(context: dict[str, Any], skip: list[int] | None = None) -> Any:
        return runtime.cycle({"tags": {"a": 0}}, context, skip or [])["p"]["tags"]["a"]

    assert run({"equipment_id": 7, "device_id": 5}) == 111
    assert run({"equipment_id": "7", "device_id": "6"}) == 11
    assert run({"equipment_id": 8, "device_id": 5}) == 101
    assert run({"equipment_id": 7, "device_id": 5}, [2]) == 101
    assert run({"equipment_id": None, "device_id": None}) == 1
    runtime.load([{"id": 4, "hook_type": "transform", "code": add.format(n=1000)}])
    assert run({"equipment_id": 7, "device_id": 5}) == 1000


@pytest.mark.parametrize("source", ["transform", "derived_tags", "collected"])
def test_a_list_among_the_tags_is_copied_for_each_hook(source: str) -> None:
    """Once a tag holds a list, one script's filter mutating it is never seen by another script's filter."""
    from tagpipe.sandbox.runtime import Runtime

    makers = {
        "transform": ("transform", ("def transform(tag_name, raw_value, context):\n"
                                    "    return [raw_value] if tag_name == 'x' else raw_value\n")),
        "derived_tags": ("derived_tags", "def derived_tags(tags, context):\n    return {'x': [tags['a']]}\n"),
    }
    scripts = [
        {"id": 2, "hook_type": "filter", "priority": 1,
         "code": "def filter_data(tags, context):\n    tags['x'].append(99)\n    tags['a'] = 0\n    return True\n"},
        {"id": 3, "hook_type": "filter", "priority": 2,
         "code": "def filter_data(tags, context):\n    return len(tags['x']) == 1 and tags['a'] == 1\n"},
        {"id": 4, "hook_type": "alarm",
         "code": "def alarm(tag_name, value, context):\n    return {'tag': tag_name} if value == [1] else None\n"},
    ]
    if source in makers:
        kind, code = makers[source]
        scripts.append({"id": 1, "hook_type": kind, "code": code})
    runtime = Runtime(marker.Marker(bytearray(marker.SIZE)))
    assert runtime.load(scripts)["errors"] == {}
    tags = {"a": 1, "x": [1] if source == "collected" else 1}
    out = runtime.cycle({"tags": tags}, {}, [])
    assert out["e"] == [] and out["p"] is not None, "script 3 saw script 2's changes"
    assert out["p"]["tags"] == {"a": 1, "x": [1]}
    assert [a["tag"] for a in out["a"]] == ["x"]
