"""Time series: raw samples keyed by (tag, timestamp), compressed blocks of older samples, the latest value per tag,
1-minute and 1-hour rollups."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tagpipe.db.base import Base

GOOD, BAD = 0, 1


class Sample(Base):
    __tablename__ = "samples"
    # Clustered by (tag, time): one B-tree per insert, not two.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - read by SQLAlchemy, never mutated

    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, doc="Milliseconds since the epoch, UTC.")
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    quality: Mapped[int] = mapped_column(SmallInteger, default=GOOD)


class SampleBlock(Base):
    """One tag's samples of one hour, compressed (``db.blocks``): what ``history.compact`` makes of samples
    once their hour is over and the next one too."""

    __tablename__ = "sample_blocks"

    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, doc="Start of the block's hour, ms UTC.")
    first_ts: Mapped[int] = mapped_column(BigInteger)
    last_ts: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Latest(Base):
    __tablename__ = "latest"

    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger)
    value_json: Mapped[str] = mapped_column(Text, doc="The exact value as JSON (keeps bool, int, str).")
    quality: Mapped[int] = mapped_column(SmallInteger, default=GOOD)


class _Rollup:
    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    sum: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
    last: Mapped[float] = mapped_column(Float)
    last_ts: Mapped[int] = mapped_column(BigInteger)


class Rollup1m(_Rollup, Base):
    __tablename__ = "rollup_1m"


class Rollup1h(_Rollup, Base):
    __tablename__ = "rollup_1h"



class TagCompression(Base):
    """A tag's lossy storage policy (``history.compression``); a tag without a row stores every value."""

    __tablename__ = "tag_compression"

    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), doc="deadband | swinging-door")
    deviation: Mapped[float] = mapped_column(Float, doc="In the tag's unit.")
    max_s: Mapped[int] = mapped_column(Integer, default=0, doc="A value is stored at least this often (0: no limit).")
