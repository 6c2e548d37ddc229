"""Hook throughput: tag values per second through the five-hook pipeline, sandboxed and in-process; and runs of
calculated-tag scripts per second through the same pool, batched (``run_many``) and one at a time.

Run: ``.venv/bin/python benchmarks/hooks.py``. The process and its sandbox worker are pinned to one core
(``--cores`` to change). Sandboxed figures are measured two ways: one cycle in flight at a time (a single
device), and as an edge with ``--devices`` devices polled at the same interval hands them over (cycles that
arrive while the worker is busy share a round trip). Prints figures; never part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from tagpipe import gctune
from tagpipe.sandbox import CalcProgram, Run, SandboxPool, marker
from tagpipe.sandbox.marker import Marker
from tagpipe.sandbox.pipeline import FAILED, HookSpec, run_cycle, select_hooks
from tagpipe.sandbox.runtime import Runtime

TAGS = 100
SCRIPTS = [
    (1, "transform", "def transform(tag_name, raw_value, context):\n    return raw_value * 0.1 + 2.0\n"),
    (2, "derived_tags", "def derived_tags(tags, context):\n    return {'power': tags['t0'] * tags['t1']}\n"),
    (3, "filter", "def filter_data(tags, context):\n    return tags.get('t2', 0) >= 0\n"),
    (4, "alarm", ("def alarm(tag_name, value, context):\n"
                  "    if value > 1000:\n        return {'tag': tag_name, 'value': value}\n    return None\n")),
    (5, "pre_send", ("def pre_send(payload, context):\n    payload['site'] = context['company_code']\n"
                     "    return payload\n")),
]  # fmt: skip
FUNCTIONS = {"transform": "transform", "derived_tags": "derived_tags", "filter": "filter_data",
             "alarm": "alarm", "pre_send": "pre_send"}  # fmt: skip
CONTEXT = {"device_id": "edge-1", "equipment_id": 7, "connection_id": 3, "company_code": "ACME"}


def _payload(i: int) -> dict[str, Any]:
    return {"timestamp": f"2024-01-01T00:00:{i % 60:02d}", "equipment_id": 7, "connection_id": 3,
            "tags": {f"t{n}": float(n + i % 7) for n in range(TAGS)}}  # fmt: skip


def _scripts() -> list[dict[str, Any]]:
    return [{"id": sid, "hook_type": kind, "code": code, "timeout_ms": 1000} for sid, kind, code in SCRIPTS]


class _PlainCaller:
    """The seed's way: call the function, skip it on an exception; no copies, no checks."""

    def __init__(self, funcs: dict[int, Any], context: dict[str, Any]) -> None:
        self.funcs = funcs
        self.context = context

    def call(self, spec: HookSpec, *args: Any) -> Any:
        try:
            return self.funcs[spec.script_id](*args, self.context)
        except Exception:  # noqa: BLE001 - a hook may raise anything; it is a failure, as in the worker
            return FAILED

    def call_each(self, spec: HookSpec, items: list[tuple[str, Any]]) -> list[Any]:
        return [self.call(spec, name, value) for name, value in items]

    def reject(self, spec: HookSpec, message: str) -> None:
        pass


def _plain_functions() -> dict[int, Any]:
    funcs = {}
    for sid, kind, code in SCRIPTS:
        namespace: dict[str, Any] = {}
        exec(compile(code, f"<plain {sid}>", "exec"), namespace)  # exec of trusted benchmark code
        funcs[sid] = namespace[FUNCTIONS[kind]]
    return funcs


def bench_plain(payloads: list[dict[str, Any]]) -> float:
    specs = [HookSpec.from_mapping(s) for s in _scripts()]
    funcs = _plain_functions()
    started = time.perf_counter()
    for payload in payloads:
        run_cycle(payload, select_hooks(specs, CONTEXT), _PlainCaller(funcs, CONTEXT))
    return len(payloads) * TAGS / (time.perf_counter() - started)


def bench_restricted_in_process(payloads: list[dict[str, Any]]) -> float:
    runtime = Runtime(Marker(bytearray(marker.SIZE)))
    assert not runtime.load(_scripts())["errors"]
    started = time.perf_counter()
    for payload in payloads:
        runtime.cycle(payload, CONTEXT, [])
    return len(payloads) * TAGS / (time.perf_counter() - started)


async def bench_one_in_flight(pool: SandboxPool, payloads: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for payload in payloads:
        result = await pool.run_cycle(payload, CONTEXT)
    rate = len(payloads) * TAGS / (time.perf_counter() - started)
    assert result.payload is not None and not result.errors, result
    return rate


async def bench_devices(pool: SandboxPool, payloads: list[dict[str, Any]], devices: int) -> float:
    """``devices`` pollers, each handing over one cycle per tick as the edge agent does."""

    async def device(first: int, ticks: int) -> None:
        for tick in range(ticks):
            result = await pool.run_cycle(payloads[(first + tick * devices) % len(payloads)], CONTEXT)
            assert result.payload is not None and not result.errors, result

    ticks = max(1, len(payloads) // devices)
    started = time.perf_counter()
    await asyncio.gather(*(device(d, ticks) for d in range(devices)))
    return ticks * devices * TAGS / (time.perf_counter() - started)


async def bench_dry_run(pool: SandboxPool, runs: int = 200) -> list[float]:
    took = []
    for _ in range(runs):
        t = time.perf_counter()
        await pool.dry_run(code=SCRIPTS[0][2], hook_type="transform", test_input={"tag_name": "a", "raw_value": 1.0})
        took.append((time.perf_counter() - t) * 1000)
    return sorted(took)


CALC_SCRIPTS = 1000
AVERAGE = CalcProgram(id=0, init="count = 0\ntotal = 0.0\n", outputs={"power": "p", "mean": "total / count"},
                      code="p = v * i * pf\ncount += 1\ntotal += p\n")  # fmt: skip


async def bench_calc(pool: SandboxPool, rounds: int = 20) -> tuple[float, float]:
    """1,000 calc scripts of three inputs with a running mean in their state: runs/s batched, then one at a time."""
    import dataclasses

    programs = [dataclasses.replace(AVERAGE, id=n) for n in range(CALC_SCRIPTS)]
    assert not await pool.load_programs(programs)
    runs = [Run(key=p.key, inputs={"v": 230.0, "i": float(n % 7), "pf": 0.9}) for n, p in enumerate(programs)]
    started = time.perf_counter()
    for _ in range(rounds):
        results = await pool.run_many(runs)
    batched = rounds * len(runs) / (time.perf_counter() - started)
    assert all(r.ok for r in results), results[0]
    started = time.perf_counter()
    for run in runs:
        result = await pool.run(run.key, run.inputs)
    single = len(runs) / (time.perf_counter() - started)
    assert result.ok and result.state is not None and result.state["count"] == rounds + 1, result
    await pool.unload(*[p.key for p in programs])
    return batched, single


def api_dry_run(runs: int = 200) -> list[float]:
    """``POST /api/fleet/scripts/dry-run`` against a ``tagpipe up`` started on free ports in a scratch directory."""
    import httpx
    from ingest import tagpipe_up

    body = {"code": SCRIPTS[0][2], "hook_type": "transform", "test_input": {"tag_name": "a", "raw_value": 1.0}}
    took = []
    with tagpipe_up("tagpipe-hooks-bench-") as central, \
            httpx.Client(base_url=f"http://127.0.0.1:{central.http_port}", timeout=30) as client:
        for i in range(runs + 20):
            t = time.perf_counter()
            reply = client.post("/api/fleet/scripts/dry-run", json=body)
            if i >= 20:  # the first ones warm the server up
                took.append((time.perf_counter() - t) * 1000)
            reply.raise_for_status()
            assert reply.json()["result"] == 2.1, reply.text
    return sorted(took)


async def run(cycles: int, devices: int, rounds: int) -> dict[str, float | list[float]]:
    """Every measure ``rounds`` times, interleaved; the best of each (noise only ever slows a run down)."""
    payloads = [_payload(i) for i in range(cycles)]
    best: dict[str, float] = {}
    async with SandboxPool(workers=1, name="bench") as pool:
        assert not await pool.load(_scripts())
        await bench_one_in_flight(pool, payloads[:200])  # warm up
        for _ in range(rounds):
            figures = {
                "plain": bench_plain(payloads),
                "restricted": bench_restricted_in_process(payloads),
                "one": await bench_one_in_flight(pool, payloads),
                "devices": await bench_devices(pool, payloads, devices),
            }
            best = {k: max(v, best.get(k, 0.0)) for k, v in figures.items()}
        batched, single = await bench_calc(pool)
        return {**best, "dry": await bench_dry_run(pool), "calc_batched": batched, "calc_single": single}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=100, help="devices polled at the same interval")
    parser.add_argument("--rounds", type=int, default=3, help="measure everything this often, keep the best")
    parser.add_argument("--api", action="store_true", help="also time dry-runs through the API of a tagpipe up")
    parser.add_argument("--cores", default="0", help="CPU cores to pin to, e.g. 0 or 0,1 (inherited by the worker)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    gctune.settle()  # as `tagpipe edge` does once started
    got = asyncio.run(run(args.cycles, args.devices, args.rounds))
    plain, one, devices, dry = got["plain"], got["one"], got["devices"], got["dry"]
    assert isinstance(plain, float) and isinstance(one, float) and isinstance(devices, float)
    assert isinstance(dry, list)
    print(f"five hooks, {TAGS}-tag cycles, {args.cycles} cycles, best of {args.rounds} rounds, on core(s) {args.cores}")
    print(f"  in-process, plain compiled functions (seed style): {plain:>12,.0f} tag values/s")
    print(f"  in-process, restricted functions + guards/checks:  {got['restricted']:>12,.0f} tag values/s")
    print(f"  sandboxed, one cycle in flight (one device):       {one:>12,.0f} tag values/s"
          f"   overhead {plain / one:.2f}x")
    label = f"sandboxed, {args.devices} devices per interval:"
    print(f"  {label:<50} {devices:>12,.0f} tag values/s   overhead {plain / devices:.2f}x")
    print(f"  dry_run round trip (warm pool): p50 {statistics.median(dry):.2f} ms, "
          f"p95 {dry[int(len(dry) * 0.95)]:.2f} ms")
    print(f"  calc scripts ({CALC_SCRIPTS}, 3 inputs, state kept), run_many: {got['calc_batched']:>12,.0f} runs/s")
    print(f"  calc scripts, one run per round trip:          {got['calc_single']:>12,.0f} runs/s")
    if args.api:
        api = api_dry_run()
        print(f"  POST /api/fleet/scripts/dry-run (tagpipe up): p50 {statistics.median(api):.2f} ms, "
              f"p95 {api[int(len(api) * 0.95)]:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
