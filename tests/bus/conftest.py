"""The bus helpers (consumers, leases) are tested on a nats-server without tagpipe's accounts: what they do does not
depend on who may do it, which tests/fleet and the whole-system tests check on a guarded server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tagpipe.bus import EmbeddedNats
from tests.helpers import free_port


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", port=free_port(), mqtt_port=free_port()).start()
    yield server
    server.stop()
