"""Programs of every kind through the pool: loaded and unloaded one by one, state kept across restarts, batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tagpipe.errors import InvalidInput, NotFound, SandboxError, TagpipeError
from tagpipe.sandbox import (
    CalcProgram,
    ConditionProgram,
    HookProgram,
    ParserProgram,
    Program,
    Run,
    SandboxPool,
)  # fmt: skip
from tests.helpers import async_wait_until
from tests.sandbox.conftest import CONTEXT, payload

pytestmark = pytest.mark.asyncio(loop_scope="module")

COUNTER = CalcProgram(id=1, init="count = 0\n", code="count += 1\n", outputs={"n": "count"}, timeout_ms=500)
HOG = CalcProgram(id=2, code="while True:\n    pass\n", timeout_ms=200)
BOMB = CalcProgram(id=3, init="count = 0\n", code="count += 1\nif big:\n    x = bytes(10**10)\n",
                   outputs={"n": "count"})  # fmt: skip
PARSER = ParserProgram(id=1, code="def parse(text, context):\n    return [{'line': l} for l in text.splitlines()]\n")
HOT = ConditionProgram(id=1, code="temperature > 80")
DOUBLE = HookProgram(id=1, hook_type="transform", code="def transform(tag_name, raw_value, context):\n"
                                                       "    return raw_value * 2\n")  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    async with SandboxPool(workers=1, name="programs") as p:
        yield p


@pytest_asyncio.fixture(loop_scope="module")
async def clean(pool: SandboxPool) -> AsyncIterator[SandboxPool]:
    """The pool with nothing loaded before and after the test."""
    await pool.unload(*pool.programs())
    yield pool
    await pool.unload(*pool.programs())


async def count(pool: SandboxPool, key: tuple[str, Any] = COUNTER.key) -> Any:
    result = await pool.run(key, {})
    assert result.ok, result
    return result.result["n"]


async def test_programs_of_every_kind_load_and_run_side_by_side_with_the_same_id(clean: SandboxPool) -> None:
    """A calc script 1, a parser 1, an alarm condition 1 and a hook 1 are four programs."""
    assert await clean.load_programs([COUNTER, PARSER, HOT, DOUBLE]) == {}
    assert set(clean.programs()) == {("calc", 1), ("parser", 1), ("alarm_condition", 1), ("hook", 1)}
    assert (await clean.run(("parser", 1), {"text": "a\nb"})).result == [{"line": "a"}, {"line": "b"}]
    assert (await clean.run(("alarm_condition", 1), {"temperature": 81})).result is True
    assert (await clean.run(("hook", 1), {"tag_name": "t", "raw_value": 4})).result == 8
    assert await count(clean) == 1
    cycle = await clean.run_cycle(payload(a=21), CONTEXT)
    assert cycle.payload is not None and cycle.payload["tags"] == {"a": 42}  # the hook runs in cycles too
    assert clean.programs("calc") == {("calc", 1): COUNTER}


async def test_a_counter_survives_a_restart_caused_by_another_programs_timeout(clean: SandboxPool) -> None:
    assert await clean.load_programs([COUNTER, HOG]) == {}
    assert [await count(clean) for _ in range(3)] == [1, 2, 3]
    worker = clean._workers[0]
    pid = worker.pid
    hog = await clean.run(HOG.key, {})
    assert not hog.ok and hog.timeout and hog.error == "timed out after 200 ms" and hog.key == ("calc", 2)
    assert worker.pid != pid, "the worker was killed and restarted"
    assert await count(clean) == 4
    assert clean.state(COUNTER.key) == {"count": 4}
    assert clean.stats("calc")[2]["timeouts"] == 1


async def test_a_timeout_in_a_batch_costs_only_its_own_run(clean: SandboxPool) -> None:
    """Runs before the hog ran in the worker that died: sent again from the last good state, counted once."""
    assert await clean.load_programs([COUNTER, HOG]) == {}
    runs = [Run(key=COUNTER.key, inputs={}), Run(key=COUNTER.key, inputs={}), Run(key=HOG.key, inputs={}),
            Run(key=COUNTER.key, inputs={})]  # fmt: skip
    results = await clean.run_many(runs)
    assert [r.result["n"] if r.ok else r.error for r in results] == [1, 2, "timed out after 200 ms", 3]
    assert clean.state(COUNTER.key) == {"count": 3}


async def test_its_own_memory_blow_up_leaves_the_last_good_state_and_names_it(clean: SandboxPool) -> None:
    assert await clean.load_program(BOMB) is None
    worker = clean._workers[0]
    assert [(await clean.run(BOMB.key, {"big": False})).result for _ in range(2)] == [{"n": 1}, {"n": 2}]
    pid = worker.pid
    blown = await clean.run(BOMB.key, {"big": True})
    assert not blown.ok and blown.key == ("calc", 3) and blown.line == 3 and "MemoryError" in (blown.error or "")
    assert blown.state == {"count": 2}
    assert worker.pid != pid, "restarted after a MemoryError"
    assert (await clean.run(BOMB.key, {"big": False})).result == {"n": 3}
    assert clean.stats("calc")[3]["last_error_line"] == 3


async def test_state_is_the_same_whichever_worker_runs_the_program() -> None:
    async with SandboxPool(workers=2, name="pair") as pair:
        assert await pair.load_program(COUNTER) is None
        assert [await count(pair) for _ in range(6)] == [1, 2, 3, 4, 5, 6]
        # Worker A busy with a short run, B with a long run of the counter; a second counter run waits, A frees up
        # first: it must wait for B's run, not start from the state before it.
        counter = CalcProgram(id=1, init="count = 0\n", outputs={"n": "count"}, timeout_ms=10_000,
                              code="count += 1\nfor i in range(inputs.get('loops', 0)):\n    pass\n")  # fmt: skip
        assert await pair.load_program(counter, state=pair.state(COUNTER.key)) is None
        short = CalcProgram(id=4, code="for i in range(loops):\n    pass\n", timeout_ms=10_000)
        assert await pair.load_program(short) is None
        busy = asyncio.create_task(pair.run(short.key, {"loops": 2_000_000}))
        await async_wait_until(lambda: pair._set.idle.qsize() == 1, interval=0.001, what="one worker busy")
        first = asyncio.create_task(pair.run(counter.key, {"loops": 10_000_000}))
        await async_wait_until(lambda: pair._set.idle.qsize() == 0, interval=0.001, what="both workers busy")
        second = await pair.run(counter.key, {})
        assert (await busy).ok and ((await first).result, second.result) == ({"n": 7}, {"n": 8})
        pair.set_state(COUNTER.key, {"count": 40})
        assert [await count(pair) for _ in range(2)] == [41, 42]
        pids = {w.pid for w in pair._workers}
        for worker in pair._workers:
            worker.kill()  # a crash: the next request finds its worker dead, restarts it, the state restored
        assert [await count(pair) for _ in range(2)] == [43, 44]
        assert pids.isdisjoint(w.pid for w in pair._workers[:1]) or pids.isdisjoint(w.pid for w in pair._workers[1:])


async def test_unloading_one_program_leaves_the_others_results_and_state(clean: SandboxPool) -> None:
    other = CalcProgram(id=9, init="total = 0\n", code="total += x\n", outputs={"t": "total"})
    assert await clean.load_programs([COUNTER, other, PARSER]) == {}
    for _ in range(2):
        await count(clean)
        await clean.run(other.key, {"x": 5})
    await clean.unload(COUNTER.key, PARSER.key)
    assert set(clean.programs()) == {other.key}
    assert clean.state(other.key) == {"total": 10}
    assert (await clean.run(other.key, {"x": 5})).result == {"t": 15}
    gone = await clean.run(COUNTER.key, {})
    assert not gone.ok and gone.error == "the program is not loaded"
    with pytest.raises(NotFound):
        clean.state(COUNTER.key)


async def test_a_broken_program_is_reported_with_line_and_message_and_the_others_keep_running(
    clean: SandboxPool,
) -> None:
    assert await clean.load_program(COUNTER) is None
    await count(clean)
    broken = [
        CalcProgram(id=5, init="x = 1\ny = x / 0\n", code="", outputs={}),
        CalcProgram(id=6, code="n = 1\nn +=\n"),
        ParserProgram(id=7, code="import os\ndef parse(text, context):\n    return []\n"),
        ConditionProgram(id=8, code="temperature >> "),
        CalcProgram(id=10, init="while True:\n    pass\n", code="", timeout_ms=200),
    ]
    errors = await clean.load_programs([*broken, PARSER])
    assert set(errors) == {("calc", 5), ("calc", 6), ("parser", 7), ("alarm_condition", 8), ("calc", 10)}
    assert (errors["calc", 5].line, errors["calc", 5].message) == (
        2, "initialization code: ZeroDivisionError: division by zero")
    assert errors["calc", 6].line == 2 and "SyntaxError" in errors["calc", 6].message
    assert errors["parser", 7].line == 1 and '"os"' in errors["parser", 7].message
    assert errors["alarm_condition", 8].line == 1
    assert errors["calc", 10].message == "timed out after 200 ms while loading"
    assert set(clean.programs()) == {COUNTER.key, PARSER.key}
    assert await count(clean) == 2, "the worker that the hanging initialization killed came back with the state"
    assert clean.stats("calc")[5]["last_error_line"] == 2


async def test_batched_runs_of_every_kind_take_one_round_trip(clean: SandboxPool) -> None:
    assert await clean.load_programs([COUNTER, PARSER, HOT, DOUBLE]) == {}
    runs = []
    for i in range(50):
        runs += [Run(key=COUNTER.key, inputs={}), Run(key=PARSER.key, inputs={"text": f"{i}"}),
                 Run(key=HOT.key, inputs={"temperature": 70 + i}),
                 Run(key=DOUBLE.key, inputs={"tag_name": "t", "raw_value": i})]  # fmt: skip
    before = clean.round_trips
    results = await clean.run_many(runs)
    assert clean.round_trips == before + 1
    assert all(r.ok for r in results)
    assert [r.result["n"] for r in results[0::4]] == list(range(1, 51))
    assert [r.result for r in results[1::4]] == [[{"line": str(i)}] for i in range(50)]
    assert [r.result for r in results[2::4]] == [70 + i > 80 for i in range(50)]
    assert [r.result for r in results[3::4]] == [2 * i for i in range(50)]
    assert results[-4].state == {"count": 50} and results[-3].state is None


async def test_runs_and_cycles_waiting_together_share_a_round_trip(clean: SandboxPool) -> None:
    slow = CalcProgram(id=4, code="n = 0\nfor i in range(200000):\n    n += i\n", outputs={"n": "n"}, timeout_ms=5000)
    assert await clean.load_programs([COUNTER, DOUBLE, slow]) == {}
    started = clean.round_trips
    first = asyncio.create_task(clean.run(slow.key, {}))
    await async_wait_until(lambda: clean.round_trips > started, what="the slow run sent")
    before = clean.round_trips  # the slow run holds the only worker; what comes now waits together
    waiting = [clean.run_cycle(payload(a=1), CONTEXT), clean.run(COUNTER.key, {}),
               clean.run_cycle(payload(a=2), CONTEXT)]
    cycle1, run, cycle2 = await asyncio.gather(*waiting)
    await first
    assert clean.round_trips == before + 1
    assert (cycle1.payload["tags"], run.result, cycle2.payload["tags"]) == ({"a": 2}, {"n": 1}, {"a": 4})  # type: ignore[index]


async def test_set_state_reset_state_and_an_edit_that_keeps_the_state(clean: SandboxPool) -> None:
    assert await clean.load_program(COUNTER) is None
    clean.set_state(COUNTER.key, {"count": 100})
    assert await count(clean) == 101
    edited = CalcProgram(id=1, init="count = 0\nstep = 10\n", code="count += step\n", outputs={"n": "count"})
    assert await clean.load_program(edited, state=clean.state(COUNTER.key)) is None
    assert clean.state(COUNTER.key) == {"count": 101, "step": 10}
    assert await count(clean) == 111
    assert await clean.reset_state(COUNTER.key) is None
    assert clean.state(COUNTER.key) == {"count": 0, "step": 10}
    assert await clean.load_program(edited) is None, "loading again runs the initialization again"
    assert await count(clean) == 10


BAD_STATES = [({"x": {1, 2}}, "plain data"), ({"_x": 1}, "variable names"), ({"a b": 1}, "variable names"),
              ({"x": "y" * 2_000_000}, "plain data"), ([1], "mapping")]  # fmt: skip


@pytest.mark.parametrize(("state", "expected"), BAD_STATES)
async def test_a_state_that_cannot_be_kept_is_refused(clean: SandboxPool, state: Any, expected: str) -> None:
    assert await clean.load_program(COUNTER) is None
    with pytest.raises(InvalidInput, match=expected):
        clean.set_state(COUNTER.key, state)
    with pytest.raises(InvalidInput, match=expected):
        await clean.load_program(COUNTER, state=state)
    assert clean.state(COUNTER.key) == {"count": 0}


async def test_a_run_whose_state_cannot_be_kept_fails_naming_the_program_and_variable(clean: SandboxPool) -> None:
    keeper = CalcProgram(id=7, init="seen = []\n", code="seen.append(x)\nif x == 'set':\n    seen = set(seen)\n")
    assert await clean.load_program(keeper) is None
    assert (await clean.run(keeper.key, {"x": 1})).ok
    bad = await clean.run(keeper.key, {"x": "set"})
    assert not bad.ok and bad.key == ("calc", 7) and "variable 'seen' cannot be kept between runs" in (bad.error or "")
    assert bad.state == {"seen": [1]} == clean.state(keeper.key)
    assert clean.stats("calc")[7]["last_error"] == bad.error


async def test_hooks_loaded_again_unchanged_are_not_compiled_again(clean: SandboxPool) -> None:
    """Module globals live as long as the hook is loaded: an unchanged hook keeps counting."""
    counting = {"id": 1, "hook_type": "transform", "code": "SEEN = []\ndef transform(tag_name, raw_value, context):\n"
                                                           "    SEEN.append(1)\n    return len(SEEN)\n"}  # fmt: skip
    other = {"id": 2, "hook_type": "filter", "code": "def filter_data(tags, context):\n    return True\n"}
    assert await clean.load([counting]) == {}
    assert (await clean.run_cycle(payload(a=0), CONTEXT)).payload["tags"] == {"a": 1}  # type: ignore[index]
    before = clean.round_trips
    assert await clean.load([counting]) == {}
    assert clean.round_trips == before, "nothing changed: no request at all"
    assert await clean.load([counting, other]) == {}
    assert (await clean.run_cycle(payload(a=0), CONTEXT)).payload["tags"] == {"a": 2}  # type: ignore[index]
    assert await clean.load([{**counting, "code": counting["code"] + "\n"}]) == {}
    assert (await clean.run_cycle(payload(a=0), CONTEXT)).payload["tags"] == {"a": 1}  # type: ignore[index]
    assert set(clean.programs()) == {("hook", 1)} and set(clean.stats()) == {1}


async def test_load_keeps_the_programs_of_other_kinds(clean: SandboxPool) -> None:
    assert await clean.load_program(COUNTER) is None
    await count(clean)
    assert await clean.load([DOUBLE.fields()]) == {}
    assert await clean.load([]) == {}
    assert await count(clean) == 2


async def test_a_program_of_the_wrong_class_or_kind_is_refused(clean: SandboxPool) -> None:
    class Odd(Program):
        kind = "odd"

    with pytest.raises(ValueError, match="unknown kind"):
        await clean.load_program(Odd(id=1, code=""))
    with pytest.raises(TypeError, match="a program id"):
        CalcProgram(id=1.5, code="")  # type: ignore[arg-type]


async def test_dry_runs_and_validation_of_every_kind(pool: SandboxPool) -> None:
    calc = CalcProgram(id=1, init="total = 10\n", code="total += a\nprint('total', total)\n", outputs={"t": "total"})
    result = await pool.dry_run_program(calc, {"a": 5}, trace=True)
    assert result.ok and result.result == {"t": 15} and result.prints == "total 15\n" and result.state == {"total": 15}
    assert result.trace is not None and result.trace[0] == {"code": "calculation code", "line": 1,
                                                            "changed": {"total": 15}}  # fmt: skip
    assert (await pool.dry_run_program(calc, {"a": 5}, state={"total": 1})).result == {"t": 6}
    failing = await pool.dry_run_program(calc, {"a": "x"})
    assert not failing.ok and failing.line == 1 and failing.state == {"total": 10}
    hung = await pool.dry_run_program(HOG, {})
    assert not hung.ok and hung.timeout and hung.error == "timed out after 200 ms"
    assert (await pool.dry_run_program(PARSER, {"text": "x"})).result == [{"line": "x"}]
    assert (await pool.dry_run_program(HOT, {"temperature": 1})).result is False
    assert await pool.validate_program(calc) == []
    errors = await pool.validate_program(ConditionProgram(id=1, code="a >"))
    assert errors[0].line == 1 and "SyntaxError" in errors[0].message
    assert await pool.validate_program(HookProgram(id=1, hook_type="filter", code="x = 1\n")) != []


async def test_sandbox_error_is_in_the_error_tree_and_a_closed_pool_raises_it() -> None:
    closed = SandboxPool(name="closed")
    with pytest.raises(SandboxError, match="not running") as raised:
        await closed.run(COUNTER.key, {})
    assert isinstance(raised.value, TagpipeError)


async def test_a_worker_found_dead_by_a_load_or_unload_comes_back_with_every_program_and_state(
    clean: SandboxPool,
) -> None:
    assert await clean.load_program(COUNTER) is None
    assert [await count(clean) for _ in range(2)] == [1, 2]
    clean._workers[0].kill()  # killed from outside while idle (the OOM killer, an operator)
    assert await clean.load_program(PARSER) is None
    assert await count(clean) == 3
    clean._workers[0].kill()
    await clean.unload(PARSER.key)
    assert await count(clean) == 4 and set(clean.programs()) == {COUNTER.key}
