"""The retention and storage routes against a real server: bad input is 422 naming the field, the most specific
policy wins, and the disk figures name every table."""

from __future__ import annotations

import httpx
import pytest

from tests.web.test_api_errors import problem


@pytest.fixture(scope="module")
def ids(shared_central) -> dict:
    eq = shared_central.post("/api/equipment", {"name": "Kiln"}).json()
    conn = shared_central.post("/api/connections", {"equipment_id": eq["id"], "edge_id": "edge-1", "name": "PLC",
                                                    "protocol": "simulator", "settings": {}}).json()
    tags = [shared_central.post("/api/tags", {"connection_id": conn["id"], "name": name, "address": "sine",
                                              "data_type": "FLOAT64"}).json()["id"] for name in ("t1", "t2")]
    return {"equipment": eq["id"], "tags": tags}


GOOD = {"raw_days": 30, "rollup_1m_months": 6}
BAD = [  # (body, the fields the answer names)
    ({"raw_days": -1, "rollup_1m_months": 6}, {"raw_days"}),
    ({"raw_days": 36_501, "rollup_1m_months": 6}, {"raw_days"}),
    ({"raw_days": 30, "rollup_1m_months": 1201}, {"rollup_1m_months"}),
    ({"raw_days": "30", "rollup_1m_months": 6}, {"raw_days"}),
    ({"raw_days": 1.5, "rollup_1m_months": 6}, {"raw_days"}),
    ({"raw_days": True, "rollup_1m_months": 6}, {"raw_days"}),
    ({"raw_days": 30, "rollup_1m_months": "forever"}, {"rollup_1m_months"}),
    ({}, {"raw_days", "rollup_1m_months"}),
    ({**GOOD, "rollup_1h_months": 12}, {"rollup_1h_months"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD)
@pytest.mark.parametrize("scope", ["default", "equipment", "tag"])
def test_bad_input_is_422_naming_the_field_and_changes_nothing(shared_central, ids: dict, scope: str, body: dict,
                                                               fields: set[str]) -> None:
    path = {"default": "default", "equipment": f"equipment/{ids['equipment']}", "tag": f"tags/{ids['tags'][0]}"}
    before = shared_central.get("/api/retention").json()
    answer = problem(shared_central.put(f"/api/retention/{path[scope]}", body), 422)
    named = {e["field"].split(".")[0] for e in answer["errors"]}
    assert named == fields, answer
    assert shared_central.get("/api/retention").json() == before


def test_an_override_of_what_does_not_exist_is_404(shared_central) -> None:
    problem(shared_central.put("/api/retention/tags/999999", GOOD), 404)
    problem(shared_central.put("/api/retention/equipment/999999", GOOD), 404)
    problem(shared_central.delete("/api/retention/tags/999999"), 404)
    problem(shared_central.get(f"/api/retention/tags/{2**40}"), 404)


def test_the_tags_own_policy_beats_its_equipments_which_beats_the_default(shared_central, ids: dict) -> None:
    t1, t2 = ids["tags"]
    assert shared_central.get("/api/retention").json()["default"] == {
        "raw_days": 365, "rollup_1m_months": 24, "rollup_1h": "forever"}, "the built-in default"
    assert shared_central.put("/api/retention/default", {"raw_days": 0, "rollup_1m_months": None}).json() == {
        "raw_days": None, "rollup_1m_months": None, "rollup_1h": "forever"}, "0 and null: forever"
    assert shared_central.get(f"/api/retention/tags/{t1}").json()["scope"] == "default"
    assert shared_central.put(f"/api/retention/equipment/{ids['equipment']}", GOOD).status_code == 200
    assert shared_central.put(f"/api/retention/tags/{t1}", {"raw_days": 7, "rollup_1m_months": 0}).status_code == 200
    one, two = (shared_central.get(f"/api/retention/tags/{t}").json() for t in (t1, t2))
    assert (one["scope"], one["raw_days"], one["rollup_1m_months"]) == ("tag", 7, None)
    assert (two["scope"], two["raw_days"], two["rollup_1m_months"]) == ("equipment", 30, 6)
    listed = shared_central.get("/api/retention").json()
    assert [(o["id"], o["name"], o["raw_days"]) for o in listed["equipment"]] == [(ids["equipment"], "Kiln", 30)]
    assert [(o["id"], o["name"], o["raw_days"]) for o in listed["tags"]] == [(t1, "t1", 7)]

    assert shared_central.delete(f"/api/retention/tags/{t1}").status_code == 204
    assert shared_central.get(f"/api/retention/tags/{t1}").json()["scope"] == "equipment"
    assert shared_central.delete(f"/api/retention/equipment/{ids['equipment']}").status_code == 204
    assert shared_central.delete("/api/retention/default").status_code == 204
    assert shared_central.get(f"/api/retention/tags/{t1}").json() == {
        "tag_id": t1, "scope": "default", "raw_days": 365, "rollup_1m_months": 24, "rollup_1h": "forever"}


def test_a_viewer_reads_retention_and_storage_and_changes_nothing(shared_central) -> None:
    token = shared_central.user("retention-viewer", "viewer")
    with httpx.Client(base_url=shared_central.url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get("/api/retention").status_code == 200 and c.get("/api/storage").status_code == 200
        problem(c.put("/api/retention/default", json=GOOD), 403)


def test_storage_names_every_table_with_its_size_and_the_disk(shared_central) -> None:
    s = shared_central.get("/api/storage").json()
    sizes = {t["name"]: t["bytes"] for t in s["tables"]}
    assert {"samples", "sample_blocks", "rollup_1m", "rollup_1h", "retention_policies", "tags"} <= set(sizes)
    assert all(b > 0 for b in sizes.values())
    assert s["backend"] == "sqlite" and s["database_bytes"] >= sum(sizes.values())
    assert s["path"] == str(shared_central.data_dir.resolve())
    assert 0 < s["disk_free_bytes"] <= s["disk_total_bytes"]
    assert s["growth_bytes_per_day"] is None and s["days_until_full"] is None, "no hour of measurements yet"
