"""The shared input types: every API model built from them refuses the same bad values, cases as data."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel, ValidationError

from tagpipe.plant.schemas import ConnectionIn, EquipmentIn, TagIn
from tagpipe.plant.values import WriteIn
from tagpipe.scripts.schemas import ScriptIn, ScriptOut
from tagpipe.web.inputs import INPUT, Flag, Id, Name, Text, UtcDatetime

NAN, INF = float("nan"), float("inf")


class Shape(BaseModel):
    model_config = INPUT

    id: Id = 1
    name: Name = "n"
    text: Text = ""
    flag: Flag = True
    number: float = 0.0


REFUSED = [
    ({"id": 0}, "id"), ({"id": 2**63}, "id"), ({"id": -1}, "id"), ({"id": 1.5}, "id"),
    ({"name": ""}, "name"), ({"name": "x" * 121}, "name"), ({"name": "Press\r\n1"}, "name"),
    ({"name": "a\x00b"}, "name"), ({"name": "tab\there"}, "name"), ({"name": "del\x7f"}, "name"),
    ({"name": "c1\x85"}, "name"), ({"name": "line\u2028sep"}, "name"), ({"name": "lone\ud800"}, "name"),
    ({"text": "nul\x00"}, "text"), ({"text": "lone\udfff"}, "text"),
    ({"flag": 0}, "flag"), ({"flag": 1}, "flag"), ({"flag": "true"}, "flag"), ({"flag": "yes"}, "flag"),
    ({"number": NAN}, "number"), ({"number": INF}, "number"), ({"number": -INF}, "number"),
    ({"typo": 1}, "typo"),
]


@pytest.mark.parametrize(("fields", "field"), REFUSED, ids=[repr(c[0]) for c in REFUSED])
def test_bad_values_are_refused_naming_the_field(fields: dict, field: str) -> None:
    with pytest.raises(ValidationError) as e:
        Shape(**fields)
    assert [err["loc"][0] for err in e.value.errors()] == [field]


@pytest.mark.parametrize("fields", [
    {"id": 2**63 - 1}, {"name": "프레스 1号機 (Ø 40)"}, {"text": "line 1\nline 2\ttab"}, {"flag": False},
    {"number": -1e308},
])
def test_good_values_pass(fields: dict) -> None:
    assert Shape(**fields)


def test_every_api_input_model_forbids_unknown_keys_and_nan() -> None:
    for model in (EquipmentIn, ConnectionIn, TagIn, ScriptIn, WriteIn):
        assert model.model_config.get("extra") == "forbid", model
        assert model.model_config.get("allow_inf_nan") is False, model
    with pytest.raises(ValidationError):
        TagIn(connection_id=1, name="t", address="40001", scale=NAN)
    with pytest.raises(ValidationError):
        ConnectionIn(equipment_id=1, edge_id="e", name="c", protocol="simulator", enabled=0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        WriteIn(value=NAN)


def test_stored_naive_times_are_shown_in_utc_with_a_zone() -> None:
    class Out(BaseModel):
        at: UtcDatetime

    assert Out(at=dt.datetime(2026, 1, 31, 8, 0)).model_dump_json() == '{"at":"2026-01-31T08:00:00Z"}'
    naive = dt.datetime(2026, 1, 31, 8, 0)
    out = ScriptOut(id=1, name="s", description="", hook_type="transform", scope="global", equipment_id=None,
                    connection_id=None, device_id=None, priority=1, timeout_ms=1, enabled=True, version=1, code="x",
                    created_at=naive, updated_at=naive)
    assert out.model_dump(mode="json")["created_at"] == "2026-01-31T08:00:00Z"
