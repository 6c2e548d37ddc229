"""The declarative base every feature's tables derive from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


MAX_ID = 2**31 - 1
"""The largest id a table holds: ids are ``integer`` columns (32-bit on PostgreSQL). The API accepts any positive
64-bit id; one beyond this range cannot exist and is answered 404 without a query (see ``fits``)."""


def fits(id_: int) -> bool:
    """Whether ``id_`` can be a stored id (a query with a larger one fails on PostgreSQL instead of finding nothing)."""
    return 1 <= id_ <= MAX_ID


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)
