"""Scope to edges as a table of cases, and the test-panel input shaped per hook type (pure functions)."""

from __future__ import annotations

import pytest

from tagpipe.scripts.scope import EVERY_EDGE, edges_of, expand, reaches
from tagpipe.scripts.testinput import shape

PLANT = [
    {"id": 1, "name": "Press 1", "connections": [{"id": 10, "name": "a", "edge_id": "edge-1"},
                                                 {"id": 11, "name": "b", "edge_id": "edge-2"}]},
    {"id": 2, "name": "Oven", "connections": [{"id": 20, "name": "c", "edge_id": "edge-3"}]},
    {"id": 3, "name": "Spare", "connections": []},
]

CASES = [
    # scope, target, edges reached
    ("global", {}, EVERY_EDGE),
    ("equipment", {"equipment_id": 1}, {"edge-1", "edge-2"}),
    ("equipment", {"equipment_id": 2}, {"edge-3"}),
    ("equipment", {"equipment_id": 3}, set()),
    ("equipment", {"equipment_id": 99}, set()),
    ("connection", {"connection_id": 11}, {"edge-2"}),
    ("connection", {"connection_id": 20}, {"edge-3"}),
    ("connection", {"connection_id": None}, set()),
    ("device", {"device_id": "edge-7"}, {"edge-7"}),
    ("device", {"device_id": None}, set()),
    ("nonsense", {"equipment_id": 1}, set()),
]


@pytest.mark.parametrize(("scope", "target", "expected"), CASES)
def test_scope_reaches_these_edges(scope: str, target: dict, expected: set[str]) -> None:
    full = {"equipment_id": None, "connection_id": None, "device_id": None, **target}
    assert edges_of(scope, equipment=PLANT, **full) == expected
    for edge in ("edge-1", "edge-2", "edge-3", "edge-7"):
        assert reaches(scope, edge, equipment=PLANT, **full) == (expected is EVERY_EDGE or edge in expected)


def test_expand_replaces_every_edge_by_the_known_edges() -> None:
    assert expand([frozenset({"edge-9"}), EVERY_EDGE], ["edge-1", "edge-2"]) == {"edge-1", "edge-2", "edge-9"}
    assert expand([frozenset({"edge-9"})], ["edge-1"]) == {"edge-9"}


SHAPES = [
    ("transform", {"tag_name": "voltage", "raw_value": 230.0}),
    ("alarm", {"tag_name": "voltage", "value": 230.0}),
    ("derived_tags", {"tags": {"voltage": 230.0, "current": 2.0}}),
    ("filter", {"tags": {"voltage": 230.0, "current": 2.0}}),
    ("pre_send", {"payload": {"timestamp": "T", "equipment_id": 1, "connection_id": 10,
                              "tags": {"voltage": 230.0, "current": 2.0}}}),
]


@pytest.mark.parametrize(("hook_type", "expected"), SHAPES)
def test_test_input_is_shaped_per_hook_type(hook_type: str, expected: dict) -> None:
    context = {"device_id": "edge-1", "equipment_id": 1, "connection_id": 10, "company_code": ""}
    assert shape(hook_type, {"voltage": 230.0, "current": 2.0}, context, timestamp="T") == expected
