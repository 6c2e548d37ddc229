"""Dialect-specific INSERT ... ON CONFLICT, for the idempotent writes of SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite


def insert_for(engine_or_dialect: Engine | str, table: Any) -> Any:
    name = engine_or_dialect if isinstance(engine_or_dialect, str) else engine_or_dialect.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
