"""TAGPIPE_AUTH=off (loopback only, for benchmarks): every caller acts as the admin, edges included."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.conftest import _spawn, _stop, sqlite_with_admin
from tests.helpers import free_port, wait_until


def test_with_auth_off_the_api_and_an_edge_need_no_credentials(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "central", free_port()
    data_dir.mkdir()
    sqlite_with_admin(data_dir / "tagpipe.db")
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data_dir), "TAGPIPE_HTTP_PORT": str(port), "TAGPIPE_AUTH": "off",
           "TAGPIPE_NATS_URL": f"nats://127.0.0.1:{free_port()}", "PYTHONUNBUFFERED": "1"}  # no bus: the API serves
    env.pop("TAGPIPE_DATABASE_URL", None)
    server = _spawn(["tagpipe", "server", "--no-migrate"], env, tmp_path / "server.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/api/health", timeout=2).status_code in (200, 503), timeout=30,
                   what="the server")
        assert httpx.post(f"{url}/api/equipment", json={"name": "Line 1"}).status_code == 201
        config = httpx.get(f"{url}/api/fleet/v1/edges/edge-1/config")  # as an edge started without credentials
        assert config.status_code == 200, config.text
        assert config.json()["devices"] == []
    finally:
        _stop(server)
