"""The pool as the edge agent and the server use it: cycles, reloads, dry runs, timeouts, crashes, limits."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tagpipe.contracts.config import ScriptConfig
from tagpipe.sandbox import HOOK_TYPES, SandboxPool, marker
from tests.helpers import async_wait_until
from tests.sandbox.conftest import CANARY, CANARY_ID, CONTEXT, assert_pool_works, payload

pytestmark = pytest.mark.asyncio(loop_scope="module")


def script(sid: int, hook_type: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "hook_type": hook_type, "code": code, "timeout_ms": 200, **extra}


LOOP_FOREVER = "def transform(tag_name, raw_value, context):\n    while True:\n        pass\n"


async def test_seed_examples_run_through_a_cycle(pool: SandboxPool) -> None:
    scripts = [ScriptConfig(id=i, hook_type=h.name, code=h.example) for i, h in enumerate(HOOK_TYPES.values(), 1)]
    for s in scripts:
        assert await pool.validate(s.code, s.hook_type) == []
    try:
        assert await pool.load(scripts) == {}
        tags = {"temperature_raw": 1300, "voltage": 230.0, "current": 2.0, "temperature": 90, "running": 1}
        result = await pool.run_cycle(payload(**tags), CONTEXT)
        assert result.errors == []
        assert result.payload is not None
        assert result.payload["tags"]["temperature_raw"] == 90.0
        assert result.payload["tags"]["power"] == 460.0
        assert result.payload["company_code"] == "ACME" and result.payload["tag_count"] == 6
        assert result.alarms == [{"level": "warning", "tag": "temperature", "value": 90,
                                  "message": "temperature 90 > 80", "script_id": 4}]  # fmt: skip
        stopped = await pool.run_cycle(payload(**{**tags, "running": 0}), CONTEXT)
        assert stopped.payload is None and stopped.alarms == []
        assert pool.stats()[1]["runs"] == 10  # five raw tags, two cycles
    finally:
        await pool.load([CANARY])


async def test_live_reload_replaces_scripts(pool: SandboxPool) -> None:
    v1 = script(CANARY_ID, "transform", "def transform(tag_name, raw_value, context):\n    return raw_value + 1\n")
    v2 = script(CANARY_ID, "transform", "def transform(tag_name, raw_value, context):\n    return raw_value + 2\n")
    try:
        await pool.load([v1])
        assert (await pool.run_cycle(payload(a=1), CONTEXT)).payload["tags"] == {"a": 2}  # type: ignore[index]
        await pool.load([v2])
        assert (await pool.run_cycle(payload(a=1), CONTEXT)).payload["tags"] == {"a": 3}  # type: ignore[index]
        await pool.load([])
        assert (await pool.run_cycle(payload(a=1), CONTEXT)).payload["tags"] == {"a": 1}  # type: ignore[index]
    finally:
        await pool.load([CANARY])


async def test_load_reports_bad_scripts_and_keeps_the_rest(pool: SandboxPool) -> None:
    scripts = [
        CANARY,
        script(1, "transform", "def transform(tag_name, raw_value, context)\n    return 1\n"),
        script(2, "alarm", "def alarmz(tag_name, value, context):\n    return None\n"),
        script(3, "filter", "while True:\n    pass\ndef filter_data(tags, context):\n    return True\n"),
        script(4, "transform", "import os\ndef transform(tag_name, raw_value, context):\n    return 1\n"),
    ]
    try:
        errors = await pool.load(scripts)
        assert set(errors) == {1, 2, 3, 4}
        assert errors[1].line == 1 and "SyntaxError" in errors[1].message
        assert "alarm" in errors[2].message
        assert "timed out" in errors[3].message
        assert errors[4].line == 1 and "os" in errors[4].message
        assert pool.stats()[4]["last_error_line"] == 1
        await assert_pool_works(pool)
    finally:
        await pool.load([CANARY])


async def test_a_hanging_hook_is_killed_and_reported_while_the_rest_runs(pool: SandboxPool) -> None:
    worker = pool._workers[0]
    try:
        await pool.load([CANARY, script(5, "transform", LOOP_FOREVER, priority=1)])
        pid = worker.pid
        result = await pool.run_cycle(payload(a=21), CONTEXT)
        assert result.payload is not None and result.payload["tags"] == {"a": 42}
        assert [(e.script_id, e.timeout, e.message) for e in result.errors] == [(5, True, "timed out after 200 ms")]
        assert worker.pid != pid, "the worker was killed and restarted"
        assert pool.stats()[5]["timeouts"] == 1
        assert pool.stats()[CANARY_ID]["runs"] >= 1
    finally:
        await pool.load([CANARY])
    await assert_pool_works(pool)


async def test_cycles_that_arrive_together_each_get_their_own_result(pool: SandboxPool) -> None:
    """Cycles queued while the worker is busy share a round trip; a hang in one costs only that cycle its script."""
    hangs_on_13 = ("def transform(tag_name, raw_value, context):\n    while raw_value == 13:\n        pass\n"
                   "    return raw_value + 1000\n")  # fmt: skip
    worker = pool._workers[0]
    try:
        await pool.load([CANARY, script(8, "transform", hangs_on_13, priority=1)])
        pid = worker.pid
        results = await asyncio.gather(*(pool.run_cycle(payload(a=i), CONTEXT) for i in range(40)))
        assert worker.pid != pid, "the worker was killed and restarted"
        for i, result in enumerate(results):
            assert result.payload is not None
            if i == 13:
                assert result.payload["tags"] == {"a": 26}, "script 8 skipped, the canary still ran"
                assert [(e.script_id, e.timeout) for e in result.errors] == [(8, True)]
            else:
                assert result.payload["tags"] == {"a": (i + 1000) * 2}, i
                assert result.errors == []
        assert pool.stats()[8]["timeouts"] == 1
    finally:
        await pool.load([CANARY])
    await assert_pool_works(pool)


async def test_a_per_tag_hook_has_its_budget_per_call_not_per_cycle(pool: SandboxPool) -> None:
    """30 tags x 20 ms is 600 ms, three times the budget, and no call overruns; then one call hangs."""
    busy = ("from datetime import datetime\n"
            "def transform(tag_name, raw_value, context):\n    started = datetime.now()\n"
            "    while (datetime.now() - started).total_seconds() < raw_value:\n        pass\n    return raw_value\n")
    try:
        assert await pool.load([script(9, "transform", busy, timeout_ms=200)]) == {}
        tags = {f"t{i}": 0.02 for i in range(30)}
        started = asyncio.get_running_loop().time()
        result = await pool.run_cycle(payload(**tags), CONTEXT)
        assert asyncio.get_running_loop().time() - started >= 0.6
        assert result.errors == [] and result.payload is not None and result.payload["tags"] == tags
        result = await pool.run_cycle(payload(**{**tags, "t17": 10.0**6}), CONTEXT)
        assert [(e.script_id, e.timeout) for e in result.errors] == [(9, True)]
    finally:
        await pool.load([CANARY])
    await assert_pool_works(pool)


async def test_a_caller_that_gives_up_does_not_disturb_the_others(pool: SandboxPool) -> None:
    slow = script(7002, "filter", "def filter_data(tags, context):\n    n = 0\n    for i in range(300000):\n"
                                  "        n += i\n    return n > 0\n", timeout_ms=5000)  # fmt: skip
    try:
        assert await pool.load([CANARY, slow]) == {}
        first = asyncio.create_task(pool.run_cycle(payload(a=1), CONTEXT))
        waiting = [asyncio.create_task(pool.run_cycle(payload(a=i), CONTEXT)) for i in range(2, 6)]
        await asyncio.sleep(0)
        waiting[1].cancel()  # its device was reconfigured while the cycle waited
        done = await asyncio.gather(first, *waiting, return_exceptions=True)
        assert isinstance(done[2], asyncio.CancelledError)
        assert [r.payload["tags"]["a"] for i, r in enumerate(done) if i != 2] == [2, 4, 8, 10]  # type: ignore[union-attr]
    finally:
        await pool.load([CANARY])
    await assert_pool_works(pool)


async def test_a_request_cancelled_midway_never_answers_the_next_one(pool: SandboxPool) -> None:
    """A browser that leaves while its Test runs: the next request gets its own answer, not the stale one."""
    slow = ("def transform(tag_name, raw_value, context):\n    n = 0\n    for i in range(2000000):\n"
            "        n += i\n    return 'slow'\n")  # fmt: skip
    quick = "def transform(tag_name, raw_value, context):\n    return 'quick'\n"
    test_input = {"tag_name": "a", "raw_value": 1}
    worker = pool._workers[0]
    task = asyncio.create_task(pool.dry_run(code=slow, hook_type="transform", test_input=test_input, timeout_ms=5000))
    await async_wait_until(lambda: marker.read(worker._buf)[0] == marker.DRY_RUN_ID, what="the slow test running")
    task.cancel()
    result = await pool.dry_run(code=quick, hook_type="transform", test_input=test_input)
    assert result.ok and result.result == "quick", result
    await assert_pool_works(pool)


async def test_the_event_loop_keeps_running_during_a_hang(pool: SandboxPool) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        result = await pool.dry_run(code=LOOP_FOREVER, hook_type="transform",
                                    test_input={"tag_name": "a", "raw_value": 1}, timeout_ms=300)  # fmt: skip
    finally:
        ticker.cancel()
    assert result.error == "timed out after 300 ms"
    assert ticks >= 10


async def test_memory_bomb_in_a_cycle_restarts_the_worker(pool: SandboxPool) -> None:
    bomb = "def derived_tags(tags, context):\n    return {'x': len(bytes(10**10))}\n"
    worker = pool._workers[0]
    try:
        await pool.load([CANARY, script(6, "derived_tags", bomb)])
        pid = worker.pid
        result = await pool.run_cycle(payload(a=21), CONTEXT)
        assert result.payload is not None and result.payload["tags"] == {"a": 42}
        assert [(e.script_id, e.line) for e in result.errors] == [(6, 2)]
        assert "MemoryError" in result.errors[0].message
        assert worker.pid != pid
    finally:
        await pool.load([CANARY])
    await assert_pool_works(pool)


async def test_scripts_share_no_state(pool: SandboxPool) -> None:
    writer = ("SEEN = []\ndef transform(tag_name, raw_value, context):\n"
              "    SEEN.append(1)\n    context['company_code'] = 'EVIL'\n    return raw_value\n")  # fmt: skip
    reader = ("def derived_tags(tags, context):\n    try:\n        n = len(SEEN)\n"
              "    except NameError:\n        n = -1\n"
              "    return {'seen': n, 'company': context['company_code']}\n")  # fmt: skip
    try:
        assert await pool.load([script(7, "transform", writer), script(8, "derived_tags", reader)]) == {}
        result = await pool.run_cycle(payload(a=1, b=2), CONTEXT)
        assert result.payload is not None
        assert result.payload["tags"]["seen"] == -1 and result.payload["tags"]["company"] == "ACME"
    finally:
        await pool.load([CANARY])


async def test_scopes_apply_in_the_worker(pool: SandboxPool) -> None:
    plus = "def transform(tag_name, raw_value, context):\n    return raw_value + {n}\n"
    scripts = [
        script(10, "transform", plus.format(n=1), scope="equipment", equipment_id=7),
        script(11, "transform", plus.format(n=10), scope="equipment", equipment_id=8),
        script(12, "transform", plus.format(n=100), scope="connection", connection_id=3),
        script(13, "transform", plus.format(n=1000), scope="device", device_id="edge-2"),
    ]
    try:
        await pool.load(scripts)
        assert (await pool.run_cycle(payload(a=0), CONTEXT)).payload["tags"] == {"a": 101}  # type: ignore[index]
    finally:
        await pool.load([CANARY])


async def test_dry_run_reports_syntax_and_runtime_errors_with_lines(pool: SandboxPool) -> None:
    syntax = await pool.dry_run(code="def transform(tag_name, raw_value, context):\n    return (\n",
                                hook_type="transform", test_input={"tag_name": "a", "raw_value": 1})  # fmt: skip
    assert not syntax.ok and syntax.line in (2, 3) and "SyntaxError" in (syntax.error or "")
    runtime = await pool.dry_run(
        code="def alarm(tag_name, value, context):\n    x = 1\n    return {'v': value['missing']}\n",
        hook_type="alarm", test_input={"tag_name": "a", "value": {"k": 1}},
    )
    assert not runtime.ok and runtime.line == 3 and runtime.error == "KeyError: 'missing'"
    shaped = await pool.dry_run(code="def pre_send(payload, context):\n    return [1]\n", hook_type="pre_send",
                                test_input={"payload": {"tags": {}}})  # fmt: skip
    assert not shaped.ok and "pre_send must return" in (shaped.error or "")


async def test_dry_run_returns_result_prints_and_duration(pool: SandboxPool) -> None:
    code = "def filter_data(tags, context):\n    print('running is', tags['running'], context['company_code'])\n" \
           "    return tags['running'] == 1\n"
    result = await pool.dry_run(code=code, hook_type="filter", test_input={"tags": {"running": 1}},
                                context={"company_code": "ACME"})  # fmt: skip
    assert result.ok and result.result is True
    assert result.prints == "running is 1 ACME\n"
    assert 0 <= result.duration_ms < 1000
    missing = await pool.dry_run(code=code, hook_type="filter", test_input={"tag": {}})
    assert not missing.ok and "tags" in (missing.error or "")


async def test_validate_requires_the_hook_function(pool: SandboxPool) -> None:
    assert await pool.validate(HOOK_TYPES["filter"].example, "filter") == []
    missing = await pool.validate("def filter(tags, context):\n    return True\n", "filter")
    assert [e.message for e in missing] == ["the script must define a function named filter_data"]
    arity = await pool.validate("def transform(tag_name, raw_value):\n    return 1\n", "transform")
    assert arity[0].line == 1 and "3 arguments" in arity[0].message
    unknown = await pool.validate("x = 1\n", "nope")
    assert unknown and "unknown hook type" in unknown[0].message


async def test_worker_runs_with_limits_and_a_clean_environment(pool: SandboxPool) -> None:
    proc = Path(f"/proc/{pool._workers[0].pid}")
    names = {item.split(b"=", 1)[0].decode() for item in (proc / "environ").read_bytes().split(b"\0") if item}
    assert names <= {"PATH", "LANG", "LC_ALL"}
    lines = (proc / "limits").read_text().splitlines()
    limits = {line[:26].strip(): line[26:].split() for line in lines if line.strip()}
    assert limits["Max address space"][0] == str(512 * 1024 * 1024)
    assert int(limits["Max open files"][0]) <= 32
    assert limits["Max cpu time"][0] != "unlimited"
    assert limits["Max file size"][0] == "0"
    uids = next(line.split()[1:] for line in (proc / "status").read_text().splitlines() if line.startswith("Uid:"))
    if os.geteuid() == 0:
        assert uids == ["65534"] * 4, "a worker started by root runs as nobody"
        assert limits["Max processes"][0] == "0"


async def test_two_workers_share_the_load() -> None:
    async with SandboxPool(workers=2, name="pair") as pair:
        assert await pair.load([CANARY]) == {}
        results = await asyncio.gather(*(pair.run_cycle(payload(a=i), CONTEXT) for i in range(6)))
        assert [r.payload["tags"]["a"] for r in results] == [0, 2, 4, 6, 8, 10]  # type: ignore[index]
        assert pair.stats()[CANARY_ID]["runs"] == 6


async def test_cycles_larger_than_a_pipe_buffer_and_slower_than_the_hold(pool: SandboxPool) -> None:
    """Frames past 64 KiB take several reads and writes; a reply later than the held wait parks the task."""
    tags = {f"tag_{n:05d}": float(n) for n in range(20_000)}
    result = await pool.run_cycle(payload(**tags), CONTEXT)
    assert result.payload is not None and not result.errors
    assert result.payload["tags"] == {name: value * 2 for name, value in tags.items()}
    slow = script(7001, "filter", "def filter_data(tags, context):\n    n = 0\n    for i in range(200000):\n"
                                  "        n += i\n    return n > 0\n", timeout_ms=5000)  # fmt: skip
    try:
        assert await pool.load([CANARY, slow]) == {}
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        result = await pool.run_cycle(payload(a=1), CONTEXT)
        ticker.cancel()
        assert result.payload is not None and result.payload["tags"] == {"a": 2} and not result.errors
        assert ticks > 1  # the event loop kept running while the worker was busy
    finally:
        await pool.load([CANARY])
