"""REST routes for equipment, connections and tag configuration; every change notifies the affected edges."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tagpipe import drivers
from tagpipe.plant import probe, service
from tagpipe.plant.schemas import (
    BrowseIn,
    BrowseNode,
    ConnectionIn,
    ConnectionOut,
    ConnectionTestIn,
    ConnectionTestOut,
    EquipmentIn,
    EquipmentOut,
    TagIn,
    TagOut,
)
from tagpipe.web.context import current, run_db

router = APIRouter(prefix="/api", tags=["plant"])


def _out(model, obj):  # type: ignore[no-untyped-def]
    return model.model_validate(obj, from_attributes=True)


@router.get("/protocols")
async def protocols() -> dict[str, dict]:
    """Each protocol's settings as JSON Schema (the UI form and the docs are generated from it)."""
    return {name: {"settings": cls.settings_model.model_json_schema(), "description": (cls.__doc__ or "").strip()}
            for name, cls in drivers.DRIVERS.items()}


@router.get("/equipment", response_model=list[EquipmentOut])
async def list_equipment() -> list[EquipmentOut]:
    return [_out(EquipmentOut, e) for e in await run_db(service.list_equipment)]


@router.post("/equipment", response_model=EquipmentOut, status_code=201)
async def create_equipment(body: EquipmentIn) -> EquipmentOut:
    return _out(EquipmentOut, await run_db(service.create_equipment, body))


@router.put("/equipment/{equipment_id}", response_model=EquipmentOut)
async def update_equipment(equipment_id: int, body: EquipmentIn) -> EquipmentOut:
    return _out(EquipmentOut, await run_db(service.update_equipment, equipment_id, body))


@router.delete("/equipment/{equipment_id}", status_code=204)
async def delete_equipment(equipment_id: int) -> Response:
    await current().config_changed(await run_db(service.delete_equipment, equipment_id))
    return Response(status_code=204)


@router.get("/connections", response_model=list[ConnectionOut])
async def list_connections(equipment_id: int | None = None) -> list[ConnectionOut]:
    return [_out(ConnectionOut, c) for c in await run_db(service.list_connections, equipment_id)]


@router.post("/connections", response_model=ConnectionOut, status_code=201)
async def create_connection(body: ConnectionIn) -> ConnectionOut:
    conn = await run_db(service.create_connection, body)
    await current().config_changed([conn.edge_id])
    return _out(ConnectionOut, conn)


@router.post("/connections/test", response_model=ConnectionTestOut)
async def test_connection(body: ConnectionTestIn) -> ConnectionTestOut:
    """Connect from the **server** (not the edge) and read the tags once, before saving.

    Bad settings or tags are 422 naming the field; a device that cannot be reached or refuses a tag is a 200 whose
    ``ok`` is false, with ``reason`` (refused, timed out, unknown host, no answer, misconfigured, tags failed) and,
    per tag, the value or the PLC's error and its reason (unknown address, wrong data type, access denied).
    """
    return await probe.try_connection(body)


@router.post("/connections/{connection_id}/test", response_model=ConnectionTestOut)
async def test_saved_connection(connection_id: int) -> ConnectionTestOut:
    """*Test connection* for a stored connection with its stored tags (from the server, like POST /connections/test)."""
    return await probe.try_connection(await run_db(service.connection_test_body, connection_id))


@router.post("/opcua/browse", response_model=list[BrowseNode])
async def opcua_browse(body: BrowseIn) -> list[BrowseNode]:
    """The children of an OPC UA node (default: Objects), variables with data type, unit and access, from the server."""
    return await probe.browse(body.settings, body.node_id)


@router.put("/connections/{connection_id}", response_model=ConnectionOut)
async def update_connection(connection_id: int, body: ConnectionIn) -> ConnectionOut:
    conn, edges = await run_db(service.update_connection, connection_id, body)
    await current().config_changed(edges)
    return _out(ConnectionOut, conn)


@router.delete("/connections/{connection_id}", status_code=204)
async def delete_connection(connection_id: int) -> Response:
    await current().config_changed(await run_db(service.delete_connection, connection_id))
    return Response(status_code=204)


@router.post("/tags", response_model=TagOut, status_code=201)
async def create_tag(body: TagIn) -> TagOut:
    tag, edges = await run_db(service.create_tag, body)
    await current().config_changed(edges)
    return _out(TagOut, tag)


@router.get("/tags/{tag_id}/config", response_model=TagOut)
async def get_tag_config(tag_id: int) -> TagOut:
    return _out(TagOut, await run_db(service.get_tag, tag_id))


@router.put("/tags/{tag_id}", response_model=TagOut)
async def update_tag(tag_id: int, body: TagIn) -> TagOut:
    tag, edges = await run_db(service.update_tag, tag_id, body)
    await current().config_changed(edges)
    return _out(TagOut, tag)


@router.delete("/tags/{tag_id}", status_code=204)
async def delete_tag(tag_id: int) -> Response:
    await current().config_changed(await run_db(service.delete_tag, tag_id))
    return Response(status_code=204)
