"""Registration: an edge started with a provisioning key waits (pending) until an admin approves it, then collects
its own credentials into its data directory (mode 0600) and its data flows; a used-up, expired or revoked key is
refused; an auto-approve key admits at once; a rotated credential is off the bus and the agent collects the new one
by itself. Real server, worker, nats-server and edge agent processes."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import stat

import httpx

from tests.conftest import Central
from tests.helpers import async_wait_until, wait_until


def _key(central: Central, **body: object) -> dict:
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    r = central.post("/api/fleet/provisioning-keys", {"name": "line 3", "expires_at": expires, **body})
    assert r.status_code == 201, r.text
    return r.json()


def _enroll(central: Central, edge_id: str, key: str) -> httpx.Response:
    with central.anonymous as c:
        return c.post(f"/api/fleet/v1/edges/{edge_id}/enroll", json={"provisioning_key": key})


def _edge(central: Central, edge_id: str) -> dict:
    return next((e for e in central.get("/api/fleet/devices").json() if e["id"] == edge_id), {})


async def test_pending_then_approved_then_data_flows_and_a_rotated_credential_is_replaced(central) -> None:
    key = _key(central, max_uses=1)
    assert key["key"].startswith("tpk_") and key["state"] == "usable"
    central.plant("simulator", {}, [{"name": "level", "address": "ramp", "data_type": "FLOAT64"}], edge_id="gw-1",
                  interval_ms=200)
    edge = central.edge("gw-1", provision=False)
    edge.args += ["--provisioning-key", key["key"]]
    edge.start()
    pending = await async_wait_until(lambda: e if (e := _edge(central, "gw-1")).get("admission") == "pending" else 0,
                                     timeout=20, what="the edge pending on the Fleet page's API")
    assert pending["status"] == "offline" and central.tag_values()["level"]["value"] is None
    assert not (edge.data_dir / "credentials.json").exists()
    assert [k["uses"] for k in central.get("/api/fleet/provisioning-keys").json()] == [1]
    refused = _enroll(central, "gw-2", key["key"])
    assert refused.status_code == 401 and "used up" in refused.json()["detail"]

    r = central.post("/api/fleet/devices/gw-1/approve", {})
    assert r.status_code == 200 and r.json()["admission"] == "approved", r.text
    await async_wait_until(lambda: central.tag_values().get("level", {}).get("value") is not None, timeout=30,
                           what="the approved edge's data")
    path = edge.data_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = json.loads(path.read_text())["token"]
    assert central.get("/api/fleet/v1/edges/gw-1/config",
                       headers={"Authorization": f"Bearer {old}"}).status_code == 200
    with central.anonymous as c:  # collected once: the enrollment secret is spent
        assert c.post("/api/fleet/v1/edges/gw-1/credentials",
                      headers={"Authorization": f"Bearer {old}"}).status_code == 401

    rotated = central.post("/api/fleet/devices/gw-1/credentials", {})
    assert rotated.status_code == 200, rotated.text
    await async_wait_until(lambda: json.loads(path.read_text())["token"] not in (old, ""), timeout=15,
                           what="the agent collecting its new credentials by itself")
    assert json.loads(path.read_text())["token"] == rotated.json()["token"]
    seen = central.tag_values()["level"]["timestamp"]
    await async_wait_until(lambda: central.tag_values()["level"]["timestamp"] != seen, timeout=15,
                           what="data flowing with the new credentials")
    assert central.get("/api/fleet/v1/edges/gw-1/config", headers={"Authorization": f"Bearer {old}"}
                       ).status_code == 401, "the old credential is dead"


def test_expired_revoked_and_auto_approve_keys(central) -> None:
    expired = _key(central, max_uses=5)
    with sqlite3.connect(central.data_dir / "tagpipe.db") as db:  # as if a day had passed
        db.execute("UPDATE auth_provisioning_keys SET expires_at = '2000-01-01 00:00:00' WHERE id = ?",
                   (expired["id"],))
    r = _enroll(central, "gw-3", expired["key"])
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    revoked = _key(central, max_uses=5)
    assert central.delete(f"/api/fleet/provisioning-keys/{revoked['id']}").json()["state"] == "revoked"
    assert _enroll(central, "gw-3", revoked["key"]).json()["detail"] == "the provisioning key is revoked"
    assert _enroll(central, "gw-3", "tpk_made-up-key").status_code == 401
    assert _edge(central, "gw-3") == {}, "a refused key registers nothing"
    past = central.post("/api/fleet/provisioning-keys", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"})
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "expires_at"

    auto = _key(central, max_uses=2, auto_approve=True)
    admitted = _enroll(central, "gw-4", auto["key"])
    assert admitted.status_code == 201 and admitted.json()["status"] == "approved", admitted.text
    token = admitted.json()["token"]
    assert wait_until(lambda: _edge(central, "gw-4").get("admission") == "approved", timeout=5)
    assert central.get("/api/fleet/v1/edges/gw-4/config", headers={"Authorization": f"Bearer {token}"}
                       ).status_code == 200
    other = central.credentials("gw-5")
    r = central.get("/api/fleet/v1/edges/gw-4/config", headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 403, "another edge's credential"
    assert _enroll(central, "gw-4", auto["key"]).status_code == 409, "an approved edge cannot ask again"
    refused = central.delete("/api/fleet/devices/gw-4/credentials")
    assert refused.json()["admission"] == "revoked"
    assert central.get("/api/fleet/v1/edges/gw-4/config", headers={"Authorization": f"Bearer {token}"}
                       ).status_code == 401
    audit = central.get("/api/audit", params={"target": "edges/gw-4"}).json()
    assert any(e["action"] == "edge enroll" for e in (audit["items"] if isinstance(audit, dict) else audit))
