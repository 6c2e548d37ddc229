"""REST routes of admission: an edge asks with a provisioning key and collects its credential; an admin manages
provisioning keys, approves, adds, rotates and revokes; anyone with fleet.read sees what the bus refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from sqlalchemy.orm import Session

from tagpipe.auth import audit, provisioning
from tagpipe.auth.access import client_address
from tagpipe.auth.principal import current
from tagpipe.errors import NotAuthenticated
from tagpipe.fleet import admission, gate
from tagpipe.fleet.api import EdgeId
from tagpipe.fleet.schemas import (
    EdgeCredentials,
    EdgeIn,
    EdgeOut,
    EnrollIn,
    Enrollment,
    KeyCreated,
    KeyIn,
    KeyOut,
    Pending,
    RefusalOut,
)
from tagpipe.services import Services
from tagpipe.web.deps import ServicesDep
from tagpipe.web.inputs import PathId

router = APIRouter(prefix="/api/fleet", tags=["fleet"])


def _who() -> str:
    principal = current()
    return principal.label if principal else "system"


def credentials_out(issued: admission.Issued) -> EdgeCredentials:
    return EdgeCredentials(edge_id=issued.edge_id, token=issued.token, nats_user=issued.edge_id,
                           mqtt_user=issued.edge_id)


def key_out(key: provisioning.ProvisioningKey) -> KeyOut:
    return KeyOut(id=key.id, name=key.name, prefix=key.prefix, created_by=key.created_by, created_at=key.created_at,
                  expires_at=key.expires_at, max_uses=key.max_uses, uses=key.uses, auto_approve=key.auto_approve,
                  state=provisioning.state(key))


async def _audited(services: Services, action: str, target: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run ``fn(session, ...)`` and write an audit entry for it (edges have no principal the middleware knows)."""

    def call(session: Session):  # type: ignore[no-untyped-def]
        result = fn(session, *args, **kwargs)
        audit.record(session, principal=f"edge {target.rsplit('/', 1)[-1]}", action=action, target=target,
                     detail={"status": getattr(result, "status", "approved" if result else "pending")})
        return result

    return await services.run_db(call)


# -- the edge's side (no user credentials: a provisioning key, an enrollment secret) ------------------------------

@router.post("/v1/edges/{edge_id}/enroll", response_model=Enrollment, status_code=202,
             responses={201: {"model": Enrollment, "description": "approved at once by an auto-approve key"}})
async def enroll(edge_id: EdgeId, body: EnrollIn, request: Request, response: Response,
                 services: ServicesDep) -> Enrollment:
    """An edge started with a provisioning key asks for credentials: pending until an admin approves it (202, with
    the secret to collect them with), or approved at once by an auto-approve key (201, with its credential)."""
    out = await _audited(services, "edge enroll", f"edges/{edge_id}", admission.enroll, edge_id,
                         body.provisioning_key, name=body.name or "", address=client_address(request))
    if out.issued is not None:
        response.status_code = 201
        return Enrollment(status=out.status, edge_id=edge_id, token=out.issued.token)
    return Enrollment(status=out.status, edge_id=edge_id, enrollment=out.enrollment)


@router.post("/v1/edges/{edge_id}/credentials", response_model=EdgeCredentials,
             responses={202: {"model": Pending, "description": "not approved yet"}})
async def collect(edge_id: EdgeId, services: ServicesDep, response: Response,
                  authorization: Annotated[str | None, Header(max_length=4096)] = None) -> EdgeCredentials | Pending:
    """The edge collects its credential, once: with its enrollment secret after approval, or with its old credential
    after a rotation (``Authorization: Bearer <secret>``). 202 while it is pending."""
    scheme, _, secret = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise NotAuthenticated("send 'Authorization: Bearer <enrollment secret or old credential>'")
    issued = await _audited(services, "edge collect credentials", f"edges/{edge_id}", admission.collect, edge_id,
                            secret.strip())
    if issued is None:
        response.status_code = 202
        return Pending(edge_id=edge_id)
    return credentials_out(issued)


# -- an admin's side ------------------------------------------------------------------------------------------------

@router.get("/provisioning-keys", response_model=list[KeyOut])
async def list_keys(services: ServicesDep) -> list[KeyOut]:
    return [key_out(k) for k in await services.run_db(provisioning.list_keys)]


@router.post("/provisioning-keys", response_model=KeyCreated, status_code=201)
async def create_key(body: KeyIn, services: ServicesDep) -> KeyCreated:
    """A provisioning key, answered once: start an edge with ``tagpipe edge --provisioning-key KEY``."""
    by = _who()

    def create(session: Session) -> KeyCreated:
        key, secret = provisioning.create_key(session, name=body.name, expires_at=body.expires_at,
                                              max_uses=body.max_uses, auto_approve=body.auto_approve, created_by=by)
        session.commit()
        return KeyCreated(**key_out(key).model_dump(), key=secret)

    return await services.run_db(create)


@router.delete("/provisioning-keys/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: PathId, services: ServicesDep) -> KeyOut:
    def revoke(session: Session) -> KeyOut:
        key = provisioning.revoke_key(session, key_id)
        session.commit()
        return key_out(key)

    return await services.run_db(revoke)


@router.post("/devices", response_model=EdgeCredentials, status_code=201)
async def add_edge(body: EdgeIn, services: ServicesDep) -> EdgeCredentials:
    """Add an approved edge, or a collector (a third-party MQTT publisher): its credential is answered once."""
    by = _who()
    issued = await services.run_db(lambda s: admission.add(s, body.id, kind=body.kind, name=body.name or "", by=by))
    return credentials_out(issued)


@router.post("/devices/{edge_id}/approve", response_model=EdgeOut)
async def approve(edge_id: EdgeId, services: ServicesDep) -> EdgeOut:
    """Approve a pending edge: it collects its credential within seconds."""
    by = _who()
    edge = await services.run_db(lambda s: admission.approve(s, edge_id, by=by))
    return EdgeOut.model_validate(edge, from_attributes=True)


@router.post("/devices/{edge_id}/credentials", response_model=EdgeCredentials)
async def rotate(edge_id: EdgeId, services: ServicesDep) -> EdgeCredentials:
    """Rotate an edge's credential: the old one is off the bus within seconds; an agent collects the new one
    itself, a collector's is this answer (shown once)."""
    by = _who()
    issued = await services.run_db(lambda s: admission.rotate(s, edge_id, by=by))
    gate.wake(services)
    return credentials_out(issued)


@router.delete("/devices/{edge_id}/credentials", response_model=EdgeOut)
async def revoke(edge_id: EdgeId, services: ServicesDep) -> EdgeOut:
    """Revoke an edge (or refuse a pending one): disconnected from the bus within seconds, refused from then on."""
    by = _who()
    edge = await services.run_db(lambda s: admission.revoke(s, edge_id, by=by))
    gate.wake(services)
    return EdgeOut.model_validate(edge, from_attributes=True)


@router.get("/refusals", response_model=list[RefusalOut])
async def refusals(services: ServicesDep, edge_id: Annotated[str | None, Query(max_length=120)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[RefusalOut]:
    """What nats-server refused, newest first: log ins (wrong, revoked or no credentials) and subjects an edge may
    not publish or subscribe to."""
    rows = await services.run_db(admission.refusals, edge_id, limit)
    return [RefusalOut.model_validate(r, from_attributes=True) for r in rows]


__all__ = ["Path", "router"]
