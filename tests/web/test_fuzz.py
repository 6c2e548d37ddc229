"""schemathesis over the whole OpenAPI document, every method, against a real server, worker, edge and simulators,
with an admin's API token and with a viewer's: 0 server errors, 0 response-schema violations, 405 for undeclared
methods, every 4xx problem+json, and every write a viewer tries refused with 403.

The runs are bounded in time (``FUZZ_SECONDS``, default 45 s, plus 10 s of DELETEs, as the admin; then
``FUZZ_VIEWER_SECONDS``, default 20 s, as the viewer). The seed is fixed in CI (``CI`` set) and random locally,
printed either way; ``FUZZ_SEED=N`` replays one. As the admin, every operation but DELETE first, so the seeded
equipment, connection and writable tag stay while writes and tests run against them; then the DELETE operations. The
hooks keep the fuzzing users and their tokens as they are (no lock, demotion, deletion or revocation of the
credentials the run itself uses). Nothing leaves 127.0.0.1: the server runs with TAGPIPE_DEVICE_NETWORKS=127.0.0.0/8,
so a generated host outside it (or any host name, which would need DNS) is refused with 422 before a connection or
a lookup is tried, and the hooks (fuzz_hooks.py) point half of the connection tests, browses and writes at the
local simulators so those paths run for real.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagpipe.bus import EmbeddedNats
from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tagpipe.drivers.sims.opcua import OpcUaSim
from tagpipe.drivers.sims.s7 import S7Sim
from tagpipe.drivers.sims.xgt import XgtSim
from tests.conftest import Central, _central
from tests.helpers import async_wait_until

HOOKS = Path(__file__).resolve().with_name("fuzz_hooks.py")
CHECKS = "not_a_server_error,response_schema_conformance,unsupported_method,problem_json_for_4xx,viewer_cannot_write"
SECONDS = int(os.environ.get("FUZZ_SECONDS", "45"))
DELETE_SECONDS = max(10, SECONDS // 5)
VIEWER_SECONDS = int(os.environ.get("FUZZ_VIEWER_SECONDS", "20"))


def fuzz_seed() -> int:
    if os.environ.get("FUZZ_SEED"):
        return int(os.environ["FUZZ_SEED"])
    return 20260105 if os.environ.get("CI") else random.randrange(2**31)


@pytest.fixture
def loopback_central(tmp_path: Path, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch) -> Iterator[Central]:
    monkeypatch.setenv("TAGPIPE_DEVICE_NETWORKS", '["127.0.0.0/8", "::1/128"]')
    yield from _central(tmp_path, nats_server, None)


async def _st(central: Central, seed: int, report: Path, method_filter: list[str], seconds: int,
              sims: dict, token: str, role: str) -> dict:
    """Run the schemathesis CLI in a child process (the simulators keep serving in this loop meanwhile), every
    request carrying ``token``, an API token of a user with ``role``."""
    args = [str(Path(sys.executable).parent / "st"), "run", f"{central.url}/openapi.json", "--checks", CHECKS,
            "--header", f"Authorization: Bearer {token}",
            "--phases", "examples,coverage,fuzzing,stateful", "--seed", str(seed), "--max-time", str(seconds),
            "--max-examples", "40", "--workers", "1", "--request-timeout", "40", "--generation-database", "none",
            "--report", "json", "--report-json-path", str(report), "--no-color", "--output-truncate", "true",
            *method_filter]
    # The request timeout exceeds the longest wait a route may be asked for (a fleet command's wait_s, up to 30 s):
    # a command to an edge that does not answer takes that long by design, not because the server hangs.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "FUZZ_SIMS": json.dumps(sims), "FUZZ_ROLE": role}
    # In the test's own directory: schemathesis keeps a cache of past crashes in its working directory, which
    # would make a run depend on the runs before it (and litter the repository).
    proc = await asyncio.create_subprocess_exec(*args, cwd=report.parent, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    print(text[-6000:])
    written = await asyncio.to_thread(report.exists)
    assert written, f"schemathesis wrote no report (exit {proc.returncode}):\n{text[-3000:]}"
    return json.loads(await asyncio.to_thread(report.read_text))


def _seed_plant(central: Central, sims: dict) -> dict:
    eq = central.post("/api/equipment", {"name": "Press 1"}).json()["id"]
    ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sims["modbus_tcp"]["port"]},
                        [{"name": "setpoint", "address": "40020", "data_type": "UINT16", "scale": 0.1,
                          "writable": True},
                         {"name": "temperature", "address": "40001", "data_type": "UINT16", "scale": 0.1}],
                        interval_ms=500)
    code = "def transform(tag_name, raw_value, context):\n    return raw_value\n"
    script = central.post("/api/fleet/scripts", {"name": "identity", "hook_type": "transform", "code": code})
    assert script.status_code == 201, script.text
    return {"equipment": eq, "connection": ids["connection"]["id"], "writable_tag": ids["tags"]["setpoint"],
            "tags": sorted(ids["tags"].values())}


def _protect(central: Central, sims: dict) -> dict:
    """The users and tokens the runs authenticate with, for the hooks to keep as they are."""
    users = [u["id"] for u in central.get("/api/users").json() if u["username"] in ("admin", "vera")]
    tokens = [t["id"] for t in central.get("/api/tokens", params={"all": "true"}).json()]
    return {**sims, "protected_users": users, "protected_tokens": tokens}


@pytest.mark.timeout(SECONDS + DELETE_SECONDS + VIEWER_SECONDS + 240)
async def test_schemathesis_as_admin_and_as_viewer_finds_no_server_error_and_only_problem_json(
        loopback_central: Central, tmp_path: Path) -> None:
    central = loopback_central
    seed = fuzz_seed()
    print(f"schemathesis seed {seed} (replay: FUZZ_SEED={seed})")
    async with ModbusSim() as mb, S7Sim() as s7, XgtSim() as xgt, OpcUaSim() as ua:
        sims = {"modbus_tcp": {"port": mb.port}, "s7": {"port": s7.port}, "xgt": {"port": xgt.port},
                "opcua": {"endpoint_url": ua.url}}
        sims |= await asyncio.to_thread(_seed_plant, central, sims)
        central.edge("edge-1", heartbeat=1.0).start()
        await async_wait_until(lambda: asyncio.to_thread(
            lambda: central.get("/api/fleet/devices").json()[0]["status"] == "online"), timeout=30,
            what="the edge online")

        viewer = await asyncio.to_thread(central.user, "vera", "viewer")
        sims = await asyncio.to_thread(_protect, central, sims)
        admin = central.token
        reports = [await _st(central, seed, tmp_path / "st.json", ["--exclude-method", "DELETE"], SECONDS, sims,
                             admin, "admin")]
        tag = await asyncio.to_thread(lambda: central.get(f"/api/tags/{sims['writable_tag']}").json())
        reports.append(await _st(central, seed, tmp_path / "st-delete.json", ["--include-method", "DELETE"],
                                 DELETE_SECONDS, sims, admin, "admin"))
        reports.append(await _st(central, seed, tmp_path / "st-viewer.json", [], VIEWER_SECONDS, sims, viewer,
                                 "viewer"))
        refused = await asyncio.to_thread(lambda: central.get("/api/audit", params={
            "principal": "vera", "outcome": "refused"}).json())
        authenticated = await asyncio.to_thread(lambda: central.get("/api/auth/me").json())

    requests = sum(r["test_cases"]["generated"] for r in reports)
    relayed = sum(r.get("filtered") or 0 for r in reports)
    print(f"schemathesis: {requests} test cases over {reports[0]['operations']['tested']} + "
          f"{reports[1]['operations']['tested']} operations as the admin and {reports[2]['operations']['tested']} "
          f"as the viewer in {sum(r['running_time'] for r in reports):.0f} s, seed {seed}; the writable tag reads "
          f"{tag.get('value')} ({tag.get('quality')}; 0 unless a write reached the PLC); {relayed} declared 502/504 "
          f"relayed from the edge; {len(refused)} writes of the viewer refused")
    for report in reports:
        assert report["operations"]["tested"] > 0
        assert report["failures"] == [], json.dumps(report["failures"], indent=1)
        assert report["errors"] == [], json.dumps(report["errors"], indent=1)
    deletes = sum("delete" in ops for ops in (await asyncio.to_thread(central.get, "/openapi.json")).json()[
        "paths"].values())
    assert reports[0]["operations"]["tested"] >= 35 and reports[1]["operations"]["tested"] == deletes
    assert reports[2]["operations"]["tested"] >= 35
    assert refused, "the viewer's writes were refused and audited as such"
    assert authenticated["username"] == "admin" and authenticated["role"] == "admin", "the run kept its credentials"
