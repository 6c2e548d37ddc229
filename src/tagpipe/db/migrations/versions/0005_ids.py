"""ids are never reused; history of deleted tags goes

Revision ID: 0005_ids
Revises: 0003

SQLite reuses the largest rowid after a delete, so a new tag took a deleted tag's id and showed its samples. The
tables whose ids are exposed (equipment, connections, tags, scripts) are rebuilt with AUTOINCREMENT (batch mode; the
migration runs with foreign keys off, see ``db.migrate``), each sequence starting past every id still referenced by
stored history; PostgreSQL sequences never go back, so only the data part runs there. History left behind by tags
deleted before this revision (samples, latest values, rollups of tag ids no tag has) is deleted on both backends,
found by an index walk over the distinct tag ids, not a scan of every sample.
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_ids'
down_revision = '0004_ingest'
branch_labels = None
depends_on = None

HISTORY = ("samples", "latest", "rollup_1m", "rollup_1h")
REBUILT = ("equipment", "connections", "tags", "scripts")


def _distinct_tag_ids(conn: sa.Connection, table: str) -> list[int]:
    """Every tag id of ``table``, one index seek each (a loose index scan)."""
    ids: list[int] = []
    last = conn.execute(sa.text(f"SELECT MIN(tag_id) FROM {table}")).scalar()
    while last is not None:
        ids.append(last)
        last = conn.execute(sa.text(f"SELECT MIN(tag_id) FROM {table} WHERE tag_id > :t"), {"t": last}).scalar()
    return ids


def _forget_orphans(conn: sa.Connection) -> int:
    tags = set(conn.execute(sa.text("SELECT id FROM tags")).scalars())
    orphans: set[int] = set()
    for table in HISTORY:
        gone = [t for t in _distinct_tag_ids(conn, table) if t not in tags]
        orphans.update(gone)
        for tag_id in gone:
            conn.execute(sa.text(f"DELETE FROM {table} WHERE tag_id = :t"), {"t": tag_id})
    return max(orphans, default=0)


def upgrade() -> None:
    conn = op.get_bind()
    highest_orphan = _forget_orphans(conn)
    if conn.dialect.name != "sqlite":
        return
    for table in REBUILT:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    # The copy set each sequence to its table's largest id; a deleted tag's id stays used too.
    for table in REBUILT:
        top = conn.execute(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar() or 0
        if table == "tags":
            top = max(top, highest_orphan)
        conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
        conn.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :s)"), {"t": table, "s": top})


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table in reversed(REBUILT):
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
