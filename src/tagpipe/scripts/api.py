"""REST routes under /api/fleet/scripts (the seed's table): hook types, CRUD, dry run, versions, diff, rollback."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from tagpipe.sandbox import HOOK_TYPES
from tagpipe.scripts import dryrun, service
from tagpipe.scripts.schemas import (
    DiffOut,
    DryRunIn,
    DryRunOut,
    HookTypeName,
    HookTypeOut,
    SandboxOut,
    ScopeName,
    ScriptIn,
    ScriptOut,
    ScriptStats,
    ScriptUpdate,
    VersionOut,
)
from tagpipe.web.deps import ServicesDep
from tagpipe.web.inputs import MAX_INT64, PathId, QueryId
from tagpipe.web.problem import problem

router = APIRouter(prefix="/api/fleet/scripts", tags=["scripts"])


def _out(obj) -> ScriptOut:  # type: ignore[no-untyped-def]
    return ScriptOut.model_validate(obj, from_attributes=True)


def rejected(e: dryrun.CodeRejected) -> JSONResponse:
    """422 problem+json naming ``code`` with each error's line and message."""
    errors = [{"field": "code", "message": err.message, "line": err.line} for err in e.errors]
    return problem(422, "Invalid code", f"code: {dryrun.describe(e.errors[0])}", errors=errors)


@router.get("/hook-types", response_model=list[HookTypeOut])
async def hook_types() -> list[HookTypeOut]:
    """The five hook types with the function to define, its signature, a description and example code."""
    return [HookTypeOut(**{**dataclasses.asdict(h), "arguments": list(h.arguments)}) for h in HOOK_TYPES.values()]


@router.get("/sandbox", response_model=SandboxOut)
async def sandbox(services: ServicesDep) -> SandboxOut:
    """Whether the server's sandbox workers have no network (seccomp filter, network namespace), as they reported."""
    return SandboxOut.model_validate(dryrun.pool(services).isolation)


@router.get("", response_model=list[ScriptOut])
async def list_scripts(services: ServicesDep, hook_type: HookTypeName | None = None, scope: ScopeName | None = None,
                       enabled: bool | None = None, equipment_id: QueryId = None,
                       connection_id: QueryId = None) -> list[ScriptOut]:
    found = await services.run_db(service.list_scripts, hook_type=hook_type, scope=scope, enabled=enabled,
                         equipment_id=equipment_id, connection_id=connection_id)
    return [_out(s) for s in found]


@router.post("/dry-run", response_model=DryRunOut)
async def dry_run(body: DryRunIn, services: ServicesDep) -> DryRunOut:
    """Run unsaved code once in the server's sandbox: result, prints, duration_ms, or the error with its line."""
    return await dryrun.dry_run(dryrun.pool(services), body)


@router.get("/{script_id:int}", response_model=ScriptOut)
async def get_script(script_id: PathId, services: ServicesDep) -> ScriptOut:
    return _out(await services.run_db(service.get_script, script_id))


@router.post("", response_model=ScriptOut, status_code=201)
async def create_script(body: ScriptIn, services: ServicesDep) -> ScriptOut | JSONResponse:
    """Validate the code (compile errors and a missing hook function are refused), store version 1, notify edges."""
    try:
        await dryrun.check_code(dryrun.pool(services), body.code, body.hook_type)
    except dryrun.CodeRejected as e:
        return rejected(e)
    script, edges = await services.run_db(service.create_script, body)
    await services.config_changed(edges, feature="scripts")
    return _out(script)


@router.put("/{script_id:int}", response_model=ScriptOut)
async def update_script(script_id: PathId, body: ScriptUpdate, services: ServicesDep) -> ScriptOut | JSONResponse:
    """Change a script; a change of code or placement is a new version, and the affected edges reload it."""
    existing = _out(await services.run_db(service.get_script, script_id))
    try:
        await dryrun.check_code(dryrun.pool(services), body.code or existing.code, body.hook_type or existing.hook_type)
    except dryrun.CodeRejected as e:
        return rejected(e)
    script, edges = await services.run_db(service.update_script, script_id, body)
    await services.config_changed(edges, feature="scripts")
    return _out(script)


@router.delete("/{script_id:int}", status_code=204)
async def delete_script(script_id: PathId, services: ServicesDep) -> Response:
    await services.config_changed(await services.run_db(service.delete_script, script_id), feature="scripts")
    return Response(status_code=204)


@router.get("/{script_id:int}/versions", response_model=list[VersionOut])
async def versions(script_id: PathId, services: ServicesDep) -> list[VersionOut]:
    """Every saved version, oldest first."""
    return [VersionOut.model_validate(v, from_attributes=True)
            for v in await services.run_db(service.versions, script_id)]


@router.get("/{script_id:int}/diff", response_model=DiffOut)
async def diff(script_id: PathId, services: ServicesDep, from_: int = Query(..., alias="from", ge=1, le=MAX_INT64),
               to: int = Query(..., ge=1, le=MAX_INT64)) -> DiffOut:
    """Unified diff of the code between two versions."""
    text = await services.run_db(service.diff, script_id, from_, to)
    return DiffOut(script_id=script_id, from_version=from_, to_version=to, diff=text)


@router.post("/{script_id:int}/rollback/{version:int}", response_model=ScriptOut)
async def rollback(script_id: PathId, version: PathId, services: ServicesDep) -> ScriptOut:
    """Make an old version current again; it is stored as a new version."""
    script, edges = await services.run_db(service.rollback, script_id, version)
    await services.config_changed(edges, feature="scripts")
    return _out(script)


@router.get("/{script_id:int}/stats", response_model=list[ScriptStats])
async def stats(script_id: PathId, services: ServicesDep) -> list[ScriptStats]:
    """Per edge: runs, errors, timeouts and the last error with its line, from the edges' heartbeats."""
    return await services.run_db(service.stats, services.ports.edge_states, script_id)
