"""Ingest throughput end to end: MQTT publishers -> nats-server (MQTT + JetStream) -> ingest worker -> SQLite.

Run: ``.venv/bin/python benchmarks/ingest.py --workload a --seconds 60 --rate 10000``
     ``.venv/bin/python benchmarks/ingest.py --workload b --seconds 60 --rate 1000``
     ``.venv/bin/python benchmarks/ingest.py --mqtt-only --rate 30000``  (nats-server's MQTT listener alone)

Starts ``tagpipe up`` on free ports in a temporary data directory, adds each edge as a collector (its own MQTT user
and password, through the API), publishes seed-shaped data messages from ``--publishers`` processes (each edge over
its own connection, logged in as itself; QoS ``--qos``) at ``--rate`` messages/s in total, and reports messages/s and
tag values/s stored in SQLite, publish-to-queryable latency (p50/p99; the publish time is the message timestamp and a
sampler polls the samples of a few edges), CPU and peak RSS of nats-server, the worker and the web server, and
whether every acknowledged message was stored. Stops ``tagpipe up`` by PID. Prints figures; never part of the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import psutil

WORKLOADS = {"a": (3, 1000), "b": (100, 100)}  # tag values per message, distinct edges
SHARDS = 256  # tagpipe.history.models.SHARDS (not imported: the publishers' processes stay free of tagpipe)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


class RawMqtt:
    """A minimal MQTT 3.1.1 publisher on a plain socket (QoS 0/1), so the clients cost little CPU next to the central
    processes being measured; paho-mqtt (``--client paho``) spends about a core per ~6,000 QoS 1 msg/s here."""

    def __init__(self, port: int, client_id: str, user: str | None = None, password: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fields = [client_id.encode()] + ([user.encode(), (password or "").encode()] if user else [])
        flags = 0x02 | (0xC0 if user else 0)  # clean session (+ user name and password), no keepalive
        var = b"\x00\x04MQTT\x04" + bytes([flags]) + b"\x00\x00" + b"".join(
            len(f).to_bytes(2, "big") + f for f in fields)
        self.sock.sendall(b"\x10" + self._length(len(var)) + var)
        ack = self.sock.recv(4)
        if ack[:1] != b"\x20" or ack[3:4] != b"\x00":
            raise RuntimeError(f"CONNACK refused the connection: {ack!r}")
        self.acked = 0
        self.last_ack = time.time()
        self.pid = 0
        self.buf = bytearray()
        threading.Thread(target=self._read, daemon=True).start()

    @staticmethod
    def _length(n: int) -> bytes:
        out = bytearray()
        while True:
            n, digit = n >> 7, n & 0x7F
            out.append(digit | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def _read(self) -> None:
        pending = 0
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            pending += len(data)
            self.acked += pending // 4  # after CONNACK only PUBACKs (4 bytes each) arrive
            pending %= 4
            self.last_ack = time.time()

    def publish(self, topic: bytes, payload: bytes, qos: int) -> None:
        head = len(topic).to_bytes(2, "big") + topic
        if qos:
            self.pid = self.pid % 65535 + 1
            head += self.pid.to_bytes(2, "big")
        self.buf += (b"\x32" if qos else b"\x30") + self._length(len(head) + len(payload)) + head + payload

    def flush(self) -> None:
        if self.buf:
            self.sock.sendall(self.buf)
            self.buf.clear()


def publisher(index: int, count: int, port: int, edges: int, tags: int, rate: float, seconds: float, qos: int,
              start_at: float, out: mp.Queue, kind: str = "raw", window: int = 1000,
              creds: dict[int, str] | None = None) -> None:
    """Publish to edges index, index+count, ... at ``rate`` msg/s; report (sent, acked, last ack, CPU) when done.

    With ``creds`` (edge -> its password) each edge publishes over its own connection, logged in as itself, as
    per-edge credentials require (``raw`` client only)."""
    acked = 0
    last_ack = time.time()
    if kind == "paho":
        import paho.mqtt.client as mqtt

        def on_publish(*_a: object) -> None:
            nonlocal acked, last_ack
            acked += 1
            last_ack = time.time()

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}")
        client.max_inflight_messages_set(window)
        client.on_publish = on_publish
        client.connect("127.0.0.1", port, keepalive=60)
        client.loop_start()
        send = client.publish
    mine = list(range(index, edges, count))
    if kind != "paho":
        raws = ([RawMqtt(port, f"edge-{e}", f"edge-{e}", creds[e]) for e in mine] if creds
                else [RawMqtt(port, f"bench-{os.getpid()}")])
        by_topic = {f"tagpipe/devices/edge-{e}/data": raws[k % len(raws)] for k, e in enumerate(mine)}

        def send(topic: str, payload: str, qos: int) -> None:
            by_topic[topic].publish(topic.encode(), payload.encode(), qos)

        def acks() -> tuple[int, float]:
            return sum(r.acked for r in raws), max(r.last_ack for r in raws)
    topics = [f"tagpipe/devices/edge-{e}/data" for e in mine]
    names = [f"v{n}" for n in range(tags)] if tags != 3 else ["temperature", "pressure", "humidity"]
    last_ts = [0] * len(mine)
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.monotonic()
    sent = i = 0
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= seconds:
            break
        due = int(rate * elapsed) - sent
        if due <= 0:
            time.sleep(0.002)
            continue
        if kind == "raw":
            acked, last_ack = acks()
        if qos and sent - acked > window:  # flow control: never more than ``window`` unacknowledged messages
            time.sleep(0.001)
            continue
        for _ in range(min(due, 200)):
            k = i % len(mine)
            now = int(time.time() * 1000)
            ts = now if now > last_ts[k] else last_ts[k] + 1  # one message per edge per ms: keys stay distinct
            last_ts[k] = ts
            body = {"timestamp": iso(ts), "equipment_id": 4, "connection_id": 1,
                    "tags": {n: (ts % 100_000) / 10.0 + j for j, n in enumerate(names)}}
            send(topics[k], json.dumps(body, separators=(",", ":")), qos)
            sent += 1
            i += 1
        if kind == "raw":
            for r in raws:
                r.flush()
    deadline = time.monotonic() + 60
    while qos and acked < sent and time.monotonic() < deadline:
        time.sleep(0.05)
        if kind == "raw":
            acked, last_ack = acks()
    if kind == "paho":
        client.loop_stop()
        client.disconnect()
    out.put((sent, acked if qos else sent, last_ack if qos else time.time(), time.process_time()))


class Sampler(threading.Thread):
    """Polls the database for the newest samples of a few edges; latency = when first seen - message timestamp."""

    def __init__(self, db: Path, edges: list[int], interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.db, self.edges, self.interval = db, edges, interval
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        ids: list[int] = []
        last: dict[int, int] = {}
        seen: dict[int, int] = {}  # per tag, the newest batch (samples_hot.seq) it was seen in
        while not self.stop.is_set():
            time.sleep(self.interval)
            try:
                if len(ids) < len(self.edges):
                    marks = ",".join(f"'edge-{e}'" for e in self.edges)
                    ids = [r[0] for r in con.execute(f"SELECT id FROM tags WHERE edge_id IN ({marks}) "
                                                     f"AND name IN ('temperature', 'v0')")]
                    for t in ids:
                        last.setdefault(t, int(time.time() * 1000))
                        seen.setdefault(t, 0)
                    continue
                now = time.time() * 1000
                for t in ids:
                    # Staged rows newer than the last batch seen: a seek on (shard, seq), not a scan of the shard,
                    # so that polling 500 times a second costs this process little next to what it measures.
                    rows = con.execute("SELECT ts, 0 FROM samples WHERE tag_id = ? AND ts > ? UNION SELECT ts, seq "
                                       "FROM samples_hot WHERE shard = ? AND seq > ? AND tag_id = ? AND ts > ? "
                                       "ORDER BY ts", (t, last[t], t % SHARDS, seen[t], t, last[t])).fetchall()
                    for ts, _ in rows:
                        self.latencies.append((now - ts) / 1000)
                    if rows:
                        last[t] = rows[-1][0]
                        seen[t] = max(seen[t], max(seq for _, seq in rows))
            except sqlite3.OperationalError:
                continue


class Monitor(threading.Thread):
    """CPU seconds and peak RSS of each central process, and the peak RSS of the whole ``tagpipe up`` tree (the
    named processes and every other child, such as the sandbox's workers), sampled every 0.5 s."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        super().__init__(daemon=True)
        self.procs = procs
        self.peak = dict.fromkeys(procs, 0)
        self.tree_peak = 0
        self.cpu0 = {n: sum(p.cpu_times()[:2]) for n, p in procs.items()}
        self.cpu1 = dict(self.cpu0)
        self.stop = threading.Event()

    def run(self) -> None:
        root = self.procs["server"]
        while not self.stop.wait(0.5):
            for n, p in self.procs.items():
                try:
                    self.peak[n] = max(self.peak[n], p.memory_info().rss)
                    self.cpu1[n] = sum(p.cpu_times()[:2])
                except psutil.Error:
                    pass
            tree = 0
            with contextlib.suppress(psutil.Error):
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        tree += p.memory_info().rss
            self.tree_peak = max(self.tree_peak, tree)


class Central(NamedTuple):
    up: subprocess.Popen
    data: Path
    http_port: int
    mqtt_port: int


@contextlib.contextmanager
def tagpipe_up(prefix: str, keep: bool = False, env: dict[str, str] | None = None, auth: bool = False,
               data: Path | None = None) -> Iterator[Central]:
    """``tagpipe up`` on free ports in a scratch data directory (or ``data``), once it listens. Afterwards stopped by
    PID, and the directory removed unless ``keep`` (a 60 s ingest run leaves ~400 MB). Without ``auth`` the API
    needs no credentials (``TAGPIPE_AUTH=off``, loopback only; a version without auth ignores it)."""
    env = {**(env if env is not None else os.environ), **({} if auth else {"TAGPIPE_AUTH": "off"})}
    data = data or Path(tempfile.mkdtemp(prefix=prefix))
    http, nats_port, mqtt_port = free_port(), free_port(), free_port()
    cli = Path(sys.executable).parent / "tagpipe"
    up = subprocess.Popen([str(cli), "up", "--data-dir", str(data), "--http-port", str(http), "--nats-port",
                           str(nats_port), "--mqtt-port", str(mqtt_port)], stdout=subprocess.DEVNULL,
                          stderr=(data / "up.log").open("wb"), start_new_session=True, env=env)
    try:
        wait_port(mqtt_port)
        wait_port(http)
        yield Central(up, data, http, mqtt_port)
    finally:
        kids = list(psutil.Process(up.pid).children(recursive=True))
        os.killpg(up.pid, signal.SIGTERM)  # its own session: the supervisor and the children it started
        try:
            up.wait(20)
        except subprocess.TimeoutExpired:
            up.kill()
        _, alive = psutil.wait_procs(kids, timeout=10)
        for p in alive:  # a child still busy with a write: end it by PID
            p.kill()
        if not keep:
            shutil.rmtree(data, ignore_errors=True)


def central_processes(up: subprocess.Popen) -> dict[str, psutil.Process]:
    root = psutil.Process(up.pid)
    found = {"server": root}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(found) < 3:
        for c in root.children(recursive=True):
            cmd = " ".join(c.cmdline())
            if "nats-server" in cmd:
                found["nats-server"] = c
            elif "tagpipe worker" in cmd:
                found["worker"] = c
        time.sleep(0.2)
    return found


def count_rows(db: Path, since_ms: int = 0) -> int:
    """Values from ``since_ms`` on (the run's; older ones are --prefill's), merged or waiting for the merge (a
    redelivery waiting there counts twice)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT (SELECT COUNT(*) FROM samples WHERE ts >= ?) + "
                           "(SELECT COUNT(*) FROM samples_hot WHERE ts >= ?)", (since_ms, since_ms)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def run_publishers(args: argparse.Namespace, port: int, tags: int, edges: int,
                   creds: dict[int, str] | None = None) -> tuple[int, int, float, float, float]:
    """(sent, acknowledged, start time, time of the last acknowledgement, publishers' CPU seconds)."""
    out: mp.Queue = mp.Queue()
    start_at = time.time() + 1.0 + (edges / 200 if creds else 0)  # every edge logs in first
    procs = [mp.Process(target=publisher, args=(i, args.publishers, port, edges, tags, args.rate / args.publishers,
                                                 args.seconds, args.qos, start_at, out, args.client, 1000, creds))
             for i in range(args.publishers)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return (sum(r[0] for r in results), sum(r[1] for r in results), start_at, max(r[2] for r in results),
            sum(r[3] for r in results))


def collectors(http: int, edges: int) -> dict[int, str]:
    """Add edges 0..N-1 as collectors (each with its own MQTT user and password) through the API."""
    import httpx

    out = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{http}", timeout=30) as c:
        for e in range(edges):
            r = c.post("/api/fleet/devices", json={"id": f"edge-{e}", "kind": "collector"})
            r.raise_for_status()
            out[e] = r.json()["token"]
    return out


def prefill(args: argparse.Namespace, port: int, db: Path, tags: int, edges: int, creds: dict[int, str]) -> None:
    """Store ``--prefill`` values before the run: one message per edge creates the run's tags, then a 1 Hz history
    of them ending 3 hours ago goes in through the bulk path (into compressed blocks, as hours that are over are)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from tagpipe.db import make_engine
    from tagpipe.history.bulk import write_series

    names = ["temperature", "pressure", "humidity"] if tags == 3 else [f"v{n}" for n in range(tags)]
    for e in range(edges):
        client = RawMqtt(port, f"edge-{e}", f"edge-{e}", creds[e]) if creds.get(e) else RawMqtt(port, f"p-{e}")
        body = {"timestamp": iso(int(time.time() * 1000) - 10_800_000), "equipment_id": 4, "connection_id": 1,
                "tags": dict.fromkeys(names, 0.0)}
        client.publish(f"tagpipe/devices/edge-{e}/data".encode(), json.dumps(body).encode(), 1)
        client.flush()
        deadline = time.monotonic() + 10
        while not client.acked and time.monotonic() < deadline:
            time.sleep(0.01)
        client.sock.shutdown(socket.SHUT_RDWR)  # its reader thread sees the end and stops (a close races its recv)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    ids: list[int] = []
    deadline = time.monotonic() + 120
    while len(ids) < tags * edges and time.monotonic() < deadline:
        time.sleep(0.2)
        ids = [r[0] for r in con.execute("SELECT id FROM tags WHERE source = 'collector' ORDER BY id")]
    con.close()
    per_tag = max(1, args.prefill // max(1, len(ids)))
    end = (int(time.time() * 1000) - 3 * 3_600_000) // 1000 * 1000 - 3_600_000
    engine = make_engine(f"sqlite:///{db}")
    t0, done = time.monotonic(), 0
    for i in range(0, len(ids), max(1, 2_000_000 // per_tag)):
        chunk = ids[i:i + max(1, 2_000_000 // per_tag)]
        done += write_series(engine, {t: [(end - (per_tag - k) * 1000, round(20 + (k % 600) / 10, 1))
                                          for k in range(per_tag)] for t in chunk})
        print(f"\rprefill    {done:,} of {per_tag * len(ids):,} values", end="", flush=True)
    engine.dispose()
    print(f"\rprefill    {done:,} values ({len(ids)} tags x {per_tag:,}) stored in {time.monotonic() - t0:.0f} s")


def mqtt_only(args: argparse.Namespace) -> None:
    """nats-server alone (JetStream stream on the topics, nothing consuming): how fast MQTT publishes are taken."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import asyncio

    from tagpipe.bus import EmbeddedNats, connect, ensure_stream
    from tagpipe.contracts import Subjects

    tags, edges = WORKLOADS[args.workload]
    edges = args.edges or edges
    with tempfile.TemporaryDirectory() as d, EmbeddedNats(Path(d), port=free_port(), mqtt_port=free_port()) as n:
        async def stream() -> None:
            nc = await connect(n.url, "bench")
            await ensure_stream(nc.jetstream(), Subjects("tagpipe"))
            await nc.close()
        asyncio.run(stream())
        proc = psutil.Process(n.process.pid)  # type: ignore[union-attr]
        cpu0 = sum(proc.cpu_times()[:2])
        creds = dict.fromkeys(range(edges), "") if args.per_edge else None  # the server asks for no password
        sent, acked, start, last, pub_cpu = run_publishers(args, n.mqtt_port, tags, edges, creds)  # type: ignore[arg-type]
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        took = last - start
        print(f"nats-server MQTT only, QoS {args.qos}, {args.publishers} publishers, workload {args.workload}, "
              f"{'a connection per edge' if args.per_edge else 'a connection per publisher'}: "
              f"offered {args.rate:.0f} msg/s; {acked} of {sent} acknowledged in {took:.1f} s "
              f"= {acked / took:.0f} msg/s; "
              f"nats-server CPU {100 * cpu / took:.0f}% of a core, RSS {proc.memory_info().rss / 2**20:.0f} MB; "
              f"publishers CPU {100 * pub_cpu / took:.0f}% of a core")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), default="a",
                    help="a: 3 values x 1,000 edges; b: 100 values x 100 edges")
    ap.add_argument("--edges", type=int, default=None,
                    help="distinct edges (default: a 1,000, b 100); distinct tags = edges x values per message")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=None, help="offered messages/s in total (default: a 10,000, b 1,000)")
    ap.add_argument("--publishers", type=int, default=2, help="publisher processes")
    ap.add_argument("--qos", type=int, choices=(0, 1), default=1)
    ap.add_argument("--client", choices=("raw", "paho"), default="raw",
                    help="raw: minimal MQTT 3.1.1 publisher on a socket (cheap); paho: paho-mqtt")
    ap.add_argument("--mqtt-only", action="store_true",
                    help="measure nats-server's MQTT listener with nothing consuming")
    ap.add_argument("--per-edge", action="store_true",
                    help="--mqtt-only: one (anonymous) connection per edge, as per-edge credentials require")
    ap.add_argument("--anonymous", action="store_true",
                    help="a connection per edge with no credentials: against a version without bus auth, to weigh "
                         "per-edge connections apart from auth")
    ap.add_argument("--keep", action="store_true", help="keep the data directory (and up.log) after the run")
    ap.add_argument("--tags", type=int, default=None,
                    help="distinct tags, 100 values per message (edges = tags / 100; overrides --workload)")
    ap.add_argument("--prefill", type=int, default=0,
                    help="values stored before the run (1 Hz history of the run's tags ending 3 hours ago, in bulk)")
    args = ap.parse_args()
    if args.tags:
        args.workload, args.edges = "b", max(1, args.tags // 100)
    tags, edges = WORKLOADS[args.workload]
    edges = args.edges or edges
    args.rate = args.rate or (10_000 if args.workload == "a" else 1_000)
    if args.mqtt_only:
        return mqtt_only(args)

    with tagpipe_up("tagpipe-bench-", keep=args.keep) as (up, data, http, mqtt_port):
        procs = central_processes(up)
        creds = dict.fromkeys(range(edges), "") if args.anonymous else collectors(http, edges)
        db = data / "tagpipe.db"
        if args.prefill:
            prefill(args, mqtt_port, db, tags, edges, creds)
        sampler = Sampler(db, list(range(0, edges, max(1, edges // 10))))
        monitor = Monitor(procs)
        sampler.start()
        monitor.start()
        t_start = time.time()
        since = int(t_start * 1000) - 1000
        sent, acked, start_at, last_ack, pub_cpu = run_publishers(args, mqtt_port, tags, edges, creds)
        window_end = start_at + args.seconds
        stored_in_window = count_rows(db, since)
        backlog_at_end = acked * tags - stored_in_window
        drained = time.time()
        while count_rows(db, since) < acked * tags and time.time() - drained < 120:
            time.sleep(0.25)
        stored = count_rows(db, since)
        drain_s = time.time() - max(window_end, t_start)
        time.sleep(0.3)
        sampler.stop.set()
        monitor.stop.set()
        monitor.join()
    lat = sampler.latencies
    span = args.seconds
    print(f"\nworkload {args.workload}: {tags} tag values/message, {edges} edges, QoS {args.qos}, "
          f"{args.publishers} publisher processes, offered {args.rate:.0f} msg/s for {span:.0f} s")
    print(f"published  {sent} messages, {acked} acknowledged by the broker, the last {last_ack - start_at:.1f} s after "
          f"the start: {acked / (last_ack - start_at):.0f} msg/s accepted; publishers' CPU "
          f"{100 * pub_cpu / (last_ack - start_at):.0f}% of a core")
    print(f"stored     {stored // tags} messages, {stored} tag values; lost {acked * tags - stored} values "
          f"(acknowledged but not stored)")
    print(f"throughput {stored_in_window / tags / span:.0f} msg/s, {stored_in_window / span:.0f} values/s stored "
          f"within the window; backlog at its end {max(0, backlog_at_end) // tags} messages, "
          f"all stored {max(0.0, drain_s):.1f} s after the last publish")
    print(f"latency    publish -> queryable: p50 {pct(lat, 0.5) * 1000:.0f} ms, p99 {pct(lat, 0.99) * 1000:.0f} ms, "
          f"max {max(lat, default=float('nan')) * 1000:.0f} ms ({len(lat)} samples)")
    total_cpu = total_rss = 0.0
    for n in ("nats-server", "worker", "server"):
        if n in procs:
            cpu = (monitor.cpu1[n] - monitor.cpu0[n]) / (span + max(0.0, drain_s))
            total_cpu += cpu
            total_rss += monitor.peak[n]
            print(f"  {n:12s} CPU {100 * cpu:5.0f}% of a core   peak RSS {monitor.peak[n] / 2**20:6.0f} MB")
    print(f"  {'total':12s} CPU {100 * total_cpu:5.0f}% of a core   peak RSS {total_rss / 2**20:6.0f} MB "
          "(sum of peaks)")
    print(f"  whole tagpipe up (with the sandbox's workers): peak RSS {monitor.tree_peak / 2**20:.0f} MB")
    if lat:
        print(f"  mean latency {statistics.fmean(lat) * 1000:.0f} ms")
    print(json.dumps({"tags": tags * edges, "values_per_s": round(stored_in_window / span),
                      "p99_ms": round(pct(lat, 0.99) * 1000), "rss_mb": round(monitor.tree_peak / 2**20),
                      "lost": acked * tags - stored, "prefill": args.prefill}))


if __name__ == "__main__":
    main()
