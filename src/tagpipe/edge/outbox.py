"""Store and forward: every payload is written here before it is sent and removed only once acknowledged."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    kind: str
    msg_id: str
    payload: bytes


class Outbox:
    """A SQLite queue in arrival order, bounded by age and row count (oldest dropped first, counted).

    A broker that acknowledges before it has stored (NATS's MQTT listener) can lose what it acknowledged when it
    stops; for such a transport entries are only marked sent, kept for a grace period, and sent again after a
    reconnect. Ingest de-duplicates by (tag, timestamp), so a resend never stores a value twice.
    """

    def __init__(self, path: Path, *, max_rows: int = 1_000_000, retention_days: float = 7.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.retention_days = retention_days
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "kind TEXT NOT NULL, msg_id TEXT NOT NULL, payload BLOB NOT NULL, created REAL NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        if "sent_at" not in {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}:
            self._db.execute("ALTER TABLE outbox ADD COLUMN sent_at REAL")
        self.depth = self._db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]

    @property
    def dropped(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        return row[0] if row else 0

    def _count_dropped(self, n: int) -> None:
        if n:
            self._db.execute("INSERT INTO meta VALUES ('dropped', ?) ON CONFLICT(key) DO UPDATE SET value = value + ?",
                             (n, n))
            self.depth -= n

    def append(self, kind: str, msg_id: str, payload: bytes) -> None:
        self._db.execute("INSERT INTO outbox (kind, msg_id, payload, created) VALUES (?, ?, ?, ?)",
                         (kind, msg_id, payload, time.time()))
        self.depth += 1
        if self.depth > self.max_rows:
            cur = self._db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL "
                                   "ORDER BY seq LIMIT ?)",
                                   (self.depth - self.max_rows,))
            self._count_dropped(cur.rowcount)

    def expire(self) -> int:
        """Drop what is older than the retention; returns how many."""
        cutoff = time.time() - self.retention_days * 86400
        n = self._db.execute("DELETE FROM outbox WHERE created < ? AND sent_at IS NULL", (cutoff,)).rowcount
        self._count_dropped(n)
        return n

    def peek(self, limit: int = 100) -> list[Entry]:
        rows = self._db.execute("SELECT seq, kind, msg_id, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq "
                                "LIMIT ?", (limit,))
        return [Entry(*r) for r in rows]

    def remove(self, seq: int) -> None:
        """The broker stored the entry: it is done."""
        self.depth -= self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount

    def mark_sent(self, seq: int) -> None:
        """The broker acknowledged the entry but may not have stored it yet: keep it for a resend."""
        self.depth -= self._db.execute("UPDATE outbox SET sent_at = ? WHERE seq = ?", (time.time(), seq)).rowcount

    def forget_sent(self, grace_s: float) -> None:
        self._db.execute("DELETE FROM outbox WHERE sent_at < ?", (time.time() - grace_s,))

    def resend_unconfirmed(self) -> int:
        """Queue again, in their original order, the entries acknowledged within the grace period."""
        n = self._db.execute("UPDATE outbox SET sent_at = NULL WHERE sent_at IS NOT NULL").rowcount
        self.depth += n
        return n

    def close(self) -> None:
        self._db.close()
