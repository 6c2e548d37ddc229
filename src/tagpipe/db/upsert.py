"""Dialect-specific INSERT ... ON CONFLICT, for the idempotent writes of SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine


def insert_for(engine_or_dialect: Engine | str, table: Any) -> Any:
    # Each dialect's module on first use: SQLAlchemy's PostgreSQL dialect costs every SQLite process ~2 MB.
    name = engine_or_dialect if isinstance(engine_or_dialect, str) else engine_or_dialect.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)
