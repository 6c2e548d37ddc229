"""What authentication costs a request: ``GET /api/tags`` with an API token and with a browser session, as a ratio
to the same route with authentication off, in one run.

Run: ``.venv/bin/python benchmarks/auth.py --tags 50 --rounds 15 --requests 200``

Starts ``tagpipe up`` on free ports in a scratch directory (an admin and a token made first with ``tagpipe user``
and ``tagpipe token``), configures ``--tags`` tags, then two more ``tagpipe server`` processes on the same database
and bus, one with ``TAGPIPE_AUTH=off`` and one with authentication on, so both serve the same data from equal
processes. Each round times ``--requests`` sequential keep-alive requests per variant (off, token, session), in a
rotating order; the figure is the median over rounds of each variant's mean latency. The last line is JSON.
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


def cli(*args: str, data: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "tagpipe", *args, "--data-dir", str(data)], capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def server(data: Path, nats_port: int, auth: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data), "TAGPIPE_HTTP_PORT": str(port), "TAGPIPE_AUTH": auth,
           "TAGPIPE_NATS_URL": f"nats://127.0.0.1:{nats_port}"}
    proc = subprocess.Popen([sys.executable, "-m", "tagpipe", "server"], env=env, stdout=subprocess.DEVNULL,
                            stderr=(data / f"server-{auth}.log").open("wb"))
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


def timed(client: httpx.Client, n: int) -> float:
    """Mean seconds per ``GET /api/tags`` over ``n`` sequential requests."""
    started = time.perf_counter()
    for _ in range(n):
        r = client.get("/api/tags")
        if r.status_code != 200:
            raise SystemExit(f"GET /api/tags answered {r.status_code}: {r.text[:200]}")
    return (time.perf_counter() - started) / n


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
        nats_port = next(int(a) for a, b in zip(central.up.args[1:], central.up.args) if b == "--nats-port")
        with httpx.Client(base_url=f"http://127.0.0.1:{central.http_port}", headers=bearer, timeout=30) as api:
            eq = api.post("/api/equipment", json={"name": "Bench"}).json()["id"]
            conn = api.post("/api/connections", json={"equipment_id": eq, "edge_id": "bench-edge", "name": "Signals",
                                                      "protocol": "simulator", "settings": {}}).json()["id"]
            for i in range(args.tags):
                api.post("/api/tags", json={"connection_id": conn, "name": f"t{i:04d}", "address": "counter",
                                            "data_type": "UINT32"}).raise_for_status()
        procs = []
        try:
            off_proc, off_url = server(data, nats_port, "off")
            on_proc, on_url = server(data, nats_port, "on")
            procs = [off_proc, on_proc]
            session = httpx.Client(base_url=on_url, timeout=30)
            session.post("/api/auth/login", json={"username": "bench", "password": PASSWORD}).raise_for_status()
            clients = {"off": httpx.Client(base_url=off_url, timeout=30),
                       "token": httpx.Client(base_url=on_url, headers=bearer, timeout=30), "session": session}
            for c in clients.values():
                assert len(c.get("/api/tags").json()) == args.tags
                timed(c, args.requests)  # warm up: connections, caches, the first import of every driver
            means: dict[str, list[float]] = {k: [] for k in clients}
            names = list(clients)
            for r in range(args.rounds):
                for name in names[r % 3:] + names[:r % 3]:
                    means[name].append(timed(clients[name], args.requests))
            for c in clients.values():
                c.close()
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
                p.wait(20)
    median = {k: statistics.median(v) * 1000 for k, v in means.items()}
    print(f"GET /api/tags with {args.tags} tags, {args.rounds} rounds x {args.requests} requests per variant\n")
    print("| variant | median of round means (ms) | ratio to auth off |\n|---|---|---|")
    for name, ms in median.items():
        print(f"| {name} | {ms:.3f} | {ms / median['off']:.3f}x |")
    print(json.dumps({"tags": args.tags, "rounds": args.rounds, "requests": args.requests,
                      "ms": {k: round(v, 4) for k, v in median.items()},
                      "token_ratio": round(median["token"] / median["off"], 3),
                      "session_ratio": round(median["session"] / median["off"], 3)}))


if __name__ == "__main__":
    main()
