"""The audit log and secrets at rest, through a real server: who changed what (a script's diff, a write's value),
users and tokens without their secrets, CSV, append-only; an OPC UA password sealed, masked, kept and delivered."""

from __future__ import annotations

import csv
import io
import sqlite3
import stat

from tests.conftest import Central

SCRIPTS = "/api/fleet/scripts"
DOUBLE = "def transform(tag_name, raw_value, context):\n    return raw_value * 2\n"
TRIPLE = "def transform(tag_name, raw_value, context):\n    return raw_value * 3\n"


def audit(central: Central, **filters: str) -> list[dict]:
    r = central.get("/api/audit", params=filters)
    assert r.status_code == 200, r.text
    return r.json()


def test_changes_writes_users_and_tokens_are_in_the_audit_log(central: Central) -> None:
    engineer = central.user("erin", "engineer")
    with central.anonymous as c:
        auth = {"Authorization": f"Bearer {engineer}"}
        r = c.post(SCRIPTS, json={"name": "double", "hook_type": "transform", "scope": "global", "code": DOUBLE},
                   headers=auth)
        assert r.status_code == 201, r.text
        script = r.json()["id"]
        assert c.put(f"{SCRIPTS}/{script}", json={"code": TRIPLE}, headers=auth).status_code == 200
        conn = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": 1502},
                             [{"name": "setpoint", "address": "40005", "scale": 0.1, "writable": True}])
        r = c.post(f"/api/tags/{conn['tags']['setpoint']}/write", json={"value": 42.5}, headers=auth)
        assert r.status_code == 409, r.text  # the edge never connected: refused, and still audited

    [change] = audit(central, action="PUT /api/fleet/scripts/{script_id}")
    assert change["principal"] == "erin (token erin's)" and change["role"] == "engineer"
    assert change["status"] == 200 and change["target"] == f"{SCRIPTS}/{script}" and change["address"] == "127.0.0.1"
    [script_row] = [c for c in change["detail"]["changes"] if c["table"] == "scripts"]
    diff = script_row["fields"]["code"]["diff"]
    assert "-    return raw_value * 2" in diff and "+    return raw_value * 3" in diff

    [write] = audit(central, action="/write")
    assert write["detail"]["body"] == {"value": 42.5} and write["status"] == 409

    [user] = audit(central, action="POST /api/users")
    assert user["detail"]["body"]["password"] == "********"
    assert user["detail"]["changes"][0]["fields"]["password_hash"] == "********"
    [token] = audit(central, action="POST /api/tokens")
    assert token["detail"]["changes"][0]["fields"]["name"] == "erin's"
    assert engineer not in central.get("/api/audit.csv").text, "a token is shown once, and never logged"

    text = central.get("/api/audit.csv", params={"principal": "erin"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["action"] for r in rows] == ["POST /api/fleet/scripts", "PUT /api/fleet/scripts/{script_id}",
                                           "POST /api/tags/{tag_id}/write"]
    with central.api as c:  # append-only: no route changes or removes an entry
        assert c.delete(f"/api/audit/{change['id']}").status_code in (404, 405)
        assert c.put(f"/api/audit/{change['id']}", json={}).status_code in (404, 405)


def test_an_opcua_password_is_sealed_masked_kept_and_delivered_to_its_edge_only_in_clear(central: Central) -> None:
    settings = {"endpoint_url": "opc.tcp://127.0.0.1:4840/", "username": "operator", "password": "s3cret-pw"}
    ids = central.plant("opcua", settings, [], edge_id="edge-ua")
    conn = ids["connection"]
    assert conn["settings"]["password"] == "********"
    [listed] = central.get("/api/connections").json()
    assert listed["settings"]["password"] == "********" and listed["settings"]["username"] == "operator"

    own = {"Authorization": f"Bearer {central.credentials('edge-ua')}"}

    def edge_password() -> str:
        [device] = central.get("/api/fleet/v1/edges/edge-ua/config", headers=own).json()["devices"]
        return device["connection"]["password"]

    assert central.get("/api/fleet/v1/edges/edge-ua/config").status_code == 403, "not even to an admin"

    assert edge_password() == "s3cret-pw"
    with sqlite3.connect(central.data_dir / "tagpipe.db") as db:
        [(stored,)] = db.execute("SELECT settings FROM connections").fetchall()
        everything = "".join(str(r) for r in db.execute("SELECT * FROM audit_log"))
    assert "s3cret-pw" not in stored and "enc:v1:" in stored
    assert "s3cret-pw" not in everything
    assert stat.S_IMODE((central.data_dir / "secret.key").stat().st_mode) == 0o600

    body = {k: conn[k] for k in ("equipment_id", "edge_id", "name", "protocol", "interval_ms", "enabled")}
    for kept in ({"endpoint_url": "opc.tcp://127.0.0.1:4841/", "username": "operator"},
                 {"endpoint_url": "opc.tcp://127.0.0.1:4841/", "username": "operator", "password": "********"}):
        r = central.put(f"/api/connections/{conn['id']}", {**body, "settings": kept})
        assert r.status_code == 200, r.text
        assert edge_password() == "s3cret-pw", "a PUT without the secret keeps it"
    r = central.put(f"/api/connections/{conn['id']}", {**body, "settings": {**settings, "password": "n3w-pw"}})
    assert r.status_code == 200 and r.json()["settings"]["password"] == "********"
    assert edge_password() == "n3w-pw"
    for log in central.data_dir.glob("*.log"):
        assert "s3cret-pw" not in log.read_text(errors="replace") and "n3w-pw" not in log.read_text(errors="replace")
