"""Zero server errors: what schemathesis found against the demo, each as a case against a real server.

Every answer below is 4xx problem+json naming the field, never a 500, the UI's HTML or a silently dropped typo.
"""

from __future__ import annotations

import httpx
import pytest

PROBLEM = "application/problem+json"


def problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.fixture(scope="module")
def ids(shared_central) -> dict:
    eq = shared_central.post("/api/equipment", {"name": "Press 1"}).json()
    conn = shared_central.post("/api/connections", {"equipment_id": eq["id"], "edge_id": "edge-1", "name": "PLC",
                                                    "protocol": "simulator", "settings": {}}).json()
    tag = shared_central.post("/api/tags", {"connection_id": conn["id"], "name": "t", "address": "sine",
                                            "data_type": "FLOAT64"}).json()
    return {"equipment": eq["id"], "connection": conn["id"], "tag": tag["id"]}


WRONG_METHODS = [("TRACE", "/api/tags", "GET, POST"), ("PATCH", "/api/tags/1", "GET, PUT, DELETE"),
                 ("DELETE", "/api/equipment", "GET, POST"), ("PUT", "/api/fleet/devices", "GET, POST"),
                 ("GET", "/api/connections/test", "POST"), ("OPTIONS", "/api/health", "GET")]


@pytest.mark.parametrize(("method", "path", "allow"), WRONG_METHODS)
def test_a_wrong_method_is_405_problem_json_with_allow(shared_central, method: str, path: str, allow: str) -> None:
    r = shared_central.request(method, path)
    problem(r, 405)
    assert r.headers["allow"] == allow


@pytest.mark.parametrize("path", ["/api/nothing", "/api/tags/1/nothing", "/api/fleet/scripts/1/versions/2"])
def test_an_unknown_api_path_is_404_problem_json_not_the_ui(shared_central, path: str) -> None:
    problem(shared_central.get(path), 404)
    with shared_central.anonymous as c:  # the UI is still there (its log-in page)
        assert c.get("/login").headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/api/equipment/9999999999999999999", {"name": "x"}),
    ("GET", "/api/tags/9223372036854775808", None),
    ("GET", "/api/tags/0", None),
    ("POST", "/api/fleet/scripts/1/rollback/99999999999999999999", None),
    ("GET", "/api/fleet/scripts/1/diff?from=1&to=18446744073709551616", None),
    ("GET", "/api/connections?equipment_id=9223372036854775808", None),
    ("GET", "/api/history.csv?tags=1,99999999999999999999", None),
    ("POST", "/api/connections", {"equipment_id": 2**64, "edge_id": "e", "name": "c", "protocol": "simulator"}),
    ("POST", "/api/fleet/scripts", {"name": "s", "hook_type": "transform", "scope": "equipment",
                                    "equipment_id": 2**63, "code": "def transform(t, v, c):\n    return v\n"}),
])
def test_ids_beyond_64_bits_are_422(shared_central, method: str, path: str, body: object) -> None:
    problem(shared_central.request(method, path, json=body), 422)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/api/equipment/99999999999", {"name": "x"}),  # fits 64 bits, no integer column holds it
    ("GET", "/api/tags/2147483648", None),
    ("DELETE", "/api/connections/9223372036854775807", None),
    ("GET", "/api/fleet/scripts/4294967296/versions", None),
    ("GET", "/api/fleet/scripts/-1", None),  # not an id at all: no route
    ("POST", "/api/connections", {"equipment_id": 2**40, "edge_id": "e", "name": "c", "protocol": "simulator"}),
])
def test_ids_no_table_can_hold_are_404(shared_central, method: str, path: str, body: object) -> None:
    problem(shared_central.request(method, path, json=body), 404)


@pytest.mark.parametrize("query", [
    {"start": "inf"}, {"end": "1e300"}, {"start": "nan"}, {"end": "-inf"}, {"start": "-5"},
    {"end": "2026-01-31T08:00:00"},  # no zone: not RFC 3339
    {"start": "99999-01-01T00:00:00Z"}, {"start": "2026-13-01T00:00:00Z"}, {"start": "1e20"},
])
def test_history_times_must_be_finite_zoned_and_in_range(shared_central, ids, query: dict) -> None:
    problem(shared_central.get(f"/api/tags/{ids['tag']}/history", params=query), 422)
    problem(shared_central.get("/api/history.csv", params={"tags": str(ids["tag"]), **query}), 422)


def test_good_history_times_are_answered(shared_central, ids) -> None:
    r = shared_central.get(f"/api/tags/{ids['tag']}/history",
                           params={"start": "2026-01-31T08:00:00+09:00", "end": "1769846400000"})
    assert r.status_code == 200, r.text
    assert r.json()["start"] == "2026-01-30T23:00:00.000Z"


@pytest.mark.parametrize(("path", "query"), [
    ("/api/fleet/devices/edge-1", {"hours": "nan"}), ("/api/fleet/devices/edge-1", {"hours": "inf"}),
])
def test_float_query_parameters_must_be_finite(shared_central, path: str, query: dict) -> None:
    problem(shared_central.get(path, params=query), 422)


def test_float_wait_must_be_finite(shared_central) -> None:
    r = shared_central.request("POST", "/api/fleet/devices/edge-1/commands", params={"wait_s": "nan"},
                               json={"command": "ping"})
    problem(r, 422)


def test_malformed_json_and_wrong_content_are_problem_json(shared_central) -> None:
    for content, headers in [(b'{"name": ', {"content-type": "application/json"}),
                             (b"\xff\xfe", {"content-type": "application/json"}),
                             (b"name=x", {"content-type": "application/x-www-form-urlencoded"}),
                             (b"[1, 2]", {"content-type": "application/json"})]:
        r = shared_central.request("POST", "/api/equipment", content=content, headers=headers)
        assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM), (content, r.text)


def test_a_strict_boolean_a_finite_scale_and_no_unknown_keys(shared_central, ids) -> None:
    conn = {"equipment_id": ids["equipment"], "edge_id": "edge-1", "name": "PLC 2", "protocol": "simulator"}
    body = problem(shared_central.post("/api/connections", {**conn, "enabled": 0}), 422)
    assert body["errors"][0]["field"] == "enabled"
    # NaN is not JSON, but Python's parser reads it: it must be refused as input, not stored and answered 409.
    raw = (b'{"connection_id": %d, "name": "nan_scale", "address": "sine", "scale": NaN}' % ids["connection"])
    r = shared_central.request("POST", "/api/tags", content=raw, headers={"content-type": "application/json"})
    assert problem(r, 422)["errors"][0]["field"] == "scale"
    typo = {**conn, "protocol": "modbus_tcp", "settings": {"host": "127.0.0.1", "port": 502, "unit": 1}}
    body = problem(shared_central.post("/api/connections", typo), 422)
    assert "unit" in body["detail"], body
    body = problem(shared_central.post("/api/connections/test", {"protocol": "s7", "settings": {
        "host": "127.0.0.1", "slott": 1}}), 422)
    assert "slott" in body["detail"]
    problem(shared_central.post("/api/equipment", {"name": "x", "descripton": "typo"}), 422)
    assert shared_central.get("/api/protocols").json()["modbus_tcp"]["settings"]["properties"]["host"]


@pytest.mark.parametrize("name", ["Press\r\n1", "Press\n", "a\x00b", "tab\there", "bell\x07"])
def test_names_with_control_characters_are_refused_on_every_path(shared_central, ids, name: str) -> None:
    assert problem(shared_central.post("/api/equipment", {"name": name}), 422)["errors"][0]["field"] == "name"
    problem(shared_central.put(f"/api/equipment/{ids['equipment']}", {"name": name}), 422)
    conn = {"equipment_id": ids["equipment"], "edge_id": "edge-1", "name": name, "protocol": "simulator"}
    problem(shared_central.post("/api/connections", conn), 422)
    problem(shared_central.put(f"/api/connections/{ids['connection']}", conn), 422)
    tag = {"connection_id": ids["connection"], "name": name, "address": "sine"}
    problem(shared_central.post("/api/tags", tag), 422)
    problem(shared_central.put(f"/api/tags/{ids['tag']}", tag), 422)
    problem(shared_central.post("/api/fleet/scripts", {"name": name, "hook_type": "transform", "code": "x = 1"}), 422)


def test_script_timestamps_are_rfc_3339_with_a_zone(shared_central) -> None:
    code = "def transform(tag_name, raw_value, context):\n    return raw_value\n"
    script = shared_central.post("/api/fleet/scripts", {"name": "same", "hook_type": "transform", "code": code})
    assert script.status_code == 201, script.text
    for stamp in (script.json()["created_at"], script.json()["updated_at"],
                  shared_central.get(f"/api/fleet/scripts/{script.json()['id']}/versions").json()[0]["created_at"]):
        assert stamp.endswith("Z"), stamp


def test_the_fleet_lists_an_edge_that_never_sent_a_heartbeat(shared_central, ids) -> None:
    r = shared_central.post("/api/connections", {"equipment_id": ids["equipment"], "edge_id": "never-seen",
                                                 "name": "Silent", "protocol": "simulator"})
    assert r.status_code == 201, r.text
    devices = shared_central.get("/api/fleet/devices")
    assert devices.status_code == 200, devices.text
    assert {"id": "never-seen", "status": "offline", "last_heartbeat": None}.items() <= \
        next(d for d in devices.json() if d["id"] == "never-seen").items()
    problem(shared_central.get("/api/fleet/devices/never-seen"), 404)
    problem(shared_central.get("/api/fleet/devices/bad%00id"), 422)


def test_the_openapi_document_describes_errors_as_problem_json(shared_central) -> None:
    doc = shared_central.get("/openapi.json").json()
    operations = [op for path, ops in doc["paths"].items() if path.startswith("/api") for op in ops.values()]
    assert operations and all(PROBLEM in op["responses"]["4XX"]["content"] for op in operations)
    assert all(PROBLEM in op["responses"]["422"]["content"] for op in operations if "422" in op["responses"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["paths"]["/api/tags/{tag_id}"]["get"]["parameters"][0]["schema"]["maximum"] == 2**63 - 1


def test_connections_outside_the_allowed_networks_are_refused_before_any_connect(tmp_path, nats_server) -> None:
    """With TAGPIPE_DEVICE_NETWORKS, a host outside them (or a name, which would need DNS) is 422, never tried."""
    import os

    from tagpipe.db import upgrade
    from tests.conftest import Central, _spawn, _stop, bus_env, provision_admin
    from tests.helpers import free_port, wait_until

    data_dir, port = tmp_path / "central", free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data_dir), "TAGPIPE_HTTP_PORT": str(port), **bus_env(nats_server),
           "TAGPIPE_DEVICE_NETWORKS": '["127.0.0.0/8"]'}
    data_dir.mkdir()
    upgrade(f"sqlite:///{data_dir / 'tagpipe.db'}")
    c = Central(url=f"http://127.0.0.1:{port}", data_dir=data_dir, nats=nats_server, env=env,
                token=provision_admin(f"sqlite:///{data_dir / 'tagpipe.db'}"))
    proc = _spawn(["tagpipe", "server"], env, data_dir / "server.log")
    try:
        wait_until(lambda: c.get("/api/health").status_code == 200, timeout=30)
        eq = c.post("/api/equipment", {"name": "E"}).json()["id"]
        for settings, field in [({"host": "192.0.2.1"}, "connection.host"),
                                ({"host": "plc.example"}, "connection.host"),
                                ({"host": "::ffff:10.0.0.1"}, "connection.host")]:
            body = problem(c.post("/api/connections/test", {"protocol": "modbus_tcp", "settings": settings}), 422)
            assert body["errors"][0]["field"] == field
            problem(c.post("/api/connections", {"equipment_id": eq, "edge_id": "e", "name": "c",
                                                "protocol": "s7", "settings": settings}), 422)
        body = problem(c.post("/api/opcua/browse", {"settings": {"endpoint_url": "opc.tcp://198.51.100.7:4840"}}), 422)
        assert body["errors"][0]["field"] == "connection.endpoint_url"
        ok = c.post("/api/connections/test", {"protocol": "modbus_tcp", "settings": {"host": "127.0.0.1",
                                                                                       "port": free_port()}})
        assert ok.status_code == 200 and ok.json()["reason"] == "refused", ok.text
    finally:
        _stop(proc)


def test_a_write_to_a_tag_of_a_disabled_connection_is_409_and_not_sent(shared_central, ids) -> None:
    """No edge polls a disabled connection: the edge would answer 'not polled' (a 502, found by schemathesis)."""
    conn = shared_central.post("/api/connections", {"equipment_id": ids["equipment"], "edge_id": "edge-1",
                                                    "name": "Off", "protocol": "simulator", "enabled": False}).json()
    tag = shared_central.post("/api/tags", {"connection_id": conn["id"], "name": "sp", "address": "constant",
                                            "data_type": "FLOAT64", "writable": True}).json()
    body = problem(shared_central.post(f"/api/tags/{tag['id']}/write", {"value": 1.5}), 409)
    assert "disabled" in body["detail"]
