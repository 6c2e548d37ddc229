"""Dead letters: messages a worker role could not handle, parked with the reason and the raw payload, counted per edge.

Infrastructure shared by every worker role: the bus consumer helper parks letters through ``DeadLetterStore``; the
API and pages read them with the functions below. Imports no feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Engine, Integer, LargeBinary, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tagpipe.db.base import Base
from tagpipe.db.upsert import insert_for

PAYLOAD_KEEP = 1024 * 1024  # bytes of a payload kept; a longer one is cut (payload_size says how long it was)


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_ms: Mapped[int] = mapped_column(BigInteger, doc="When the bus stored the message (epoch ms).")
    parked_ms: Mapped[int] = mapped_column(BigInteger, doc="When it was dead-lettered (epoch ms).")
    consumer: Mapped[str] = mapped_column(String(120), index=True, doc="The durable consumer (worker role).")
    edge_id: Mapped[str] = mapped_column(String(120), index=True)
    subject: Mapped[str] = mapped_column(String(400))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(Integer)
    stream_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)


class DeadLetterCount(Base):
    """Dead letters per consumer and edge since the start (kept when old letters are dropped)."""

    __tablename__ = "dead_letter_counts"

    consumer: Mapped[str] = mapped_column(String(120), primary_key=True)
    edge_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_reason: Mapped[str] = mapped_column(Text, default="")
    last_ms: Mapped[int] = mapped_column(BigInteger, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Letter:
    """One message to park."""

    consumer: str
    subject: str
    edge_id: str
    reason: str
    payload: bytes
    received_ms: int
    parked_ms: int
    stream_seq: int | None = None
    deliveries: int = 1


class DeadLetterStore:
    """Parks letters in one transaction each call, keeps the newest ``keep`` of them and counts every one per edge."""

    def __init__(self, engine: Engine, *, keep: int = 10_000) -> None:
        self.engine, self.keep = engine, keep

    def park(self, letters: Sequence[Letter]) -> None:
        if not letters:
            return
        with Session(self.engine) as session, session.begin():
            session.execute(insert_for(self.engine, DeadLetter), [{
                "received_ms": x.received_ms, "parked_ms": x.parked_ms, "consumer": x.consumer[:120],
                "edge_id": x.edge_id[:120], "subject": x.subject[:400], "reason": x.reason,
                "payload": x.payload[:PAYLOAD_KEEP], "payload_size": len(x.payload), "stream_seq": x.stream_seq,
                "deliveries": x.deliveries} for x in letters])
            for x in letters:
                ins = insert_for(self.engine, DeadLetterCount).values(consumer=x.consumer[:120],
                                                                      edge_id=x.edge_id[:120], count=1,
                                                                      last_reason=x.reason, last_ms=x.parked_ms)
                session.execute(ins.on_conflict_do_update(index_elements=["consumer", "edge_id"], set_={
                    "count": DeadLetterCount.count + 1, "last_reason": x.reason, "last_ms": x.parked_ms}))
            newest = session.scalar(select(func.max(DeadLetter.id))) or 0
            session.execute(delete(DeadLetter).where(DeadLetter.id <= newest - self.keep))


# -- reading, for the API and pages ---------------------------------------------------------------

def counts(session: Session, consumer: str | None = None) -> list[DeadLetterCount]:
    q = select(DeadLetterCount).order_by(DeadLetterCount.consumer, DeadLetterCount.edge_id)
    if consumer is not None:
        q = q.where(DeadLetterCount.consumer == consumer)
    return list(session.scalars(q))


def page(session: Session, *, offset: int = 0, limit: int = 50, consumer: str | None = None,
         edge_id: str | None = None) -> tuple[int, Sequence[Any]]:
    """(how many match, rows of the newest first from ``offset``): every column but the payload."""
    where = [c for c in (DeadLetter.consumer == consumer if consumer else None,
                         DeadLetter.edge_id == edge_id if edge_id else None) if c is not None]
    total = session.scalar(select(func.count()).select_from(DeadLetter).where(*where)) or 0
    rows = session.execute(select(DeadLetter.id, DeadLetter.received_ms, DeadLetter.parked_ms, DeadLetter.consumer,
                                  DeadLetter.edge_id, DeadLetter.subject, DeadLetter.reason, DeadLetter.payload_size,
                                  DeadLetter.stream_seq, DeadLetter.deliveries)
                           .where(*where).order_by(DeadLetter.id.desc()).offset(offset).limit(limit)).all()
    return total, rows


def get(session: Session, letter_id: int) -> DeadLetter | None:
    return session.get(DeadLetter, letter_id)


def remove(session: Session, letter_id: int) -> bool:
    with session.begin():
        result: Any = session.execute(delete(DeadLetter).where(DeadLetter.id == letter_id))
        return bool(result.rowcount)
