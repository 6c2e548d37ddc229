"""Every error of the tree becomes problem+json with its status; a sandbox that is down is a 503, not a 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tagpipe.errors import Conflict, NotFound, SandboxError, TagpipeError
from tagpipe.web import problem

CASES = [(NotFound("no such script"), 404), (Conflict("name taken"), 409),
         (SandboxError("the sandbox pool is not running"), 503)]  # fmt: skip


@pytest.mark.parametrize(("error", "status"), CASES, ids=lambda v: type(v).__name__)
async def test_errors_become_problem_json(error: TagpipeError, status: int) -> None:
    app = FastAPI()
    problem.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await client.get("/boom")
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"] == str(error) and reply.json()["status"] == status
