"""The idempotent batch writer: samples, latest values and rollups of a batch in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, case, select
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.db.upsert import insert_for
from tagpipe.history.ingest import DataMessage, encode_value
from tagpipe.history.models import GOOD, IngestReject, Latest, Rollup1h, Rollup1m, Sample
from tagpipe.history.rollup import HOUR_MS, MINUTE_MS, aggregate

log = logging.getLogger(__name__)
Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class WriteResult:
    messages: int
    values: int
    inserted: int


class IngestStore:
    """Writes batches of data messages; a redelivered message never makes a duplicate row or double-counts a rollup."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._keys: dict[Key, int] = {}

    def _resolve(self, session: Session, messages: Sequence[DataMessage]) -> dict[Key, int]:
        wanted = {(m.edge_id, m.connection, name): value for m in messages for name, value in m.tags.items()}
        missing = [k for k in wanted if k not in self._keys]
        if missing:
            self._keys = plant.tag_key_map(session)
            missing = [k for k in missing if k not in self._keys]
            if missing:
                plant.discover_tags(session, missing, wanted)
                self._keys = plant.tag_key_map(session)
        return self._keys

    def write(self, messages: Sequence[DataMessage]) -> WriteResult:
        if not messages:
            return WriteResult(0, 0, 0)
        with Session(self.engine) as session, session.begin():
            keys = self._resolve(session, messages)
            rows, latest = [], {}
            for m in messages:
                for name, raw in m.tags.items():
                    tag_id = keys[(m.edge_id, m.connection, name)]
                    value, text, quality, exact = encode_value(raw, m.quality.get(name))
                    rows.append({"tag_id": tag_id, "ts": m.ts, "value": value, "text": text, "quality": quality})
                    prev = latest.get(tag_id)
                    if prev is None or m.ts >= prev["ts"]:
                        latest[tag_id] = {"tag_id": tag_id, "ts": m.ts, "value_json": exact, "quality": quality}
            inserted = self._insert_samples(session, rows)
            numeric = [(t, ts, v) for t, ts, v, q in inserted if v is not None and q == GOOD]
            for table, width in ((Rollup1m, MINUTE_MS), (Rollup1h, HOUR_MS)):
                self._merge_rollups(session, table, aggregate(numeric, width))
            self._upsert_latest(session, list(latest.values()))
        return WriteResult(len(messages), len(rows), len(inserted))

    def _insert_samples(self, session: Session, rows: list[dict]) -> list[tuple[int, int, float | None, int]]:
        ins = insert_for(self.dialect, Sample).on_conflict_do_nothing(index_elements=["tag_id", "ts"])
        ins = ins.returning(Sample.tag_id, Sample.ts, Sample.value, Sample.quality)
        out: list[tuple[int, int, float | None, int]] = []
        for i in range(0, len(rows), 5000):
            out.extend(session.execute(ins, rows[i:i + 5000]).tuples())
        return out

    def _merge_rollups(self, session: Session, table: type[Rollup1m] | type[Rollup1h], aggs: dict) -> None:
        if not aggs:
            return
        rows = [{"tag_id": t, "bucket": b, "min": a.min, "max": a.max, "sum": a.sum, "count": a.count,
                 "last": a.last, "last_ts": a.last_ts} for (t, b), a in aggs.items()]
        ins = insert_for(self.dialect, table)
        ex = ins.excluded
        ins = ins.on_conflict_do_update(index_elements=["tag_id", "bucket"], set_={
            "min": case((ex.min < table.min, ex.min), else_=table.min),
            "max": case((ex.max > table.max, ex.max), else_=table.max),
            "sum": table.sum + ex.sum,
            "count": table.count + ex.count,
            "last": case((ex.last_ts >= table.last_ts, ex.last), else_=table.last),
            "last_ts": case((ex.last_ts >= table.last_ts, ex.last_ts), else_=table.last_ts),
        })
        session.execute(ins, rows)

    def _upsert_latest(self, session: Session, rows: list[dict]) -> None:
        if not rows:
            return
        ins = insert_for(self.dialect, Latest)
        ex = ins.excluded
        ins = ins.on_conflict_do_update(index_elements=["tag_id"], set_={
            "ts": ex.ts,
            "quality": ex.quality,
            "value_json": case((ex.quality == GOOD, ex.value_json), else_=Latest.value_json),
        }, where=ex.ts >= Latest.ts)
        session.execute(ins, rows)

    def reject(self, edge_id: str, reason: str, ts: int) -> None:
        """Count a message that was not stored, per edge, with the last reason."""
        with Session(self.engine) as session, session.begin():
            ins = insert_for(self.dialect, IngestReject).values(edge_id=edge_id, count=1, last_error=reason, last_ts=ts)
            ins = ins.on_conflict_do_update(index_elements=["edge_id"], set_={
                "count": IngestReject.count + 1, "last_error": reason, "last_ts": ts})
            session.execute(ins)

    def rejects(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return dict(session.execute(select(IngestReject.edge_id, IngestReject.count)).tuples())
