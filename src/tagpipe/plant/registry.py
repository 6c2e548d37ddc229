"""The one tag registry: every writer turns the names it has into tag ids through ``resolve_or_create``.

Every tag has a ``source`` and a unique ``key`` (``tag_key``):

- ``plc``: a tag configured on a connection (API, demo seed), key ``plc/{connection id}/{name}``;
- ``collector``: values published on a data subject that no configured tag takes, key
  ``collector/{edge id}/{connection id as sent, or empty}/{name}``;
- ``calc`` and ``file``: the outputs of calculated tags and parsed files, each keyed by what identifies it there.

The rule for data from edges and collectors (the ingest path, ``source=collector``): a (edge, connection id, name)
whose connection is configured for that edge and has a tag of that name is that ``plc`` tag; anything else is the
``collector`` tag keyed by (edge, connection, name), created the first time it is seen. Names are validated before
(``contracts.names``), so a key never holds a '/' inside a part.

Creating is race-safe on SQLite and PostgreSQL alike: ``INSERT ... ON CONFLICT (key) DO NOTHING`` then ``SELECT``, in
key order so that two writers never wait on each other crosswise. Commit soon after: on PostgreSQL another writer
creating the same key waits for this transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.db.upsert import insert_for
from tagpipe.plant.models import Connection, Tag, TagSource, tag_key

Ref = tuple[str, str, str]  # (scope, group, name): collector (edge id, connection id as sent, name)
_CHUNK = 500  # keys per IN (...) and per INSERT


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _data_type(value: object) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, str):
        return "STRING"
    return "INT64" if isinstance(value, int) else "FLOAT64"


def _configured(session: Session, refs: Iterable[Ref]) -> dict[Ref, int]:
    """The plc tags that collector refs name: same edge, a configured connection id, a tag of that name."""
    by_key: dict[str, list[Ref]] = {}  # several edges may name the same connection id
    for edge, conn, name in refs:
        if conn.isascii() and conn.isdigit():
            by_key.setdefault(tag_key(TagSource.PLC, conn, name), []).append((edge, conn, name))
    out: dict[Ref, int] = {}
    for keys in _chunks(list(by_key)):
        q = (select(Tag.id, Tag.key, Connection.edge_id).join(Connection, Tag.connection_id == Connection.id)
             .where(Tag.key.in_(keys)))
        for tag_id, key, edge in session.execute(q):
            for ref in by_key[key]:
                if ref[0] == edge:
                    out[ref] = tag_id
    return out


def _existing(session: Session, keys: Mapping[str, Ref]) -> dict[Ref, int]:
    out: dict[Ref, int] = {}
    for chunk in _chunks(list(keys)):
        for tag_id, key in session.execute(select(Tag.id, Tag.key).where(Tag.key.in_(chunk))):
            out[keys[key]] = tag_id
    return out


def resolve_or_create(session: Session, source: TagSource, wanted: Mapping[Ref, object]) -> dict[Ref, int]:
    """Tag ids of ``wanted`` refs of one source, creating the tags that do not exist yet (race-safe).

    ``wanted`` maps each ref to a sample value, from which a new tag's data type is guessed. For ``collector`` refs a
    configured plc tag wins (see the module docstring).
    """
    out = _configured(session, wanted) if source == TagSource.COLLECTOR else {}
    keys = {tag_key(source, *ref): ref for ref in wanted if ref not in out}
    found = _existing(session, keys)
    out.update(found)
    missing = sorted(k for k, ref in keys.items() if ref not in found)
    if missing:
        collector = source == TagSource.COLLECTOR
        rows = [{"connection_id": None, "name": keys[k][2], "data_type": _data_type(wanted[keys[k]]), "source": source,
                 "key": k, "edge_id": keys[k][0] if collector else None,
                 "source_connection": (keys[k][1] or None) if collector else None} for k in missing]
        dialect = session.get_bind().dialect.name
        for chunk in _chunks(rows):
            session.execute(insert_for(dialect, Tag.__table__).on_conflict_do_nothing(index_elements=["key"]), chunk)
        out.update(_existing(session, {k: keys[k] for k in missing}))
    return out
