"""Trend query: 7 days of 1 Hz data for one tag (604,800 points), downsampled to 1,000 points.

Run: ``.venv/bin/python benchmarks/trend.py [--runs 50] [--http]``

Writes the week through ``IngestStore`` (so the rollups are exactly what ingest produces) into a temporary SQLite
file, then times ``history(session, tag, start, end, 1000)`` (served from the 1-minute rollups) and, as the baseline,
the same min / max / avg buckets computed by a GROUP BY over the raw rows. With ``--http`` it also starts the web app
on a free port and times ``GET /api/tags/{id}/history?start=&end=&points=1000``. Prints figures; never part of the
tests.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from tagpipe.contracts import iso_timestamp
from tagpipe.contracts.data import DataPayload
from tagpipe.db import make_engine, upgrade
from tagpipe.history.merge import merge_all
from tagpipe.history.service import history
from tagpipe.history.store import IngestStore

DAY_MS = 86_400_000
RAW_SQL = ("SELECT (ts - :start) / :w AS b, MIN(ts), MIN(value), MAX(value), AVG(value), COUNT(*) FROM samples "
           "WHERE tag_id = :tag AND ts >= :start AND ts < :end AND value IS NOT NULL GROUP BY b ORDER BY b")


def timed(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm the page cache and statement caches
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def row(name: str, ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"| {name} | {statistics.median(ms):.1f} | {q[18]:.1f} | {len(ms)} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--http", action="store_true", help="also time the REST endpoint (starts the web app)")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="tagpipe-trend-"))
    url = f"sqlite:///{data / 'tagpipe.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = IngestStore(engine)
    end = int(time.time() * 1000) // 1000 * 1000
    start = end - args.days * DAY_MS
    n = args.days * 86_400
    t = time.perf_counter()
    for i in range(0, n, 20_000):  # 20,000 messages of one value per batch, as ingest would write them
        store.write([DataPayload(edge_id="bench", connection_id="1", equipment_id="4", ts=start + k * 1000,
                                 tags={"temperature": 20.0 + (k % 3600) / 100.0})
                     for k in range(i, min(n, i + 20_000))])
        merge_all(engine)
    load = time.perf_counter() - t
    with Session(engine) as s:
        tag = s.execute(text("SELECT id FROM tags WHERE name = 'temperature'")).scalar_one()
        count = s.execute(text("SELECT COUNT(*) FROM samples")).scalar_one()
    print(f"{count} samples written through IngestStore in {load:.1f} s ({count / load:.0f} values/s)\n")

    width = -(-(end - start) // 1000)
    with Session(engine) as s:
        source, points = history(s, tag, start, end, 1000)
        rollup = timed(lambda: history(s, tag, start, end, 1000), args.runs)
        params = {"tag": tag, "start": start, "end": end, "w": width}
        raw = timed(lambda: s.execute(text(RAW_SQL), params).all(), max(5, args.runs // 5))
        exact = s.execute(text(RAW_SQL), params).all()
    assert len(points) <= 1000 and sum(p.count for p in points) == count
    assert (min(p.min for p in points) == min(r[2] for r in exact)
            and max(p.max for p in points) == max(r[3] for r in exact))
    print(f"history(): source {source}, {len(points)} points\n")
    print("| query | p50 ms | p95 ms | runs |\n|---|---|---|---|")
    print(row(f"history() from {source}", rollup))
    print(row("GROUP BY over raw rows (baseline)", raw))
    if args.http:
        print(row("GET /api/tags/{id}/history", http_runs(data, tag, start, end, args.runs)))


def http_runs(data: Path, tag: int, start: int, end: int, runs: int) -> list[float]:
    import httpx
    import uvicorn

    from tagpipe.server import create_app
    from tagpipe.settings import Settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(data_dir=data, http_port=port, nats_url="nats://127.0.0.1:1", auth="off")
    server = uvicorn.Server(uvicorn.Config(create_app(settings, migrate=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        params = {"start": iso_timestamp(start), "end": iso_timestamp(end), "points": 1000}
        r = client.get(f"/api/tags/{tag}/history", params=params)
        r.raise_for_status()
        out = timed(lambda: client.get(f"/api/tags/{tag}/history", params=params).raise_for_status(), runs)
    server.should_exit = True
    return out


if __name__ == "__main__":
    main()
