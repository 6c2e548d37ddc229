"""Commands to edges, and writing a tag's value to its PLC: validated here, sent to the tag's edge as a ``write`` command, answered back.

Outcomes and their HTTP statuses (``POST /api/tags/{id}/write``):

    200  the edge wrote the value; ``value`` is what the PLC returned when read back
    404  no such tag
    422  the tag is not marked writable (field ``writable``) or the value does not fit its type (field ``value``)
    409  the tag's edge is offline or has never connected: nothing was sent
    502  the edge answered that the write failed (the PLC refused it or did not answer); ``detail`` says why
    504  the edge did not answer within the wait; the write may still happen (see ``command_id``)
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.errors import Conflict, NotFound, TagpipeError
from tagpipe.fleet import service
from tagpipe.fleet.models import Command, Edge
from tagpipe.web.context import current, run_db

WAIT_S = 5.0


class CommandOut(BaseModel):
    id: str
    edge_id: str
    command: str
    status: str
    result: Any = None
    error: str | None = None


class WriteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: bool | int | float | str = Field(..., description="In engineering units (scale and offset are undone).",
                                            examples=[42.5])


class WriteOut(BaseModel):
    tag_id: int
    ok: bool
    value: Any = Field(None, description="The value read back from the PLC after the write.")
    command_id: str


class WriteFailed(TagpipeError):
    """The edge did not write: it answered with an error (502) or not at all (504)."""

    def __init__(self, status: int, title: str, detail: str, command_id: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.command_id = status, title, detail, command_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    tag_id: int
    value: Any
    command_id: str


async def send_command(edge_id: str, command: str, params: dict[str, Any], wait_s: float = 0.0) -> CommandOut:
    """Publish a command to an edge; with ``wait_s`` wait for its response."""
    ctx = current()
    cmd = await run_db(service.new_command, edge_id, command, params)
    if ctx.nc is not None and ctx.nc.is_connected:
        body = json.dumps({"id": cmd.id, "command": command, "params": params}).encode()
        await ctx.nc.publish(ctx.subjects.device(edge_id, "commands"), body)
        await ctx.nc.flush()
    deadline = time.monotonic() + wait_s
    while True:
        out = await run_db(load_command, cmd.id)
        if out.status != "sent" or time.monotonic() >= deadline:
            return out
        await asyncio.sleep(0.05)


def load_command(session: Session, command_id: str) -> CommandOut:
    cmd = session.get(Command, command_id)
    if cmd is None:
        raise NotFound(f"command {command_id} does not exist")
    return CommandOut.model_validate(cmd, from_attributes=True)


def _edge_status(session: Session, edge_id: str) -> str | None:
    edge = session.get(Edge, edge_id)
    return edge.status if edge else None


async def write_tag(tag_id: int, value: object, wait_s: float = WAIT_S) -> Written:
    """Validate, send the write to the tag's edge, wait for its answer; raises InvalidInput, Conflict or WriteFailed."""
    target = await run_db(plant.write_target, tag_id, value)
    status = await run_db(_edge_status, target.edge_id)
    if status != "online":
        state = "has never connected" if status is None else "is offline"
        raise Conflict(f"edge {target.edge_id!r} {state}; the write to {target.tag} was not sent")
    out = await send_command(target.edge_id, "write",
                             {"device_id": target.device_id, "tag": target.tag, "value": value}, wait_s)
    if out.status == "ok":
        result = out.result if isinstance(out.result, dict) else {}
        return Written(tag_id=target.tag_id, value=result.get("value"), command_id=out.id)
    if out.status == "error":
        raise WriteFailed(502, "Write failed", f"edge {target.edge_id} could not write {target.tag}: {out.error}", out.id)
    raise WriteFailed(504, "No answer from the edge", f"edge {target.edge_id} did not answer within {wait_s:g} s; the "
                      f"write may still happen (GET /api/fleet/commands/{out.id})", out.id)
