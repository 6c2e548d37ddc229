"""A sandbox pool shared by a test module, with a benign script loaded to prove the pool still works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tagpipe.sandbox import SandboxPool

CANARY_ID = 9000
CANARY = {
    "id": CANARY_ID, "hook_type": "transform", "timeout_ms": 500,
    "code": "def transform(tag_name, raw_value, context):\n    return raw_value * 2\n",
}  # fmt: skip
CONTEXT: dict[str, Any] = {"device_id": "edge-1", "equipment_id": 7, "connection_id": 3, "company_code": "ACME"}


def payload(**tags: Any) -> dict[str, Any]:
    return {"timestamp": "2024-01-01T00:00:00", "equipment_id": 7, "connection_id": 3, "tags": tags}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    async with SandboxPool(workers=1, name="test") as p:
        assert await p.load([CANARY]) == {}
        yield p


async def assert_pool_works(pool: SandboxPool) -> None:
    """A benign hook still runs after whatever happened before."""
    result = await pool.run_cycle(payload(a=21), CONTEXT)
    assert result.payload is not None and result.payload["tags"] == {"a": 42}, result
    assert not result.errors
