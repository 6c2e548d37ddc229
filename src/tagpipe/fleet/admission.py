"""Which edges may connect: an edge asks with a provisioning key and waits (pending), an admin approves it (or the
key does), and the edge collects its credential; an admin may also add an edge or a third-party collector whose
credential is shown once, rotate a credential or revoke it.

A heartbeat from an edge that is not approved registers nothing (``worker``); it cannot reach the bus anyway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.auth import edges as credentials
from tagpipe.auth.credentials import digest, new_secret, same
from tagpipe.auth.provisioning import use_key
from tagpipe.db.base import utcnow
from tagpipe.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from tagpipe.fleet.models import BusRefusal, Edge

KINDS = ("agent", "collector")
PENDING, APPROVED, REVOKED = "pending", "approved", "revoked"
ENROLLMENT_PREFIX = "tpr_"


@dataclass(frozen=True, slots=True)
class Issued:
    """What an edge or an admin is told once: the edge's id and its credential (HTTP token, NATS/MQTT password)."""

    edge_id: str
    token: str


@dataclass(frozen=True, slots=True)
class Enrolled:
    status: str  # pending | approved
    enrollment: str | None = None  # the secret the edge collects its credential with, while pending
    issued: Issued | None = None  # at once, when the key approves


def _edge(session: Session, edge_id: str) -> Edge:
    edge = session.get(Edge, edge_id)
    if edge is None:
        raise NotFound(f"edge {edge_id!r} does not exist")
    return edge


def _new_edge(session: Session, edge_id: str, kind: str, name: str) -> Edge:
    if kind not in KINDS:
        raise InvalidInput("kind", f"one of {', '.join(KINDS)}", kind)
    edge = Edge(id=edge_id, name=name or edge_id, status="offline", kind=kind, devices={}, scripts={},
                heartbeat_interval_s=30.0)
    session.add(edge)
    return edge


def enroll(session: Session, edge_id: str, key_secret: str, *, name: str = "", address: str = "") -> Enrolled:
    """An edge asks for credentials with a provisioning key: pending (or approved at once by an auto-approve key)."""
    edge = session.get(Edge, edge_id)
    if edge is not None and edge.admission == APPROVED:
        raise Conflict(f"edge {edge_id!r} is approved already; an admin can rotate or revoke its credentials")
    key = use_key(session, key_secret)
    edge = edge or _new_edge(session, edge_id, "agent", name)
    enrollment = new_secret(ENROLLMENT_PREFIX)
    edge.admission, edge.enrollment_hash = PENDING, digest(enrollment)
    edge.requested_at, edge.request_address, edge.provisioning_key_id = utcnow(), address[:64], key.id
    if not key.auto_approve:
        session.commit()
        return Enrolled(status=PENDING, enrollment=enrollment)
    approve(session, edge_id, by=f"provisioning key {key.name}", sealed=False)
    _, secret = credentials.issue(session, edge_id, created_by=f"provisioning key {key.name}")
    edge.enrollment_hash = None
    session.commit()
    return Enrolled(status=APPROVED, issued=Issued(edge_id, secret))


def collect(session: Session, edge_id: str, secret: str) -> Issued | None:
    """The credential waiting for an edge, for its enrollment secret (or, after a rotation, its old credential);
    None while it is pending. Forbidden when the edge was refused or the secret is not its own."""
    edge = session.get(Edge, edge_id)
    if edge is None:
        raise NotAuthenticated("unknown edge or secret")
    by_enrollment = edge.enrollment_hash is not None and same(digest(secret), edge.enrollment_hash)
    if by_enrollment:
        if edge.admission == PENDING:
            return None
        if edge.admission != APPROVED:
            raise Forbidden(f"edge {edge_id} was {edge.admission or 'refused'}")
        token = credentials.waiting(session, edge_id)
    else:
        token = credentials.successor(session, edge_id, secret)
    if token is None:
        raise NotAuthenticated("unknown edge or secret, or the credentials were collected already")
    issued = Issued(edge_id, credentials.collect(session, token))
    if by_enrollment:
        edge.enrollment_hash = None
    session.commit()
    return issued


def approve(session: Session, edge_id: str, *, by: str, sealed: bool = True) -> Edge:
    """Approve a pending edge: a credential waits sealed until it collects it."""
    edge = _edge(session, edge_id)
    if edge.admission != PENDING:
        raise Conflict(f"edge {edge_id} is {edge.admission or 'not pending'}, not pending")
    edge.admission, edge.approved_by, edge.approved_at = APPROVED, by, utcnow()
    if sealed:
        credentials.issue(session, edge_id, created_by=by, sealed=True)
        session.commit()
    return edge


def add(session: Session, edge_id: str, *, kind: str = "agent", name: str = "", by: str) -> Issued:
    """An admin adds an approved edge (an agent, or a collector that publishes over MQTT); its credential is
    answered once."""
    edge = session.get(Edge, edge_id)
    if edge is not None and edge.admission in (APPROVED, PENDING):
        raise Conflict(f"edge {edge_id!r} exists ({edge.admission}); approve, rotate or revoke it instead")
    if edge is None:
        edge = _new_edge(session, edge_id, kind, name)
    elif kind in KINDS:
        edge.kind = kind
    edge.admission, edge.approved_by, edge.approved_at, edge.enrollment_hash = APPROVED, by, utcnow(), None
    _, secret = credentials.issue(session, edge_id, created_by=by)
    session.commit()
    return Issued(edge_id, secret)


def provision_local(session: Session, edge_id: str, *, by: str, held: str | None = None) -> Issued | None:
    """For an edge this machine starts itself (``tagpipe demo``): approve it and issue a credential, unless the one
    it ``held`` still works (None then)."""
    if held is not None and credentials.check(session, edge_id, held).ok and admitted(session, edge_id):
        return None
    edge = session.get(Edge, edge_id) or _new_edge(session, edge_id, "agent", "")
    credentials.revoke(session, edge_id)
    edge.admission, edge.approved_by, edge.approved_at, edge.enrollment_hash = APPROVED, by, utcnow(), None
    _, secret = credentials.issue(session, edge_id, created_by=by)
    session.commit()
    return Issued(edge_id, secret)


def rotate(session: Session, edge_id: str, *, by: str) -> Issued:
    """A new credential for an approved edge: the old one stops working on the bus at once (the gate disconnects
    it) and serves only to collect the new one; the new one is also answered once (for a collector)."""
    edge = _edge(session, edge_id)
    if edge.admission != APPROVED:
        raise Conflict(f"edge {edge_id} is {edge.admission or 'without credentials'}, not approved")
    _, secret = credentials.rotate(session, edge_id, created_by=by)
    session.commit()
    return Issued(edge_id, secret)


def revoke(session: Session, edge_id: str, *, by: str) -> Edge:
    """Refuse an edge from now on: every credential revoked (the gate disconnects it within seconds), a pending
    request refused. It may ask again with a provisioning key."""
    edge = _edge(session, edge_id)
    credentials.revoke(session, edge_id)
    edge.admission, edge.enrollment_hash, edge.status = REVOKED, None, "offline"
    edge.approved_by = f"revoked by {by}"
    session.commit()
    return edge


def admitted(session: Session, edge_id: str) -> bool:
    edge = session.get(Edge, edge_id)
    return edge is not None and edge.admission == APPROVED


def record_refusal(session: Session, *, edge_id: str, kind: str, detail: str, transport: str = "",
                   address: str = "", at: dt.datetime | None = None) -> None:
    """Count one refusal by nats-server (per edge, kind and detail)."""
    at = at or utcnow()
    detail = detail[:500]
    row = session.scalar(select(BusRefusal).where(BusRefusal.edge_id == edge_id[:120], BusRefusal.kind == kind,
                                                  BusRefusal.detail == detail))
    if row is None:
        session.add(BusRefusal(edge_id=edge_id[:120], kind=kind, detail=detail, transport=transport,
                               address=address[:64], count=1, first_at=at, last_at=at))
    else:
        row.count += 1
        row.last_at, row.transport, row.address = at, transport or row.transport, address[:64] or row.address


def refusals(session: Session, edge_id: str | None = None, limit: int = 200) -> list[BusRefusal]:
    q = select(BusRefusal).order_by(BusRefusal.last_at.desc()).limit(limit)
    if edge_id is not None:
        q = q.where(BusRefusal.edge_id == edge_id)
    return list(session.scalars(q))
