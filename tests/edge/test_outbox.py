"""The outbox keeps payloads in order until acknowledged, bounded by row count and age, and counts what it drops."""

from __future__ import annotations

import time
from pathlib import Path

from tagpipe.edge.outbox import Outbox


def test_entries_leave_in_arrival_order_and_only_when_removed(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for i in range(5):
        box.append("data", f"m{i}", f"p{i}".encode())
    assert [e.payload for e in box.peek(3)] == [b"p0", b"p1", b"p2"]
    box.remove(box.peek(1)[0].seq)
    assert [e.msg_id for e in box.peek()] == ["m1", "m2", "m3", "m4"] and box.depth == 4


def test_the_outbox_survives_a_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.append("data", "a", b"1")
    box.append("alarms", "b", b"2")
    box.close()
    again = Outbox(tmp_path / "o.db")
    assert again.depth == 2 and [(e.kind, e.payload) for e in again.peek()] == [("data", b"1"), ("alarms", b"2")]


def test_the_row_cap_drops_the_oldest_first_and_counts_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_rows=3)
    for i in range(5):
        box.append("data", str(i), str(i).encode())
    assert [e.payload for e in box.peek()] == [b"2", b"3", b"4"]
    assert box.dropped == 2 and box.depth == 3


def test_entries_older_than_the_retention_expire(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", retention_days=1)
    box.append("data", "old", b"old")
    box._db.execute("UPDATE outbox SET created = ?", (time.time() - 2 * 86400,))
    box.append("data", "new", b"new")
    assert box.expire() == 1
    assert [e.payload for e in box.peek()] == [b"new"] and box.dropped == 1


def test_acknowledged_but_unconfirmed_entries_are_sent_again_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for i in range(4):
        box.append("data", str(i), str(i).encode())
    for e in box.peek(2):
        box.mark_sent(e.seq)
    assert [e.payload for e in box.peek()] == [b"2", b"3"] and box.depth == 2
    assert box.resend_unconfirmed() == 2
    assert [e.payload for e in box.peek()] == [b"0", b"1", b"2", b"3"] and box.depth == 4


def test_unconfirmed_entries_are_forgotten_after_the_grace_period_and_never_count_as_dropped(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", retention_days=1)
    box.append("data", "a", b"a")
    box.append("data", "b", b"b")
    box.mark_sent(box.peek(1)[0].seq)
    box._db.execute("UPDATE outbox SET created = ?", (time.time() - 2 * 86400,))
    assert box.expire() == 1 and box.dropped == 1  # only the unsent one expired
    box.forget_sent(0)
    assert box.resend_unconfirmed() == 0 and box.peek() == []
