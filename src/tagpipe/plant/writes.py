"""Writing a tag's value to its PLC: validated here, sent to the tag's edge as a ``write`` command, answered back.

Outcomes and their HTTP statuses (``POST /api/tags/{id}/write``):

    200  the edge wrote the value; ``value`` is what the PLC returned when read back
    404  no such tag
    422  the tag is not marked writable (field ``writable``) or the value does not fit its type (field ``value``)
    409  the tag's edge is offline or has never connected: nothing was sent
    502  the edge answered that the write failed (the PLC refused it or did not answer); ``detail`` says why
    504  the edge did not answer within the wait; the write may still happen (see ``command_id``)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from tagpipe.codec import encode_bytes, unscale_value
from tagpipe.contracts.config import TagConfig
from tagpipe.errors import Conflict, InvalidInput, NotFound, TagpipeError
from tagpipe.plant.models import Tag
from tagpipe.web.context import run_db

WAIT_S = 5.0


class WriteFailed(TagpipeError):
    """The edge did not write: it answered with an error (502) or not at all (504)."""

    def __init__(self, status: int, title: str, detail: str, command_id: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.command_id = status, title, detail, command_id


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteTarget:
    tag_id: int
    tag: str
    device_id: str
    edge_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    tag_id: int
    value: Any
    command_id: str


def write_target(session: Session, tag_id: int, value: object) -> WriteTarget:
    """Check the tag may be written and the value fits its type (InvalidInput naming ``writable`` or ``value``)."""
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise NotFound(f"tag {tag_id} does not exist")
    if tag.connection is None:
        raise InvalidInput("writable", f"a tag of a configured connection; {tag.name} was discovered from published "
                                       "data and has no PLC to write to")
    if not tag.writable:
        raise InvalidInput("writable", f"a tag marked writable; {tag.name} is read-only (set writable to true in its "
                                       "configuration to allow writes)")
    cfg = TagConfig.model_validate(tag, from_attributes=True)
    raw = unscale_value(value, cfg.scale, cfg.offset, cfg.data_type)
    encode_bytes(raw, cfg.data_type, cfg.byte_order, cfg.length)
    return WriteTarget(tag_id=tag.id, tag=tag.name, device_id=str(tag.connection.id), edge_id=tag.connection.edge_id)


def _edge_status(session: Session, edge_id: str) -> str | None:
    from tagpipe.fleet.models import Edge

    edge = session.get(Edge, edge_id)
    return edge.status if edge else None


async def write_tag(tag_id: int, value: object, wait_s: float = WAIT_S) -> Written:
    """Validate, send the write to the tag's edge, wait for its answer; raises InvalidInput, Conflict or WriteFailed."""
    from tagpipe.fleet.api import send_command

    target: WriteTarget = await run_db(write_target, tag_id, value)
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
