"""REST routes for equipment, connections and tag configuration; every change notifies the affected edges."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tagpipe import drivers
from tagpipe.errors import NotFound
from tagpipe.plant import certificates, probe, service
from tagpipe.plant.schemas import (
    BrowseIn,
    BrowseNode,
    CertificateIn,
    CertificateOut,
    ConnectionIn,
    ConnectionOut,
    ConnectionTestIn,
    ConnectionTestOut,
    EquipmentIn,
    EquipmentOut,
    TagIn,
    TagOut,
)
from tagpipe.plant.values import TagValue, WriteIn, WriteOut, tag_values
from tagpipe.web.deps import ServicesDep
from tagpipe.web.inputs import PathId, QueryId

router = APIRouter(prefix="/api", tags=["plant"])


def _out(model, obj):  # type: ignore[no-untyped-def]
    return model.model_validate(obj, from_attributes=True)


@router.get("/protocols")
async def protocols() -> dict[str, dict]:
    """Each protocol's settings as JSON Schema (the UI form and the docs are generated from it)."""
    return {name: {"settings": cls.settings_model.model_json_schema(), "description": (cls.__doc__ or "").strip()}
            for name, cls in drivers.DRIVERS.items()}


@router.get("/equipment", response_model=list[EquipmentOut])
async def list_equipment(services: ServicesDep) -> list[EquipmentOut]:
    return [_out(EquipmentOut, e) for e in await services.run_db(service.list_equipment)]


@router.post("/equipment", response_model=EquipmentOut, status_code=201)
async def create_equipment(body: EquipmentIn, services: ServicesDep) -> EquipmentOut:
    eq = await services.run_db(service.create_equipment, body)
    await services.config_changed([])
    return _out(EquipmentOut, eq)


@router.put("/equipment/{equipment_id:int}", response_model=EquipmentOut)
async def update_equipment(equipment_id: PathId, body: EquipmentIn, services: ServicesDep) -> EquipmentOut:
    eq = await services.run_db(service.update_equipment, equipment_id, body)
    await services.config_changed([])
    return _out(EquipmentOut, eq)


@router.delete("/equipment/{equipment_id:int}", status_code=204)
async def delete_equipment(equipment_id: PathId, services: ServicesDep) -> Response:
    await services.config_changed(await services.run_db(service.delete_equipment, equipment_id,
                                                        services.ports.forget_tags))
    return Response(status_code=204)


@router.get("/connections", response_model=list[ConnectionOut])
async def list_connections(services: ServicesDep, equipment_id: QueryId = None) -> list[ConnectionOut]:
    return [_out(ConnectionOut, c) for c in await services.run_db(service.list_connections, equipment_id)]


@router.post("/connections", response_model=ConnectionOut, status_code=201)
async def create_connection(body: ConnectionIn, services: ServicesDep) -> ConnectionOut:
    conn = await services.run_db(service.create_connection, body, services.settings.device_networks)
    await services.config_changed([conn.edge_id])
    return _out(ConnectionOut, conn)


@router.post("/connections/test", response_model=ConnectionTestOut)
async def test_connection(body: ConnectionTestIn, services: ServicesDep) -> ConnectionTestOut:
    """Connect from the **server** (not the edge) and read the tags once, before saving.

    Bad settings or tags are 422 naming the field; a device that cannot be reached or refuses a tag is a 200 whose
    ``ok`` is false, with ``reason`` (refused, timed out, unknown host, no answer, misconfigured, tags failed) and,
    per tag, the value or the PLC's error and its reason (unknown address, wrong data type, access denied).
    """
    material = await services.run_db(certificates.material, body.protocol, body.settings)
    return await probe.try_connection(body, services.settings.device_networks, material)


@router.post("/connections/{connection_id:int}/test", response_model=ConnectionTestOut)
async def test_saved_connection(connection_id: PathId, services: ServicesDep) -> ConnectionTestOut:
    """*Test connection* for a stored connection with its stored tags (from the server, like POST /connections/test)."""
    body = await services.run_db(service.connection_test_body, connection_id)
    material = await services.run_db(certificates.material, body.protocol, body.settings)
    return await probe.try_connection(body, services.settings.device_networks, material)


@router.post("/opcua/browse", response_model=list[BrowseNode])
async def opcua_browse(body: BrowseIn, services: ServicesDep) -> list[BrowseNode]:
    """The children of an OPC UA node (default: Objects), variables with data type, unit and access, from the server."""
    material = await services.run_db(certificates.material, "opcua", body.settings)
    return await probe.browse(body.settings, body.node_id, services.settings.device_networks, material)


@router.get("/certificates", response_model=list[CertificateOut])
async def list_certificates(services: ServicesDep) -> list[CertificateOut]:
    """Certificates and private keys connections may name (never their content): uploads and the files of
    TAGPIPE_CERTIFICATE_DIR, each with the connections that name it."""
    return [CertificateOut.model_validate(e, from_attributes=True)
            for e in await services.run_db(certificates.entries)]


@router.post("/certificates", response_model=CertificateOut, status_code=201)
async def upload_certificate(body: CertificateIn, services: ServicesDep) -> CertificateOut:
    """Keep a certificate or private key (PEM) in tagpipe's store, the key sealed; 409 when the name is taken."""
    cert = await services.run_db(certificates.upload, body.name, body.pem.encode(), body.password)
    return CertificateOut(id=cert.id, name=cert.name, kind=cert.kind, subject=cert.subject, not_after=cert.not_after,
                          fingerprint=cert.fingerprint, source="upload", used_by=[])


@router.delete("/certificates/{certificate_id:int}", status_code=204)
async def delete_certificate(certificate_id: PathId, services: ServicesDep) -> Response:
    """Delete an uploaded certificate or key; 409 naming the connections that still name it."""
    await services.run_db(certificates.delete, certificate_id)
    return Response(status_code=204)


@router.put("/connections/{connection_id:int}", response_model=ConnectionOut)
async def update_connection(connection_id: PathId, body: ConnectionIn, services: ServicesDep) -> ConnectionOut:
    conn, edges = await services.run_db(service.update_connection, connection_id, body,
                                        services.settings.device_networks)
    await services.config_changed(edges)
    return _out(ConnectionOut, conn)


@router.delete("/connections/{connection_id:int}", status_code=204)
async def delete_connection(connection_id: PathId, services: ServicesDep) -> Response:
    await services.config_changed(await services.run_db(service.delete_connection, connection_id,
                                                        services.ports.forget_tags))
    return Response(status_code=204)


@router.get("/tags", response_model=list[TagValue])
async def list_tags(services: ServicesDep) -> list[TagValue]:
    """Every tag with its latest value, quality and timestamp."""
    return await services.run_db(tag_values, services.ports.latest_values)


@router.get("/tags/{tag_id:int}", response_model=TagValue)
async def get_tag(tag_id: PathId, services: ServicesDep) -> TagValue:
    found = await services.run_db(tag_values, services.ports.latest_values, tag_id)
    if not found:
        raise NotFound(f"tag {tag_id} does not exist")
    return found[0]


@router.post("/tags/{tag_id:int}/write", response_model=WriteOut,
             responses={409: {"description": "The tag's edge is offline or its connection disabled; nothing was sent."},
                        422: {"description": "Not writable (field writable) or the value does not fit (field value)."},
                        502: {"description": "The edge answered that the PLC write failed."},
                        504: {"description": "The edge did not answer in time; the write may still happen."}})
async def write_tag(tag_id: PathId, body: WriteIn, services: ServicesDep) -> WriteOut:
    """Write a value (engineering units) to a writable tag through its edge; answers the value read back."""
    done = await services.ports.commands.write_tag(tag_id, body.value)
    return WriteOut(tag_id=done.tag_id, ok=True, value=done.value, command_id=done.command_id)


@router.post("/tags", response_model=TagOut, status_code=201)
async def create_tag(body: TagIn, services: ServicesDep) -> TagOut:
    tag, edges = await services.run_db(service.create_tag, body)
    await services.config_changed(edges)
    return _out(TagOut, tag)


@router.get("/tags/{tag_id:int}/config", response_model=TagOut)
async def get_tag_config(tag_id: PathId, services: ServicesDep) -> TagOut:
    return _out(TagOut, await services.run_db(service.get_tag, tag_id))


@router.put("/tags/{tag_id:int}", response_model=TagOut)
async def update_tag(tag_id: PathId, body: TagIn, services: ServicesDep) -> TagOut:
    tag, edges = await services.run_db(service.update_tag, tag_id, body)
    await services.config_changed(edges)
    return _out(TagOut, tag)


@router.delete("/tags/{tag_id:int}", status_code=204)
async def delete_tag(tag_id: PathId, services: ServicesDep) -> Response:
    await services.config_changed(await services.run_db(service.delete_tag, tag_id, services.ports.forget_tags))
    return Response(status_code=204)
