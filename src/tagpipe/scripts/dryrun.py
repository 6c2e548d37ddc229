"""The server's own sandbox pool, apart from any edge's: dry runs and code validation before a save."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import cast

from tagpipe.errors import InvalidInput, SandboxError
from tagpipe.sandbox import CodeError, SandboxPool
from tagpipe.scripts.schemas import DryRunIn, DryRunOut
from tagpipe.services import Services

POOL_KEY = "scripts.dry_run_pool"


class CodeRejected(InvalidInput):
    """Code that does not compile or lacks its hook function; nothing was saved."""

    def __init__(self, errors: list[CodeError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__("code", f"code that compiles and defines the hook function ({describe(first)})")


def describe(error: CodeError) -> str:
    return f"line {error.line}: {error.message}" if error.line else error.message


@contextlib.asynccontextmanager
async def dry_run_pool(services: Services, workers: int = 2) -> AsyncIterator[None]:
    """The server's pool for its lifetime (the feature's lifespan); two workers keep saving responsive while a test
    hangs."""
    async with SandboxPool(workers=workers, name="dry-run") as sandbox:
        services.state[POOL_KEY] = sandbox
        try:
            yield
        finally:
            services.state.pop(POOL_KEY, None)


def pool(services: Services) -> SandboxPool:
    found = services.state.get(POOL_KEY)
    if found is None:
        raise SandboxError("the dry-run sandbox pool is not running (it starts with the server)")
    return cast(SandboxPool, found)


async def check_code(sandbox: SandboxPool, code: str, hook_type: str) -> None:
    """Refuse code that does not compile or lacks its hook function, with line and message."""
    errors = await sandbox.validate(code, hook_type)
    if errors:
        raise CodeRejected(errors)


async def dry_run(sandbox: SandboxPool, body: DryRunIn) -> DryRunOut:
    """Run unsaved code once against the test input: result, prints, duration, or the error with its line."""
    r = await sandbox.dry_run(code=body.code, hook_type=body.hook_type, test_input=body.test_input,
                             context=body.context, timeout_ms=body.timeout_ms)
    return DryRunOut(ok=r.ok, result=r.result, prints=r.prints, duration_ms=round(r.duration_ms, 3),
                     error=r.error, line=r.line)
