"""Reading the audit log: filters, pages of entries (newest first) and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tagpipe.auth.models import AuditEntry

CSV_COLUMNS = ("id", "at", "principal", "role", "address", "action", "target", "status", "detail")


@dataclass(frozen=True, kw_only=True)
class AuditFilter:
    principal: str | None = None  # contains
    action: str | None = None  # contains
    target: str | None = None  # contains
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    outcome: str | None = None  # ok (2xx/3xx) or refused (4xx/5xx)

    def apply(self, q: Select[tuple[AuditEntry]]) -> Select[tuple[AuditEntry]]:
        for column, text in ((AuditEntry.principal, self.principal), (AuditEntry.action, self.action),
                             (AuditEntry.target, self.target)):
            if text:
                q = q.where(column.contains(text, autoescape=True))
        if self.since:
            q = q.where(AuditEntry.at >= _naive(self.since))
        if self.until:
            q = q.where(AuditEntry.at < _naive(self.until))
        if self.outcome == "ok":
            q = q.where(AuditEntry.status < 400)
        elif self.outcome == "refused":
            q = q.where(AuditEntry.status >= 400)
        return q


def _naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def entries(session: Session, f: AuditFilter, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
    q = f.apply(select(AuditEntry))
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    return list(session.scalars(q.order_by(AuditEntry.id.desc()).limit(limit)))


def csv_rows(session: Session, f: AuditFilter) -> Iterator[str]:
    """The whole filtered log as CSV text, oldest first, a few hundred rows per chunk."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    q = f.apply(select(AuditEntry)).order_by(AuditEntry.id).execution_options(yield_per=500)
    for n, e in enumerate(session.scalars(q), 1):
        w.writerow([e.id, e.at.isoformat() + "Z", e.principal, e.role, e.address, e.action, e.target, e.status,
                    json.dumps(e.detail, ensure_ascii=False, sort_keys=True)])
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
