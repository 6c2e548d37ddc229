"""Every escape or abuse attempt is refused at save or stopped at run, and the pool keeps working."""

from __future__ import annotations

import pytest

from tagpipe.sandbox import SandboxPool
from tests.sandbox.conftest import CANARY, CONTEXT, assert_pool_works, payload
from tests.sandbox.corpus import ATTEMPTS, BENIGN, Attempt, Benign

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_corpus_is_big_enough() -> None:
    assert len(ATTEMPTS) >= 40
    assert len({a.name for a in ATTEMPTS}) == len(ATTEMPTS)
    assert len(BENIGN) >= 10
    named = {"2023_37271", "2023_41039", "2024_47532", "2025_22153", "2026_55830", "2026_76825"}
    assert {cve for cve in named if not any(cve in a.name for a in ATTEMPTS)} == set(), "every known CVE has an attempt"


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.name)
async def test_attempt_is_stopped(pool: SandboxPool, attempt: Attempt) -> None:
    errors = await pool.validate(attempt.code, attempt.hook_type)
    if attempt.stage == "save":
        assert errors, "expected the save to be refused"
        assert errors[0].message
    else:
        assert errors == [], f"expected it to compile, got {errors}"
        result = await pool.dry_run(
            code=attempt.code, hook_type=attempt.hook_type, test_input={"tag_name": "t", "raw_value": 2},
            timeout_ms=200,
        )
        assert not result.ok, f"escaped with {result.result!r}"
        assert result.error
    await assert_pool_works(pool)


@pytest.mark.parametrize("case", BENIGN, ids=lambda b: b.name)
async def test_benign_hook_works(pool: SandboxPool, case: Benign) -> None:
    assert await pool.validate(case.code, case.hook_type) == []
    result = await pool.dry_run(code=case.code, hook_type=case.hook_type, test_input=case.test_input)
    assert result.ok, (result.error, result.line)
    assert result.result == case.expected


async def test_attempts_are_stopped_inside_a_cycle(pool: SandboxPool) -> None:
    """Loaded as real scripts, the run-time attempts fail alone; the canary and the payload survive."""
    runtime = [a for a in ATTEMPTS if a.stage == "run" and a.name not in {
        "infinite_loop", "catch_and_loop", "memory_growth", "catastrophic_regex"}]  # timeouts: see test_worker
    scripts = [{"id": 100 + i, "hook_type": a.hook_type, "code": a.code, "timeout_ms": 500, "priority": 1}
               for i, a in enumerate(runtime)]  # fmt: skip
    try:
        assert await pool.load([*scripts, {**CANARY, "priority": 200}]) == {}
        result = await pool.run_cycle(payload(a=21), CONTEXT)
        assert result.payload is not None and result.payload["tags"] == {"a": 42}
        assert {e.script_id for e in result.errors} == {s["id"] for s in scripts}
    finally:
        await pool.load([CANARY])
    await assert_pool_works(pool)
