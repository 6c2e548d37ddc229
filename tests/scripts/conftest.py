"""One central shared by the tests of a module that only read or leave no state behind (a start takes ~10 s)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tagpipe.bus import EmbeddedNats
from tagpipe.db import upgrade
from tests.conftest import Central, _spawn, _stop, provision_admin
from tests.helpers import free_port, wait_until


@pytest.fixture(scope="module")
def shared_central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Central]:
    root = tmp_path_factory.mktemp("shared-central")
    nats = EmbeddedNats(root / "nats", port=free_port(), mqtt_port=free_port()).start()
    data_dir, port = root / "central", free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data_dir), "TAGPIPE_HTTP_PORT": str(port),
           "TAGPIPE_NATS_URL": nats.url, "PYTHONUNBUFFERED": "1"}
    env.pop("TAGPIPE_DATABASE_URL", None)
    data_dir.mkdir(parents=True)
    upgrade(f"sqlite:///{data_dir / 'tagpipe.db'}")
    c = Central(url=f"http://127.0.0.1:{port}", data_dir=data_dir, nats=nats, env=env,
                token=provision_admin(f"sqlite:///{data_dir / 'tagpipe.db'}"))
    c.procs.append(_spawn(["tagpipe", "server"], env, data_dir / "server.log"))
    try:
        wait_until(lambda: c.get("/api/health").json()["status"] == "ok", timeout=30, what="the server")
        yield c
    finally:
        for p in c.procs:
            _stop(p)
        nats.stop()
