"""Every escape or abuse attempt is refused at save or stopped at run, in every kind of program; the pool keeps
working."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tagpipe.sandbox import (
    CalcProgram,
    ConditionProgram,
    HookProgram,
    ParserProgram,
    Program,
    Run,
    SandboxPool,
)
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


# -- the same corpus inside every kind of program -------------------------------------------------------------

# An attempt defines transform(tag_name, raw_value, context); each kind calls it where its own code runs and
# hands back what it returned where that kind's result (or state) crosses to the host. Were the sandbox to let
# an attempt through, the program would run normally (an alarm condition: give True).
RESULT_ATTEMPTS = {"huge_result", "self_referencing_result", "deeply_nested_result", "object_result",
                   "str_subclass_result", "function_result", "bigint_result", "tuple_result"}  # fmt: skip
CALL = "transform(tag_name, raw_value, context)"


def as_program(kind: str, attempt: Attempt) -> tuple[Program, dict[str, Any]]:
    """The attempt as a program of ``kind`` (the hook kind through the generic path too) and its inputs."""
    code = attempt.code
    inputs: dict[str, Any] = {"tag_name": "t", "raw_value": 2}
    if kind == "hook":
        return HookProgram(id=1, hook_type=attempt.hook_type, code=code, timeout_ms=200), inputs
    if kind == "calc":
        return CalcProgram(id=1, code=f"{code}\nresult = {CALL}\n", outputs={"out": "result"}, timeout_ms=200), inputs
    if kind == "calc_state":  # the value crosses as a state variable
        return CalcProgram(id=1, init="kept = None\n", code=f"{code}\nkept = {CALL}\n", timeout_ms=200), inputs
    if kind == "calc_init":  # the attempt runs in the initialization code
        return CalcProgram(id=1, init=f"{code}\nkept = transform('t', 2, {{}})\n", code="", timeout_ms=200), {}
    if kind == "parser":
        parse = "\ndef parse(text, context):\n    return [{'v': transform('t', 2, context)}]\n"
        return ParserProgram(id=1, code=code + parse, timeout_ms=200), {"text": "2"}
    condition = "\ndef condition(values, context):\n    transform(values['tag_name'], values['raw_value'], context)\n" \
                "    return True\n"  # fmt: skip
    return ConditionProgram(id=1, code=code + condition, timeout_ms=200), inputs


KIND_CASES = [
    (kind, a) for kind in ("hook", "calc", "calc_state", "calc_init", "parser", "alarm_condition") for a in ATTEMPTS
    # A condition's result is a bool: a result attempt's value never crosses. A parser's records may hold
    # 32M characters: a 5M-character string is a record like any other. Initialization code may define
    # functions: code, staying in the worker, not state.
    if not (kind == "alarm_condition" and a.name in RESULT_ATTEMPTS)
    and (kind, a.name) not in {("parser", "huge_result"), ("calc_init", "function_result")}
]  # fmt: skip


@pytest.mark.parametrize(("kind", "attempt"), KIND_CASES, ids=lambda v: v if isinstance(v, str) else v.name)
async def test_attempt_is_stopped_in_every_kind(pool: SandboxPool, kind: str, attempt: Attempt) -> None:
    program, inputs = as_program(kind, attempt)
    errors = await pool.validate_program(program)
    if attempt.stage == "save":
        assert errors, "expected the save to be refused"
        assert errors[0].message
    else:
        assert errors == [], f"expected it to compile, got {errors}"
        result = await pool.dry_run_program(program, inputs)
        assert not result.ok, f"escaped with {result.result!r} (state {result.state!r})"
        assert result.error
    await assert_pool_works(pool)


EXPRESSION_ATTEMPTS = [
    "().__class__.__bases__[0].__subclasses__()", "getattr(1, '__cl' + 'ass__')", "open('/etc/passwd').read()",
    "__import__('os')", "(lambda: 1).__globals__", "'{0.__class__}'.format(1)", "10**10**8 > 0", "vars()",
    "[x for x in ().__class__.__mro__]", "(i for i in [1]).gi_frame", "getattr(str, 'format_map')('{x.__class__}', {})",
    "len('a' * 10**10) > 0", "__builtins__", "values.__class__", "context['x'].__class__",
]  # fmt: skip


@pytest.mark.parametrize("expression", EXPRESSION_ATTEMPTS)
async def test_an_alarm_condition_expression_cannot_escape(pool: SandboxPool, expression: str) -> None:
    program = ConditionProgram(id=1, code=expression, timeout_ms=200)
    if await pool.validate_program(program):
        return  # refused at save
    result = await pool.dry_run_program(program, {"a": 1}, {"x": 1})
    assert not result.ok and result.error, f"escaped with {result.result!r}"


@pytest.mark.parametrize("kind", ["calc", "parser", "alarm_condition"])
async def test_attempts_are_stopped_inside_a_batch_of_every_kind(pool: SandboxPool, kind: str) -> None:
    """Loaded as real programs and run in one batch, the run-time attempts fail alone; the counter keeps counting."""
    runtime = [a for a in ATTEMPTS if a.stage == "run" and a.name not in {
        "infinite_loop", "catch_and_loop", "memory_growth", "catastrophic_regex"} | RESULT_ATTEMPTS]  # fmt: skip
    counter = CalcProgram(id=10_000, init="n = 0\n", code="n += 1\n", outputs={"n": "n"})
    programs: list[Program] = []
    runs = []
    for i, attempt in enumerate(runtime):
        program, inputs = as_program(kind, attempt)
        programs.append(dataclasses.replace(program, id=i, timeout_ms=500))
        runs += [Run(key=(program.kind, i), inputs=inputs), Run(key=counter.key, inputs={})]
    try:
        assert await pool.load_programs([*programs, counter]) == {}
        results = await pool.run_many(runs)
        assert [r.key for r in results if not r.ok] == [p.key for p in programs]
        assert [r.result for r in results[1::2]] == [{"n": i} for i in range(1, len(runtime) + 1)]
    finally:
        await pool.unload(*[p.key for p in programs], counter.key)
    await assert_pool_works(pool)
