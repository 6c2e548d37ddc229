"""Time series: values as they arrive (``samples_hot``), raw samples keyed by (tag, timestamp), compressed blocks of
older samples, the latest value per tag, 1-minute and 1-hour rollups; retention policies and the disk measurements
growth is read from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Float, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tagpipe.db.base import Base, utcnow

GOOD, BAD = 0, 1
SHARDS = 256  # of samples_hot: a reader of one tag scans 1/SHARDS of what waits; a batch appends at SHARDS places


class Sample(Base):
    __tablename__ = "samples"
    # Clustered by (tag, time): one B-tree per insert, not two.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - read by SQLAlchemy, never mutated

    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, doc="Milliseconds since the epoch, UTC.")
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    quality: Mapped[int] = mapped_column(SmallInteger, default=GOOD)


class HotSample(Base):
    """A value as it arrived, before ``history.merge`` moves it into ``samples`` and the rollups: clustered by
    (shard, arrival), so a batch appends at ``SHARDS`` places however many tags it holds, while a reader of one tag
    scans one shard. A (tag, ts) may be here twice, or here and in ``samples``: the first stored wins."""

    __tablename__ = "samples_hot"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - read by SQLAlchemy, never mutated

    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, doc="tag_id % SHARDS")
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, doc="When the batch was written, µs.")
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


class RetentionPolicy(Base):
    """How long a scope keeps raw values and 1-minute rollups (None: forever; 1-hour rollups are kept forever).

    ``scope`` is ``default`` (``scope_id`` 0), ``equipment`` or ``tag`` (the equipment's or the tag's id); the most
    specific row wins (``history.policy``), and without a default row the built-in defaults apply."""

    __tablename__ = "retention_policies"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    raw_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rollup_1m_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class DiskMeasurement(Base):
    """The bytes the database used at a time, written by the retention worker: growth per day is read from them."""

    __tablename__ = "disk_measurements"

    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, doc="Milliseconds since the epoch, UTC.")
    used_bytes: Mapped[int] = mapped_column(BigInteger)
