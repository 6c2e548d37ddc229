"""``tagpipe db copy``: an installation written through the real code, copied SQLite -> PostgreSQL -> SQLite, compared
table by table; an interrupted copy resumes without duplicates; bad input is refused with a message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect, select, text
from sqlalchemy.orm import Session

from tagpipe.auth import users
from tagpipe.auth.audit import record
from tagpipe.contracts import DataPayload, Heartbeat
from tagpipe.db import make_engine, upgrade
from tagpipe.db.copy import COPYING, PROGRESS, CopyError, Listener, copy_database, head_revision
from tagpipe.db.migrate import migrate
from tagpipe.fleet import service as fleet
from tagpipe.fleet.models import Edge
from tagpipe.history.bulk import write_series
from tagpipe.history.merge import merge_all
from tagpipe.history.store import IngestStore
from tagpipe.plant import service as plant
from tagpipe.plant.schemas import ConnectionIn, EquipmentIn
from tagpipe.schema import metadata
from tagpipe.scripts import service as scripts
from tagpipe.scripts.schemas import ScriptIn
from tests.helpers import wait_until

HOUR = 3_600_000
NOW = 1_776_000_000_000 - 1_776_000_000_000 % HOUR
ODD = "Ω ü 漢字 🙂 'quote' \"double\" \\ \t\n"


def populate(url: str, *, samples: int = 600, old_hours: int = 3) -> None:
    """An installation as the real code writes it: users, plant, a script, ingest and bulk history."""
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        users.create_user(s, "alice", "admin", "a long enough password")
        users.create_user(s, "bobΩ漢字🙂", "viewer", "another long password")
        record(s, principal="cli (test)", action="user add", target="alice", detail={"why": ODD, "n": -0.0})
        eq = plant.create_equipment(s, EquipmentIn(name="Press 1", description=ODD))
        plant.create_connection(s, ConnectionIn(equipment_id=eq.id, edge_id="edge-1", name="PLC",
                                                protocol="simulator", settings={"seed": 7}))
        scripts.create_script(s, ScriptIn(name="double", hook_type="transform", code="value = value * 2\n"))
        # Text keys that sort differently by code point and by a language's collation.
        for edge_id in ("edge-a", "Edge-B", "édge-c", "edge_d"):
            s.add(Edge(id=edge_id, admission="approved"))
            s.flush()
            fleet.record_heartbeat(s, edge_id, Heartbeat(cpu_percent=12.5, devices={"plc": {"ok": True}}))
            fleet.new_command(s, edge_id, "ping", {"n": 1}, command_id=f"{edge_id}-Z")
    store = IngestStore(engine)
    store.write([DataPayload(edge_id="edge-1", connection_id="1", ts=NOW - HOUR + i * 1000,
                             tags={"temperature": 20.0 + i / 7, "zero": -0.0, "big": 2**53 + i, "on": i % 2 == 0,
                                   "text": f"{ODD}{i}"},
                             quality={"temperature": "bad"} if i % 50 == 0 else {})
                 for i in range(samples)])
    merge_all(engine)
    with engine.connect() as c:
        tag = c.execute(text("SELECT id FROM tags WHERE name = 'temperature'")).scalar_one()
    write_series(engine, {tag: [(NOW - (old_hours + 2) * HOUR + i * 10_000, (i % 97) * 0.1 - 3.3)
                                for i in range(old_hours * 360)]}, now_ms=NOW)
    engine.dispose()


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every table of the installation, in key order, as Python values (floats compared by repr)."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return {t.name: [tuple(repr(v) if isinstance(v, float) else v for v in row)
                             for row in c.execute(select(t).order_by(*t.primary_key.columns))]
                    for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'tagpipe.db'}"
    populate(url)
    return url


def test_the_installation_has_rows_in_every_big_table(installation: str) -> None:
    rows = dump(installation)
    for table in ("users", "audit_log", "equipment", "connections", "tags", "scripts", "script_versions", "samples",
                  "sample_blocks", "latest", "rollup_1m", "rollup_1h", "edges", "edge_metrics", "edge_commands"):
        assert rows[table], table


def test_sqlite_to_postgresql_and_back_keeps_every_row_bit_for_bit(installation: str, postgres_db: str,
                                                                   tmp_path: Path) -> None:
    report = copy_database(installation, postgres_db, metadata, batch=97)
    assert all(c.equal for c in report.checks) and not report.resumed
    source = dump(installation)
    assert dump(postgres_db) == source
    assert PROGRESS not in tables(postgres_db)
    back = f"sqlite:///{tmp_path / 'back.db'}"
    copy_database(postgres_db, back, metadata, batch=1000)
    assert dump(back) == source
    assert report.copied["samples"] == len(source["samples"])


def test_postgresql_sequences_continue_after_the_copied_ids(installation: str, postgres_db: str) -> None:
    copy_database(installation, postgres_db, metadata)
    engine = make_engine(postgres_db)
    with Session(engine) as s:
        carol = users.create_user(s, "carol", "viewer", "a third long password")
        eq = plant.create_equipment(s, EquipmentIn(name="Press 2"))
        assert carol.id > 2 and eq.id == 2
    engine.dispose()


def test_sqlite_keeps_ids_of_deleted_rows_unused(tmp_path: Path, postgres_db: str) -> None:
    """SQLite AUTOINCREMENT never gives a deleted tag's id again; nor does the copy, either way."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    populate(source, samples=5, old_hours=1)
    engine = make_engine(source)
    with Session(engine) as s:
        plant.create_equipment(s, EquipmentIn(name="gone"))
        s.execute(text("DELETE FROM equipment WHERE name = 'gone'"))
        s.commit()
    engine.dispose()
    copy_database(source, postgres_db, metadata)
    back = f"sqlite:///{tmp_path / 'back.db'}"
    copy_database(postgres_db, back, metadata)
    for url in (postgres_db, back):
        engine = make_engine(url)
        with Session(engine) as s:
            assert plant.create_equipment(s, EquipmentIn(name="new")).id == 3, url
        engine.dispose()


class Stop(Listener):
    """Interrupts the copy (or the comparison) after ``after`` batches of ``table``."""

    def __init__(self, table: str, after: int, phase: str = "copy") -> None:
        self.table, self.after, self.phase, self.current = table, after, phase, ""

    def begin(self, phase: str, table: str, total: int, done: int) -> None:
        self.current = f"{phase} {table}"

    def advance(self, rows: int) -> None:
        if self.current == f"{self.phase} {self.table}":
            self.after -= 1
            if self.after == 0:
                raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["users", "samples", "rollup_1m"])
def test_an_interrupted_copy_continues_without_duplicates(installation: str, postgres_db: str, where: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        copy_database(installation, postgres_db, metadata, batch=1 if where == "users" else 100,
                      listener=Stop(where, 2))
    engine = make_engine(postgres_db)
    with engine.connect() as c:
        state = dict(c.execute(text(f"SELECT table_name, state FROM {PROGRESS}")).tuples().all())
        copied = c.execute(text(f"SELECT COUNT(*) FROM {where}")).scalar()
    engine.dispose()
    assert state[where] == "copying" and copied == (2 if where == "users" else 200)
    finished = [t.name for t in metadata.sorted_tables[:metadata.sorted_tables.index(metadata.tables[where])]]
    assert all(state[t] == "done" for t in finished)
    report = copy_database(installation, postgres_db, metadata, batch=100)
    assert report.resumed and all(c.equal for c in report.checks)
    assert report.copied[where] == len(dump(installation)[where]) - copied  # only what was missing
    assert all(report.copied[t] == 0 for t in finished)
    assert dump(postgres_db) == dump(installation)
    assert PROGRESS not in tables(postgres_db)


def test_a_copy_interrupted_while_comparing_only_compares_again(installation: str, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    with pytest.raises(KeyboardInterrupt):
        copy_database(installation, target, metadata, listener=Stop("samples", 1, phase="check"))
    report = copy_database(installation, target, metadata)
    assert report.resumed and not any(report.copied.values())
    assert all(c.equal for c in report.checks) and PROGRESS not in tables(target)


def test_a_target_that_goes_away_is_said_and_the_copy_resumes(installation: str, postgres_db: str) -> None:
    """The target's connections are cut every millisecond or so, as by restarts, while samples are copied: a cut
    between batches passes unseen (a new connection for the next one), one inside a batch ends the copy with a
    message to run it again; runs again complete it, nothing twice, nothing missing."""
    said: list[str] = []
    admin = make_engine(postgres_db)
    stop = threading.Event()

    def cut() -> None:
        while not stop.wait(0.001):
            with admin.connect() as c:
                c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND pid <> pg_backend_pid() AND query LIKE 'COPY samples%'"))
                c.commit()

    cutter = threading.Thread(target=cut)
    cutter.start()
    try:
        for _ in range(50):
            try:
                copy_database(installation, postgres_db, metadata, batch=20)  # many COPYs: a cut lands in one
                break
            except CopyError as e:
                said.append(str(e))
    finally:
        stop.set()
        cutter.join()
        admin.dispose()
    assert said and all("went away while copying samples" in m and "run the same command again" in m for m in said)
    assert dump(postgres_db) == dump(installation)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_stopped_command_resumes_through_the_real_entry_point(installation: str, postgres_db: str,
                                                                how: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    command = [sys.executable, "-m", "tagpipe", "db", "copy", "--from", installation, "--to", postgres_db]
    # Ctrl-C as a terminal delivers it: a test run started in the background (``make test &``) ignores SIGINT, and
    # a child would inherit that.
    proc = subprocess.Popen([*command, "--batch", "10"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    engine = make_engine(postgres_db)

    def samples_under_way() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the copy ended before it was killed: {proc.stderr.read()!r}")  # type: ignore[union-attr]
        if PROGRESS not in inspect(engine).get_table_names():
            return False
        with engine.connect() as c:  # begun and not done: stopped now, the command has work left to resume
            return (c.execute(text(f"SELECT copied FROM {PROGRESS} WHERE table_name = 'samples' "
                                   f"AND state = '{COPYING}'")).scalar() or 0) > 0

    try:
        wait_until(samples_under_way, timeout=60, interval=0.01, what="the copy of samples under way")
    finally:
        os.kill(proc.pid, how)  # SIGINT is Ctrl-C
        proc.wait(timeout=30)
    engine.dispose()
    if how == signal.SIGINT:
        assert proc.returncode == 130
        assert "run the same command again to continue" in proc.stdout.read()  # type: ignore[union-attr]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resumed" in done.stdout and "equal" in done.stdout
    assert dump(postgres_db) == dump(installation)


def test_a_target_holding_other_data_is_refused(installation: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(other)
    engine = make_engine(other)
    with Session(engine) as s:
        users.create_user(s, "mallory", "admin", "a long enough password")
    engine.dispose()
    with pytest.raises(CopyError, match="table users has rows"):
        copy_database(installation, other, metadata)
    assert [r[0] for r in dump(other)["users"]] == [1]
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    populate(elsewhere, samples=3, old_hours=1)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    with pytest.raises(KeyboardInterrupt):
        copy_database(installation, target, metadata, batch=1, listener=Stop("users", 1))
    with pytest.raises(CopyError, match="unfinished copy of"):
        copy_database(elsewhere, target, metadata)


def test_a_row_the_target_refuses_is_named(tmp_path: Path, postgres_db: str) -> None:
    """SQLite keeps a text longer than its column allows; PostgreSQL refuses it, and the copy says where."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    populate(source, samples=3, old_hours=1)
    engine = make_engine(source)
    with engine.begin() as c:
        c.execute(text("UPDATE users SET username = :long WHERE id = 2"), {"long": "x" * 200})
    engine.dispose()
    with pytest.raises(CopyError, match=r"copying users failed: value too long for type character varying\(120\)"):
        copy_database(source, postgres_db, metadata)


def test_a_source_that_is_not_at_this_version_is_refused(tmp_path: Path) -> None:
    old = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(old, "0008_edge_auth")
    with pytest.raises(CopyError, match=f"revision 0008_edge_auth, this tagpipe's schema is {head_revision()}: "
                                        "run `tagpipe migrate`"):
        copy_database(old, f"sqlite:///{tmp_path / 'new.db'}", metadata)


def test_a_difference_is_found_reported_and_copied_again(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    populate(source, samples=20, old_hours=1)
    target = f"sqlite:///{tmp_path / 'target.db'}"

    class Meddle(Listener):
        """Changes a copied user in the target, as a writer would the source, before the comparison."""

        def begin(self, phase: str, table: str, total: int, done: int) -> None:
            if (phase, table) == ("check", "users"):
                engine = make_engine(target)
                with engine.begin() as c:
                    c.execute(text("UPDATE users SET role = 'admin' WHERE username = 'alice'"))
                    c.execute(text("UPDATE users SET disabled = true WHERE id = 2"))
                engine.dispose()

    report = copy_database(source, target, metadata, listener=Meddle())
    wrong = {c.table: c.difference for c in report.checks if not c.equal}
    assert wrong == {"users": "rows 1..2 (in key order) differ"}
    assert PROGRESS in tables(target)
    again = copy_database(source, target, metadata)
    assert all(c.equal for c in again.checks) and again.copied["users"] == 2
    assert again.copied["auth_sessions"] == 0 and again.copied["samples"] == 0
    assert dump(target) == dump(source)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    return subprocess.run([sys.executable, "-m", "tagpipe", "db", "copy", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "not a url", "--to", "sqlite:///x.db"], "--from: 'not a url' is not a database URL; expected sqlite"),
    (["--from", "SOURCE", "--to", "mysql://h/db"], "--to: mysql is not supported"),
    (["--from", "sqlite:////nowhere/tagpipe.db", "--to", "sqlite:///x.db"], "no SQLite database at /nowhere"),
    (["--from", "SOURCE", "--to", "postgresql://nobody@127.0.0.1:1/db"], "--to: cannot reach"),
    (["--from", "EMPTY", "--to", "sqlite:///x.db"], "is not a tagpipe database: expected the tables"),
])
def test_bad_input_is_said_without_a_traceback(installation: str, tmp_path: Path, args: list[str],
                                              message: str) -> None:
    empty = tmp_path / "empty.db"
    MetaData().create_all(make_engine(f"sqlite:///{empty}"))
    subs = {"SOURCE": installation, "EMPTY": f"sqlite:///{empty}"}
    done = _cli(*[subs.get(a, a.replace("x.db", str(tmp_path / "x.db"))) for a in args])
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1 and message in out, out
    assert "Traceback" not in out


def test_a_finished_copy_leaves_no_bookkeeping_behind(installation: str, tmp_path: Path) -> None:
    """The bookkeeping table goes once the copy is complete: the target has the source's tables, no more."""
    target = f"sqlite:///{tmp_path / 'target.db'}"
    copy_database(installation, target, metadata)
    assert tables(target) == tables(installation)


def test_a_target_of_a_newer_tagpipe_is_refused(installation: str, tmp_path: Path) -> None:
    newer = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(newer)
    engine = make_engine(newer)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(CopyError, match=r"migrating the target's schema failed: .*9999_future"):
        copy_database(installation, newer, metadata)
