"""The scripts API against a real server: hook types, dry runs, refusals, versions, diff, rollback, edge config."""

from __future__ import annotations

import time

API = "/api/fleet/scripts"
DOUBLE = "def transform(tag_name, raw_value, context):\n    return raw_value * 2\n"
TRIPLE = "def transform(tag_name, raw_value, context):\n    return raw_value * 3\n"


def _script(**over: object) -> dict:
    return {"name": "double", "hook_type": "transform", "scope": "global", "code": DOUBLE, **over}


def test_hook_types_list_the_five_seed_hooks_with_examples(shared_central) -> None:
    types = {t["name"]: t for t in shared_central.get(f"{API}/hook-types").json()}
    assert list(types) == ["transform", "derived_tags", "filter", "alarm", "pre_send"]
    assert types["filter"]["function"] == "filter_data"
    assert types["derived_tags"]["signature"].startswith("derived_tags(tags, context)")
    assert "def pre_send(payload, context)" in types["pre_send"]["example"]


def test_dry_run_answers_result_prints_and_duration(shared_central) -> None:
    code = ("def derived_tags(tags, context):\n    print('v', tags['voltage'])\n"
            "    return {'power': tags['voltage'] * tags['current']}\n")
    r = shared_central.post(f"{API}/dry-run", {"code": code, "hook_type": "derived_tags",
                                        "test_input": {"tags": {"voltage": 220.0, "current": 5.0}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] and body["result"] == {"power": 1100.0}
    assert body["prints"].strip() == "v 220.0" and body["duration_ms"] >= 0


def test_dry_run_of_an_infinite_loop_times_out_and_the_server_stays_responsive(shared_central) -> None:
    code = "def filter_data(tags, context):\n    while True:\n        pass\n"
    started = time.monotonic()
    r = shared_central.post(f"{API}/dry-run", {"code": code, "hook_type": "filter", "test_input": {"tags": {}},
                                        "timeout_ms": 300})
    assert r.status_code == 200 and time.monotonic() - started < 5
    assert not r.json()["ok"] and r.json()["error"] == "timed out after 300 ms"
    assert shared_central.get("/api/health").json()["bus"], "the server still answers"
    again = shared_central.post(f"{API}/dry-run", {"code": DOUBLE, "hook_type": "transform",
                                            "test_input": {"tag_name": "t", "raw_value": 4}})
    assert again.json()["result"] == 8


def test_dry_run_reports_the_line_of_a_syntax_error_and_of_a_runtime_error(shared_central) -> None:
    syntax = "def transform(tag_name, raw_value, context):\n    x = 1\n    return raw_value +* 2\n"
    r = shared_central.post(f"{API}/dry-run", {"code": syntax, "hook_type": "transform",
                                        "test_input": {"tag_name": "t", "raw_value": 1}}).json()
    assert not r["ok"] and r["line"] == 3, r
    runtime = "def transform(tag_name, raw_value, context):\n    scale = 0\n    return raw_value / scale\n"
    r = shared_central.post(f"{API}/dry-run", {"code": runtime, "hook_type": "transform",
                                        "test_input": {"tag_name": "t", "raw_value": 1}}).json()
    assert not r["ok"] and r["line"] == 3 and "ZeroDivisionError" in r["error"], r


def test_bad_code_is_refused_at_save_naming_code_with_the_line_and_nothing_is_stored(shared_central) -> None:
    cases = [
        ("def transform(tag_name, raw_value, context):\n    return (\n", None),
        ("def transform(tag_name, raw_value, context):\n    return raw_value\n  oops\n", 3),
        ("def transformer(tag_name, raw_value, context):\n    return raw_value\n", None),
        ("import os\ndef transform(tag_name, raw_value, context):\n    return raw_value\n", 1),
    ]
    for code, line in cases:
        r = shared_central.post(API, _script(code=code))
        assert r.status_code == 422, (code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        errors = r.json()["errors"]
        assert errors[0]["field"] == "code" and errors[0]["message"], r.json()
        if line is not None:
            assert errors[0]["line"] == line, r.json()
    assert shared_central.get(API).json() == []
    created = shared_central.post(API, _script()).json()
    r = shared_central.put(f"{API}/{created['id']}", {"code": "def transform(:\n"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    assert shared_central.get(f"{API}/{created['id']}").json()["code"] == DOUBLE
    assert len(shared_central.get(f"{API}/{created['id']}/versions").json()) == 1
    with shared_central.api as c:
        c.delete(f"{API}/{created['id']}")


def test_scope_needs_an_existing_target(shared_central) -> None:
    r = shared_central.post(API, _script(scope="connection", connection_id=999))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "connection_id"
    r = shared_central.post(API, _script(scope="equipment"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "equipment_id"
    r = shared_central.post(API, _script(hook_type="sorting"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "hook_type"


def test_versions_diff_and_rollback(central) -> None:
    sid = central.post(API, _script()).json()["id"]
    assert central.put(f"{API}/{sid}", {"code": TRIPLE}).json()["version"] == 2
    assert central.put(f"{API}/{sid}", {"priority": 5}).json()["version"] == 3
    assert central.put(f"{API}/{sid}", {"name": "renamed"}).json()["version"] == 3  # a label is not a new version
    versions = central.get(f"{API}/{sid}/versions").json()
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[0]["code"] == DOUBLE and versions[2]["settings"]["priority"] == 5

    diff = central.get(f"{API}/{sid}/diff", params={"from": 1, "to": 2}).json()["diff"]
    assert "-    return raw_value * 2" in diff and "+    return raw_value * 3" in diff
    assert diff.startswith("--- v1\n+++ v2\n")
    assert central.get(f"{API}/{sid}/diff", params={"from": 1, "to": 9}).status_code == 404

    rolled = central.post(f"{API}/{sid}/rollback/1", {}).json()
    assert rolled["version"] == 4 and rolled["code"] == DOUBLE and rolled["priority"] == 100
    assert central.get(f"{API}/{sid}/versions").json()[-1]["comment"] == "rollback to v1"
    assert central.get(f"{API}/{sid}/diff", params={"from": 1, "to": 4}).json()["diff"] == ""


def test_list_filters(central) -> None:
    ids = central.plant("simulator", {}, [{"name": "t", "address": "sine", "data_type": "FLOAT32"}])
    central.post(API, _script())
    central.post(API, _script(name="eq", scope="equipment", equipment_id=ids["equipment_id"], enabled=False))
    central.post(API, _script(name="al", hook_type="alarm",
                              code="def alarm(tag_name, value, context):\n    return None\n"))

    def names(**q: str) -> list[str]:
        return [s["name"] for s in central.get(API, params=q).json()]

    assert names(hook_type="alarm") == ["al"]
    assert names(scope="equipment") == ["eq"] == names(equipment_id=ids["equipment_id"])
    assert sorted(names(enabled="true")) == ["al", "double"]


def test_edge_config_carries_enabled_scripts_in_scope_and_disable_or_delete_changes_the_etag(central) -> None:
    a = central.plant("simulator", {}, [{"name": "t", "address": "sine", "data_type": "FLOAT32"}], edge_id="edge-1")
    b = central.plant("simulator", {}, [{"name": "u", "address": "ramp", "data_type": "FLOAT32"}], edge_id="edge-2",
                      equipment="Oven")
    config = central.edge_config
    etag = config("edge-1").headers["etag"]
    glob = central.post(API, _script()).json()
    conn = central.post(API, _script(name="c", scope="connection", connection_id=b["connection"]["id"],
                                     priority=7)).json()
    central.post(API, _script(name="e", scope="equipment", equipment_id=a["equipment_id"]))
    central.post(API, _script(name="d", scope="device", device_id="edge-2"))

    one = config("edge-1").json()["scripts"]
    assert [s["script_name"] for s in one] == ["double", "e"]
    assert set(one[0]) >= {"id", "hook_type", "script_name", "scope", "equipment_id", "connection_id", "device_id",
                           "priority", "timeout_ms", "version", "code"}
    assert one[0] == {"id": glob["id"], "hook_type": "transform", "script_name": "double", "scope": "global",
                      "equipment_id": None, "connection_id": None, "device_id": None, "priority": 100,
                      "timeout_ms": 1000, "version": 1, "code": DOUBLE}
    assert [s["script_name"] for s in config("edge-2").json()["scripts"]] == ["c", "double", "d"]
    assert config("edge-1").headers["etag"] != etag

    etag = config("edge-2").headers["etag"]
    central.put(f"{API}/{conn['id']}", {"enabled": False})
    assert "c" not in [s["script_name"] for s in config("edge-2").json()["scripts"]]
    assert config("edge-2").headers["etag"] != etag
    etag = config("edge-2").headers["etag"]
    with central.api as c:
        assert c.delete(f"{API}/{glob['id']}").status_code == 204
        assert c.get(f"{API}/{glob['id']}").status_code == 404
    assert config("edge-2").headers["etag"] != etag
    assert [s["script_name"] for s in config("edge-2").json()["scripts"]] == ["d"]


def test_the_server_sandbox_says_it_has_no_network(shared_central) -> None:
    import os

    body = shared_central.get(f"{API}/sandbox").json()
    assert body["no_network"] is True and body["seccomp"] == "on", body
    assert body["sockets"] == {"inet": "EPERM", "inet6": "EPERM", "unix": "EPERM"}
    assert body["network_namespace"] == ("on" if os.geteuid() == 0 else "off: needs root (CAP_SYS_ADMIN)")
