"""Which PLC a tag write goes to, once the tag and value are checked (the sending is the fleet's job)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from tagpipe.codec import encode_bytes, unscale_value
from tagpipe.contracts.config import TagConfig
from tagpipe.db import fits
from tagpipe.errors import Conflict, InvalidInput, NotFound
from tagpipe.plant.models import Tag


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteTarget:
    tag_id: int
    tag: str
    device_id: str
    edge_id: str


def write_target(session: Session, tag_id: int, value: object) -> WriteTarget:
    """Check the tag may be written and the value fits its type (InvalidInput naming ``writable`` or ``value``; Conflict
    when its connection is disabled)."""
    tag = session.get(Tag, tag_id) if fits(tag_id) else None
    if tag is None:
        raise NotFound(f"tag {tag_id} does not exist")
    if tag.connection is None:
        raise InvalidInput("writable", f"a tag of a configured connection; {tag.name} was discovered from published "
                                       "data and has no PLC to write to")
    if not tag.writable:
        raise InvalidInput("writable", f"a tag marked writable; {tag.name} is read-only (set writable to true in its "
                                       "configuration to allow writes)")
    if not tag.connection.enabled:
        raise Conflict(f"connection {tag.connection.name!r} of {tag.name} is disabled: no edge polls it, so the write "
                       "was not sent")
    cfg = TagConfig.model_validate(tag, from_attributes=True)
    raw = unscale_value(value, cfg.scale, cfg.offset, cfg.data_type)
    encode_bytes(raw, cfg.data_type, cfg.byte_order, cfg.length)
    return WriteTarget(tag_id=tag.id, tag=tag.name, device_id=str(tag.connection.id), edge_id=tag.connection.edge_id)
