"""CRUD for equipment, connections and tags: validate against the protocol's driver, then store.

Deleting removes the history of every tag that goes (the ``forget_tags`` port, in the same transaction), and ids are
never reused (AUTOINCREMENT on SQLite, sequences on PostgreSQL), so a new tag never shows an old one's values.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tagpipe import drivers
from tagpipe.auth.secrets import box_of, is_sealed, seal_settings, secret_fields, unsealed, with_kept_secrets
from tagpipe.contracts.config import DeviceConfig, TagConfig
from tagpipe.db import fits
from tagpipe.errors import Conflict, NotFound
from tagpipe.plant import certificates
from tagpipe.plant.models import Connection, Equipment, Tag, TagSource
from tagpipe.plant.reach import Network, check_reach
from tagpipe.plant.schemas import ConnectionIn, ConnectionTestIn, EquipmentIn, TagIn, TagSpec
from tagpipe.ports import ForgetTags


def _get(session: Session, model: type, id_: int, what: str):  # type: ignore[no-untyped-def]
    obj = session.get(model, id_) if fits(id_) else None
    if obj is None:
        raise NotFound(f"{what} {id_} does not exist")
    return obj


def _commit(session: Session, conflict: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(conflict) from None


# -- equipment ------------------------------------------------------------------------------------

def list_equipment(session: Session) -> list[Equipment]:
    return list(session.scalars(select(Equipment).order_by(Equipment.name)))


def create_equipment(session: Session, data: EquipmentIn) -> Equipment:
    eq = Equipment(**data.model_dump())
    session.add(eq)
    _commit(session, f"equipment named {data.name!r} already exists")
    return eq


def update_equipment(session: Session, id_: int, data: EquipmentIn) -> Equipment:
    eq = _get(session, Equipment, id_, "equipment")
    for k, v in data.model_dump().items():
        setattr(eq, k, v)
    _commit(session, f"equipment named {data.name!r} already exists")
    return eq


def _tags_of(session: Session, connections: Sequence[Connection]) -> list[int]:
    """Ids of the connections' tags: configured ones, and those discovered from data published under their ids."""
    if not connections:
        return []
    wire = [and_(Tag.edge_id == c.edge_id, Tag.source_connection == str(c.id)) for c in connections]
    return list(session.scalars(select(Tag.id).where(or_(Tag.connection_id.in_([c.id for c in connections]),
                                                         and_(Tag.connection_id.is_(None), or_(*wire))))))


def _delete_tags(session: Session, tag_ids: list[int], forget_tags: ForgetTags) -> None:
    """Forget the tags' history and delete discovered ones (configured tags go with their connection's cascade)."""
    forget_tags(session, tag_ids)
    for tag in session.scalars(select(Tag).where(Tag.id.in_(tag_ids), Tag.connection_id.is_(None))):
        session.delete(tag)


def delete_equipment(session: Session, id_: int, forget_tags: ForgetTags) -> set[str]:
    """Delete equipment with its connections, their tags and the tags' history; returns the edges to notify."""
    eq = _get(session, Equipment, id_, "equipment")
    edges = {c.edge_id for c in eq.connections}
    _delete_tags(session, _tags_of(session, eq.connections), forget_tags)
    session.delete(eq)
    session.commit()
    return edges


# -- connections ----------------------------------------------------------------------------------

def _validate_connection(session: Session, data: ConnectionIn, previous: dict | None = None,
                         networks: Sequence[Network] = ()) -> dict:
    """The settings to store: validated, devices within ``networks``, with secrets sealed (a secret left out or
    masked keeps its stored value)."""
    box, fields = box_of(session), secret_fields(drivers.driver_class(data.protocol).settings_model)
    settings = drivers.validate_settings(data.protocol, with_kept_secrets(box, fields, data.settings, previous))
    check_reach(settings, networks)
    certificates.material(session, data.protocol, settings.model_dump())  # every name it gives is in the store
    return seal_settings(box, fields, data.settings, settings.model_dump(mode="json"), previous)


def seal_stored_secrets(session: Session) -> int:
    """Seal secrets stored in clear by a version before secrets were sealed; how many connections changed."""
    box, changed = box_of(session), 0
    for conn in session.scalars(select(Connection)):
        protocol = drivers.ALIASES.get(conn.protocol, conn.protocol)
        fields = secret_fields(drivers.DRIVERS[protocol].settings_model) if protocol in drivers.DRIVERS else ()
        clear = [f for f in fields if conn.settings.get(f) not in (None, "") and not is_sealed(conn.settings[f])]
        if clear:
            conn.settings = {**conn.settings, **{f: box.seal(str(conn.settings[f])) for f in clear}}
            changed += 1
    session.commit()
    return changed


def list_connections(session: Session, equipment_id: int | None = None) -> list[Connection]:
    q = select(Connection).order_by(Connection.id)
    if equipment_id is not None:
        if not fits(equipment_id):
            return []
        q = q.where(Connection.equipment_id == equipment_id)
    return list(session.scalars(q))


def create_connection(session: Session, data: ConnectionIn, networks: Sequence[Network] = ()) -> Connection:
    _get(session, Equipment, data.equipment_id, "equipment")
    settings = _validate_connection(session, data, None, networks)
    conn = Connection(**data.model_dump(exclude={"settings"}), settings=settings)
    session.add(conn)
    _commit(session, "connection conflicts with a stored one")
    return conn


def update_connection(session: Session, id_: int, data: ConnectionIn,
                      networks: Sequence[Network] = ()) -> tuple[Connection, set[str]]:
    conn = _get(session, Connection, id_, "connection")
    _get(session, Equipment, data.equipment_id, "equipment")
    settings = _validate_connection(session, data, dict(conn.settings), networks)
    for tag in conn.tags:
        drivers.validate_tag(data.protocol, _tag_config(tag))
    edges = {conn.edge_id, data.edge_id}
    for k, v in data.model_dump(exclude={"settings"}).items():
        setattr(conn, k, v)
    conn.settings = settings
    _commit(session, "connection conflicts with a stored one")
    return conn, edges


def connection_test_body(session: Session, id_: int) -> ConnectionTestIn:
    """A stored connection and its tags as the body of *Test connection*."""
    conn = _get(session, Connection, id_, "connection")
    # Stored tags as they are (a name stored before a rule existed is tested, not refused); unset stays unset.
    tags = [TagSpec.model_construct(**{k: getattr(t, k) for k in TagSpec.model_fields
                                       if getattr(t, k) is not None or k != "byte_order"}) for t in conn.tags]
    return ConnectionTestIn.model_construct(protocol=conn.protocol,
                                            settings=unsealed(box_of(session), conn.settings or {}), tags=tags)


def connection_settings(session: Session, id_: int) -> dict:
    """A stored connection's settings with its secrets, for the server to connect with (OPC UA browse)."""
    return unsealed(box_of(session), _get(session, Connection, id_, "connection").settings)


def delete_connection(session: Session, id_: int, forget_tags: ForgetTags) -> set[str]:
    """Delete a connection with its tags and their history; returns the edges to notify."""
    conn = _get(session, Connection, id_, "connection")
    _delete_tags(session, _tags_of(session, [conn]), forget_tags)
    session.delete(conn)
    session.commit()
    return {conn.edge_id}


# -- tags -----------------------------------------------------------------------------------------

def _tag_config(tag: Tag | TagIn) -> TagConfig:
    return TagConfig.model_validate(tag, from_attributes=True)


def list_tags(session: Session, connection_id: int | None = None) -> list[Tag]:
    q = select(Tag).order_by(Tag.id)
    if connection_id is not None:
        if not fits(connection_id):
            return []
        q = q.where(Tag.connection_id == connection_id)
    return list(session.scalars(q))


def get_tag(session: Session, id_: int) -> Tag:
    return _get(session, Tag, id_, "tag")


def create_tag(session: Session, data: TagIn) -> tuple[Tag, set[str]]:
    conn = _get(session, Connection, data.connection_id, "connection")
    drivers.validate_tag(conn.protocol, _tag_config(data))
    tag = Tag(**data.model_dump())
    session.add(tag)
    _commit(session, f"connection {conn.id} already has a tag named {data.name!r}")
    return tag, {conn.edge_id}


def update_tag(session: Session, id_: int, data: TagIn) -> tuple[Tag, set[str]]:
    tag = get_tag(session, id_)
    conn = _get(session, Connection, data.connection_id, "connection")
    drivers.validate_tag(conn.protocol, _tag_config(data))
    edges = {conn.edge_id} | ({tag.connection.edge_id} if tag.connection else set())
    for k, v in data.model_dump().items():
        setattr(tag, k, v)
    _commit(session, f"connection {conn.id} already has a tag named {data.name!r}")
    return tag, edges


def delete_tag(session: Session, id_: int, forget_tags: ForgetTags) -> set[str]:
    """Delete a tag and its history in one transaction; returns the edges to notify."""
    tag = get_tag(session, id_)
    edges = {tag.connection.edge_id} if tag.connection else set()
    forget_tags(session, [tag.id])
    session.delete(tag)
    session.commit()
    return edges


# -- public functions for other features ----------------------------------------------------------

def devices_for_edge(session: Session, edge_id: str) -> list[DeviceConfig]:
    """The seed's ``devices[]`` of one edge's config, each with its secrets and the certificates and keys it names."""
    conns = session.scalars(select(Connection).where(Connection.edge_id == edge_id).order_by(Connection.id))
    box = box_of(session)
    return [
        DeviceConfig(id=str(c.id), name=c.name, protocol=c.protocol, connection=unsealed(box, c.settings),
                     interval_ms=c.interval_ms, enabled=c.enabled, equipment_id=c.equipment_id,
                     tags=[_tag_config(t).model_copy(update={"id": t.id}) for t in c.tags],
                     files={name: pem.decode() for name, pem in
                            certificates.material(session, c.protocol, c.settings or {}, strict=False).items()})
        for c in conns
    ]


def edges_in_use(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(Connection.edge_id))))


def tag_catalog(session: Session) -> list[dict]:
    """Every tag with where it belongs (equipment, connection, edge), for listings and the dashboard. Read as
    columns, not ORM objects, with repeated strings shared: 100,000 tags must not cost the server hundreds of MB."""
    conns = {cid: (cid, name, equipment_id, edge_id, equipment)
             for cid, name, equipment_id, edge_id, equipment in session.execute(
                 select(Connection.id, Connection.name, Connection.equipment_id, Connection.edge_id, Equipment.name)
                 .join(Equipment, Connection.equipment_id == Equipment.id))}
    by_wire = {(c[3], str(c[0])): c for c in conns.values()}
    shared: dict[object, object] = {}

    def one(value: object) -> object:  # the first copy of an equal string, for every row that has it
        return shared.setdefault(value, value)

    out = []
    for tag_id, name, unit, data_type, writable, address, source, connection_id, edge_id, wire in session.execute(
            select(Tag.id, Tag.name, Tag.unit, Tag.data_type, Tag.writable, Tag.address, Tag.source,
                   Tag.connection_id, Tag.edge_id, Tag.source_connection).order_by(Tag.id)):
        c = conns.get(connection_id) if connection_id else by_wire.get((edge_id or "", wire or ""))
        out.append({
            "id": tag_id, "name": one(name), "unit": one(unit), "data_type": one(data_type), "writable": writable,
            "address": one(address), "discovered": source != TagSource.PLC, "source": one(source),
            "connection_id": c[0] if c else None, "connection": one(c[1] if c else wire),
            "equipment_id": c[2] if c else None,
            "equipment": one(c[4] if c else f"edge {edge_id}" if edge_id else str(source)),
            "edge_id": one(c[3] if c else edge_id),
        })
    return out


def equipment_of_tags(session: Session, tag_ids: Sequence[int]) -> dict[int, int | None]:
    """Each existing tag of ``tag_ids`` with its equipment's id (None: it belongs to none), by the rule of
    ``tag_catalog``: a configured tag's connection, a collector tag's connection as sent on the wire."""
    ids = sorted({i for i in tag_ids if fits(i)})
    if not ids:
        return {}
    conns = {c.id: c for c in session.scalars(select(Connection))}
    by_wire = {(c.edge_id, str(c.id)): c for c in conns.values()}
    out: dict[int, int | None] = {}
    for i in range(0, len(ids), 500):
        for t in session.scalars(select(Tag).where(Tag.id.in_(ids[i:i + 500]))):
            c = conns.get(t.connection_id) if t.connection_id else by_wire.get((t.edge_id or "",
                                                                                t.source_connection or ""))
            out[t.id] = c.equipment_id if c else None
    return out


def equipment_tree(session: Session) -> list[dict]:
    """Every equipment with its connections (id, name, edge), for pickers and for resolving a scope to edges."""
    return [{"id": e.id, "name": e.name,
             "connections": [{"id": c.id, "name": c.name, "edge_id": c.edge_id} for c in e.connections]}
            for e in list_equipment(session)]


def edge_config_part(session: Session, edge_id: str) -> dict[str, list[DeviceConfig]]:
    """The ``devices`` of an edge's config (this feature's part of the EdgeConfig)."""
    return {"devices": devices_for_edge(session, edge_id)}
