"""Hook scripts: CRUD, a new version on every change, history, diff, rollback, and each edge's scripts."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.contracts.config import ScriptConfig
from tagpipe.db.base import fits, utcnow
from tagpipe.errors import InvalidInput, NotFound
from tagpipe.ports import EdgeStates
from tagpipe.scripts.models import Script, ScriptVersion
from tagpipe.scripts.schemas import ScriptIn, ScriptStats, ScriptUpdate
from tagpipe.scripts.scope import EVERY_EDGE, edges_of, expand

PLACEMENT = ("hook_type", "scope", "equipment_id", "connection_id", "device_id", "priority", "timeout_ms")
def _target(script: Script | ScriptIn) -> dict[str, Any]:
    return {"equipment_id": script.equipment_id, "connection_id": script.connection_id, "device_id": script.device_id}


def reach(session: Session, scripts: list[Script], tree: list[dict] | None = None) -> set[str]:
    """Every edge that any of ``scripts`` reaches (global means every edge with connections)."""
    tree = plant.equipment_tree(session) if tree is None else tree
    sets = [edges_of(s.scope, equipment=tree, **_target(s)) for s in scripts]
    return expand(sets, plant.edges_in_use(session) if EVERY_EDGE in sets else [])


def _check_target(session: Session, s: Script) -> None:
    tree = plant.equipment_tree(session)
    if s.scope == "equipment":
        if s.equipment_id is None or s.equipment_id not in {e["id"] for e in tree}:
            raise InvalidInput("equipment_id", "an existing equipment id when scope is equipment", s.equipment_id)
    elif s.scope == "connection":
        if s.connection_id is None or s.connection_id not in {c["id"] for e in tree for c in e["connections"]}:
            raise InvalidInput("connection_id", "an existing connection id when scope is connection", s.connection_id)
    elif s.scope == "device" and not s.device_id:
        raise InvalidInput("device_id", "an edge id when scope is device", s.device_id)
    # Only the field of the chosen scope is kept, so a stale target never travels to edges.
    s.equipment_id = s.equipment_id if s.scope == "equipment" else None
    s.connection_id = s.connection_id if s.scope == "connection" else None
    s.device_id = s.device_id if s.scope == "device" else None


def _snapshot(s: Script, comment: str) -> ScriptVersion:
    return ScriptVersion(script_id=s.id, version=s.version, code=s.code, comment=comment,
                         settings={k: getattr(s, k) for k in PLACEMENT})


def list_scripts(session: Session, *, hook_type: str | None = None, scope: str | None = None,
                 enabled: bool | None = None, equipment_id: int | None = None,
                 connection_id: int | None = None) -> list[Script]:
    q = select(Script).order_by(Script.hook_type, Script.priority, Script.id)
    if any(i is not None and not fits(i) for i in (equipment_id, connection_id)):
        return []
    for column, value in ((Script.hook_type, hook_type), (Script.scope, scope), (Script.enabled, enabled),
                          (Script.equipment_id, equipment_id), (Script.connection_id, connection_id)):
        if value is not None:
            q = q.where(column == value)
    return list(session.scalars(q))


def get_script(session: Session, script_id: int) -> Script:
    script = session.get(Script, script_id) if fits(script_id) else None
    if script is None:
        raise NotFound(f"script {script_id} does not exist")
    return script


def create_script(session: Session, data: ScriptIn) -> tuple[Script, set[str]]:
    """Store a new script as version 1; returns it and the edges to notify."""
    script = Script(**data.model_dump(), version=1)
    _check_target(session, script)
    session.add(script)
    session.flush()
    session.add(_snapshot(script, "created"))
    session.commit()
    return script, reach(session, [script]) if script.enabled else set()


def update_script(session: Session, script_id: int, data: ScriptUpdate) -> tuple[Script, set[str]]:
    """Apply the given fields; a change of code or placement is stored as a new version."""
    script = get_script(session, script_id)
    before = reach(session, [script]) if script.enabled else set()
    old = {k: getattr(script, k) for k in (*PLACEMENT, "code")}
    changes = data.model_dump(exclude_unset=True, exclude={"comment"})
    for key, value in changes.items():
        if value is not None or key in ("equipment_id", "connection_id", "device_id"):
            setattr(script, key, value)
    _check_target(session, script)
    if any(getattr(script, k) != v for k, v in old.items()):
        script.version += 1
        session.add(_snapshot(script, data.comment or "saved"))
    script.updated_at = utcnow()
    session.commit()
    after = reach(session, [script]) if script.enabled else set()
    return script, before | after


def delete_script(session: Session, script_id: int) -> set[str]:
    script = get_script(session, script_id)
    edges = reach(session, [script]) if script.enabled else set()
    session.delete(script)
    session.commit()
    return edges


def versions(session: Session, script_id: int) -> list[ScriptVersion]:
    return list(get_script(session, script_id).versions)


def get_version(session: Session, script_id: int, version: int) -> ScriptVersion:
    found = session.scalar(select(ScriptVersion).where(ScriptVersion.script_id == script_id,
                                                       ScriptVersion.version == version)) if fits(version) else None
    if found is None:
        get_script(session, script_id)
        raise NotFound(f"script {script_id} has no version {version}")
    return found


def diff(session: Session, script_id: int, from_version: int, to_version: int) -> str:
    """Unified diff of the code of two versions (empty when equal)."""
    a, b = get_version(session, script_id, from_version), get_version(session, script_id, to_version)
    return "".join(difflib.unified_diff(a.code.splitlines(keepends=True), b.code.splitlines(keepends=True),
                                        fromfile=f"v{from_version}", tofile=f"v{to_version}"))


def rollback(session: Session, script_id: int, version: int) -> tuple[Script, set[str]]:
    """Make an old version current again, as a new version with its code and placement."""
    old = get_version(session, script_id, version)
    script = get_script(session, script_id)
    before = reach(session, [script]) if script.enabled else set()
    script.code = old.code
    for key, value in old.settings.items():
        if key in PLACEMENT:
            setattr(script, key, value)
    _check_target(session, script)
    script.version += 1
    session.add(_snapshot(script, f"rollback to v{version}"))
    session.commit()
    after = reach(session, [script]) if script.enabled else set()
    return script, before | after


def scripts_for_edge(session: Session, edge_id: str) -> list[ScriptConfig]:
    """The enabled scripts whose scope reaches ``edge_id``, as the EdgeConfig's ``scripts[]`` (fleet's provider)."""
    tree = plant.equipment_tree(session)
    out = []
    for s in list_scripts(session, enabled=True):
        reach_set = edges_of(s.scope, equipment=tree, **_target(s))
        if reach_set is EVERY_EDGE or edge_id in reach_set:
            out.append(ScriptConfig(id=s.id, hook_type=s.hook_type, script_name=s.name, scope=s.scope,  # type: ignore[arg-type]
                                    equipment_id=s.equipment_id, connection_id=s.connection_id,
                                    device_id=s.device_id, priority=s.priority, timeout_ms=s.timeout_ms,
                                    version=s.version, code=s.code))
    return sorted(out, key=lambda c: (c.hook_type, c.priority, c.id))


def stats(session: Session, edge_states: EdgeStates, script_id: int) -> list[ScriptStats]:
    """How often the script ran on each edge that reports it, with errors, timeouts and the last error."""
    get_script(session, script_id)
    return [_stats(edge_id, state.status, state.scripts[str(script_id)])
            for edge_id, state in sorted(edge_states(session).items()) if str(script_id) in state.scripts]


def _stats(edge_id: str, status: str, counters: object) -> ScriptStats:
    """One edge's counters as its heartbeat stored them; counters of the wrong shape are left out, not a 500."""
    fields = {k: v for k, v in counters.items() if k in ScriptStats.model_fields and k != "edge_id"} \
        if isinstance(counters, dict) else {}
    try:
        return ScriptStats(edge_id=edge_id, edge_status=status, **fields)
    except ValidationError:
        return ScriptStats(edge_id=edge_id, edge_status=status)


def edge_config_part(session: Session, edge_id: str) -> dict[str, Any]:
    """The ``scripts`` of an edge's config (this feature's part of the EdgeConfig)."""
    return {"scripts": scripts_for_edge(session, edge_id)}
