"""What authentication costs a request: ``GET /api/tags`` with an API token and with a browser session, as a ratio
to the same route with authentication off, in one run.

Run: ``.venv/bin/python benchmarks/auth.py --tags 50 --rounds 15 --requests 200``

Starts ``tagpipe up`` on free ports in a scratch directory (an admin and a token made first with ``tagpipe user``
and ``tagpipe token``), configures ``--tags`` tags, then three more ``tagpipe server`` processes on the same
database and bus, one per variant (``TAGPIPE_AUTH=off``; on, called with a token; on, called with a session), so
each serves the same data at the same rate from an equal process, all pinned to one core (the client to another).
Requests are interleaved (one of each variant in turn: off, token, session, keep-alive), so a busy moment of a
shared machine hits all three alike; the figure is each variant's median request time as a ratio to auth off (the
median over rounds of each round's mean is printed beside it). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from ingest import free_port, tagpipe_up, wait_port

PASSWORD = "benchmark-password"
CORES = sorted(os.sched_getaffinity(0))


def cli(*args: str, data: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "tagpipe", *args, "--data-dir", str(data)], capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def server(data: Path, nats_port: int, auth: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data), "TAGPIPE_HTTP_PORT": str(port), "TAGPIPE_AUTH": auth,
           "TAGPIPE_NATS_URL": f"nats://127.0.0.1:{nats_port}"}
    # Both servers on the last core, the client on the first: equal places, so a ratio compares code, not cores.
    pin = ["taskset", "-c", str(CORES[-1])] if len(CORES) > 1 else []
    proc = subprocess.Popen([*pin, sys.executable, "-m", "tagpipe", "server"], env=env, stdout=subprocess.DEVNULL,
                            stderr=(data / f"server-{port}.log").open("wb"))
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


def timed(client: httpx.Client) -> float:
    """Seconds one ``GET /api/tags`` takes."""
    started = time.perf_counter()
    r = client.get("/api/tags")
    elapsed = time.perf_counter() - started
    if r.status_code != 200:
        raise SystemExit(f"GET /api/tags answered {r.status_code}: {r.text[:200]}")
    return elapsed


def dependency_cost(data: Path, token: str, cookie: str, n: int = 2000) -> dict[str, float]:
    """Microseconds ``authenticate`` takes in-process (no HTTP, no server): a credential checked in the last second
    (the cache) and one looked up in the database."""
    import asyncio

    from starlette.requests import Request

    from tagpipe.auth.access import authenticate, credential_cache
    from tagpipe.features import FEATURES
    from tagpipe.services import build_services
    from tagpipe.settings import Settings

    services = build_services(Settings(data_dir=data), FEATURES)
    cache = credential_cache(services)

    def request(headers: list[tuple[bytes, bytes]]) -> Request:
        return Request({"type": "http", "method": "GET", "path": "/api/tags", "headers": headers, "client": ("b", 1)})

    async def run() -> dict[str, float]:
        out = {}
        for name, headers in (("token", [(b"authorization", f"Bearer {token}".encode())]),
                              ("session", [(b"cookie", f"tagpipe_session={cookie}".encode())])):
            for label, clear in ((f"{name}_cached_us", False), (f"{name}_lookup_us", True)):
                started = time.perf_counter()
                for _ in range(n):
                    if clear:
                        cache.clear()
                    await authenticate(services, request(headers))
                out[label] = round((time.perf_counter() - started) / n * 1e6, 1)
        return out

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tags", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    import tempfile

    data = Path(tempfile.mkdtemp(prefix="tagpipe-auth-bench-"))
    cli("user", "add", "bench", "--role", "admin", "--password", PASSWORD, data=data)
    token = cli("token", "create", "--user", "bench", "--name", "benchmark", data=data)
    bearer = {"Authorization": f"Bearer {token}"}
    with tagpipe_up("tagpipe-auth-bench-", auth=True, data=data) as central:
        up_args = central.up.args
        nats_port = next(int(a) for a, b in zip(up_args[1:], up_args, strict=False) if b == "--nats-port")
        with httpx.Client(base_url=f"http://127.0.0.1:{central.http_port}", headers=bearer, timeout=30) as api:
            eq = api.post("/api/equipment", json={"name": "Bench"}).json()["id"]
            conn = api.post("/api/connections", json={"equipment_id": eq, "edge_id": "bench-edge", "name": "Signals",
                                                      "protocol": "simulator", "settings": {}}).json()["id"]
            for i in range(args.tags):
                api.post("/api/tags", json={"connection_id": conn, "name": f"t{i:04d}", "address": "counter",
                                            "data_type": "UINT32"}).raise_for_status()
        procs = []
        try:
            # One server per variant, so each gets the same share of requests (a server kept busier answers faster).
            urls = {}
            for variant, auth in (("off", "off"), ("token", "on"), ("session", "on")):
                proc, urls[variant] = server(data, nats_port, auth)
                procs.append(proc)
            if len(CORES) > 1:
                os.sched_setaffinity(0, {CORES[0]})
            session = httpx.Client(base_url=urls["session"], timeout=30)
            session.post("/api/auth/login", json={"username": "bench", "password": PASSWORD}).raise_for_status()
            clients = {"off": httpx.Client(base_url=urls["off"], timeout=30),
                       "token": httpx.Client(base_url=urls["token"], headers=bearer, timeout=30), "session": session}
            for c in clients.values():
                assert len(c.get("/api/tags").json()) == args.tags
                for _ in range(args.requests):
                    timed(c)  # warm up: connections, caches, the first import of every driver
            samples: dict[str, list[float]] = {k: [] for k in clients}
            round_means: dict[str, list[float]] = {k: [] for k in clients}
            names = list(clients)
            for _ in range(args.rounds):
                this_round: dict[str, list[float]] = {k: [] for k in clients}
                for i in range(args.requests):  # one request of each variant in turn: a busy moment hits all three
                    for name in names[i % 3:] + names[:i % 3]:
                        this_round[name].append(timed(clients[name]))
                for name, values in this_round.items():
                    samples[name].extend(values)
                    round_means[name].append(statistics.mean(values))
            cookie = session.cookies["tagpipe_session"]
            for c in clients.values():
                c.close()
            in_process = dependency_cost(data, token, cookie)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
                p.wait(20)
    median = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    means = {k: statistics.median(v) * 1000 for k, v in round_means.items()}
    print(f"GET /api/tags with {args.tags} tags, {args.rounds} rounds x {args.requests} requests per variant, "
          "interleaved\n")
    print("| variant | median request (ms) | ratio | median of round means (ms) | ratio |\n|---|---|---|---|---|")
    for name, ms in median.items():
        print(f"| {name} | {ms:.3f} | {ms / median['off']:.3f}x | {means[name]:.3f} | "
              f"{means[name] / means['off']:.3f}x |")
    print(f"\nauthenticate() in-process, µs per call: {in_process}")
    print(json.dumps({"tags": args.tags, "rounds": args.rounds, "requests": args.requests,
                      "median_ms": {k: round(v, 4) for k, v in median.items()},
                      "token_ratio": round(median["token"] / median["off"], 3),
                      "session_ratio": round(median["session"] / median["off"], 3),
                      "round_mean_ratios": {k: round(means[k] / means["off"], 3) for k in ("token", "session")},
                      "authenticate_in_process": in_process}))


if __name__ == "__main__":
    main()
