"""Read paths never fail on stored data: rows written straight into the database as an older ingest or an older
API left them (times out of range, values that are not JSON, names with line breaks) are shown, not a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tagpipe.db import make_engine

BAD_LATEST = [
    (-1_000_000_000_000_000, "21.5", 0),  # -1e12 "seconds" read as ms: year -29719
    (9_000_000_000_000_000, "21.5", 0),  # 9e15 ms: year 287,000
    (1_776_412_800_000, "not json", 0),
    (1_776_412_800_000, "NaN", 0),
    (1_776_412_800_000, "[1, Infinity]", 0),
    (2**62, "1", 1),
]


@pytest.fixture(scope="module")
def rows(shared_central) -> dict:
    eq = shared_central.post("/api/equipment", {"name": "Line 3"}).json()["id"]
    conn = shared_central.post("/api/connections", {"equipment_id": eq, "edge_id": "edge-1", "name": "PLC",
                                                    "protocol": "simulator"}).json()["id"]
    tags = [shared_central.post("/api/tags", {"connection_id": conn, "name": f"t{i}", "address": "sine",
                                              "data_type": "FLOAT64"}).json()["id"] for i in range(len(BAD_LATEST) + 1)]
    engine = make_engine(shared_central.db_url)
    with engine.begin() as db:
        for tag_id, (ts, value_json, quality) in zip(tags, BAD_LATEST, strict=False):
            db.execute(text("INSERT INTO latest (tag_id, ts, value_json, quality) VALUES (:t, :ts, :v, :q)"),
                       {"t": tag_id, "ts": ts, "v": value_json, "q": quality})
        db.execute(text("INSERT INTO latest (tag_id, ts, value_json, quality) VALUES (:t, 1776412800000, '42', 0)"),
                   {"t": tags[-1]})
        # Names stored before names were checked.
        db.execute(text("INSERT INTO equipment (name, description) VALUES ('Press\r\n2 <b>', '')"))
        broken = db.execute(text("SELECT id FROM equipment WHERE name LIKE 'Press%2%'")).scalar()
        db.execute(text("INSERT INTO connections (equipment_id, edge_id, name, protocol, settings, interval_ms, "
                        "enabled) VALUES (:e, 'edge-1', 'PLC\n2', 'simulator', '{}', 1000, 1)"), {"e": broken})
        conn2 = db.execute(text("SELECT id FROM connections WHERE equipment_id = :e"), {"e": broken}).scalar()
        db.execute(text("INSERT INTO tags (connection_id, name, address, data_type, scale, \"offset\", unit, writable, "
                        "source, key) VALUES (:c, 'line\r\nbreak', 'sine', 'FLOAT64', 1, 0, '', 0, 'plc', "
                        "'plc/' || :c || '/line break')"), {"c": conn2})
        newline_tag = db.execute(text("SELECT id FROM tags WHERE connection_id = :c"), {"c": conn2}).scalar()
    engine.dispose()
    return {"tags": tags, "broken_equipment": broken, "newline_tag": newline_tag, "connection": conn2}


def test_tags_with_bad_stored_values_are_listed_as_bad(shared_central, rows) -> None:
    r = shared_central.get("/api/tags")
    assert r.status_code == 200, r.text
    by_id = {t["id"]: t for t in r.json()}
    for tag_id in rows["tags"][:-1]:
        assert by_id[tag_id]["quality"] == "bad", by_id[tag_id]
    out_of_range = by_id[rows["tags"][0]]
    assert out_of_range["timestamp"] is None and out_of_range["age_s"] is None and out_of_range["value"] == 21.5
    assert by_id[rows["tags"][-1]]["quality"] == "good" and by_id[rows["tags"][-1]]["value"] == 42
    for tag_id in rows["tags"]:
        one = shared_central.get(f"/api/tags/{tag_id}")
        assert one.status_code == 200 and one.json()["quality"] in ("good", "bad"), one.text


def test_names_with_line_breaks_stored_earlier_are_shown_everywhere(shared_central, rows) -> None:
    tags = {t["id"]: t for t in shared_central.get("/api/tags").json()}
    assert tags[rows["newline_tag"]]["equipment"] == "Press\r\n2 <b>"
    for path in ("/api/equipment", "/api/connections", f"/api/tags/{rows['newline_tag']}/config",
                 "/api/fleet/devices"):
        r = shared_central.get(path)
        assert r.status_code == 200, (path, r.text)
    config = shared_central.edge_config("edge-1")  # as the edge reads it, with its own credential
    assert config.status_code == 200, config.text
    assert "PLC\n2" in {d["name"] for d in config.json()["devices"]}
    with shared_central.browser() as browser:  # the pages, logged in as a browser is
        page = browser.get("/")
        assert page.status_code == 200, page.text[-2000:]
        assert "Press\\r\\n2" in page.text  # the name travels as data (JSON), not as HTML or props
        assert browser.get("/trends").status_code == 200
        assert browser.get("/config").status_code == 200


def test_a_stored_connection_with_a_name_that_is_refused_now_can_still_be_tested(shared_central, rows) -> None:
    r = shared_central.post(f"/api/connections/{rows['connection']}/test", {})
    assert r.status_code == 200 and r.json()["values"]["line\r\nbreak"]["error"] is None, r.text
