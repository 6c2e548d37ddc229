"""REST routes: how a tag's values are stored (every value, or a deadband or swinging door) and its error bound."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.history.compression import Policy
from tagpipe.history.models import TagCompression
from tagpipe.web.deps import ServicesDep
from tagpipe.web.inputs import PathId

router = APIRouter(prefix="/api", tags=["history"])
LOSSLESS = "Every value is stored as it arrived."


class StorageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["lossless", "deadband", "swinging-door"] = Field(
        description="lossless: every value; deadband: a value when it moved more than `deviation` from the last "
                    "stored; swinging-door: OSIsoft PI's compression, within `deviation` of a straight line")
    deviation: float = Field(0.0, ge=0, le=1e12, allow_inf_nan=False, description="In the tag's unit.")
    max_s: int = Field(0, ge=0, le=7 * 86_400, description="Store a value at least this often, seconds (0: no limit).")


class Storage(StorageIn):
    tag_id: int
    bound: str = Field(description="The error bound of what is stored, in words.")


def _storage(tag_id: int, row: TagCompression | None) -> Storage:
    if row is None:
        return Storage(tag_id=tag_id, mode="lossless", bound=LOSSLESS)
    policy = Policy(row.mode, row.deviation, row.max_s)  # type: ignore[arg-type]
    return Storage(tag_id=tag_id, mode=policy.mode, deviation=policy.deviation, max_s=policy.max_s,
                   bound=policy.bound())


def get_storage(session: Session, tag_id: int) -> Storage:
    plant.get_tag(session, tag_id)  # NotFound when there is none
    return _storage(tag_id, session.get(TagCompression, tag_id))


def set_storage(session: Session, tag_id: int, data: StorageIn) -> Storage:
    get_storage(session, tag_id)
    session.execute(delete(TagCompression).where(TagCompression.tag_id == tag_id))
    if data.mode != "lossless":
        session.add(TagCompression(tag_id=tag_id, mode=data.mode, deviation=data.deviation, max_s=data.max_s))
    session.commit()
    return _storage(tag_id, session.get(TagCompression, tag_id))


@router.get("/tags/{tag_id:int}/storage", response_model=Storage)
async def tag_storage(tag_id: PathId, services: ServicesDep) -> Storage:
    """How the tag's values are stored, and the error bound that follows."""
    return await services.run_db(get_storage, tag_id)


@router.put("/tags/{tag_id:int}/storage", response_model=Storage)
async def put_tag_storage(tag_id: PathId, data: StorageIn, services: ServicesDep) -> Storage:
    """Store every value, or only what a deadband or swinging door keeps (from the next batch on)."""
    stored = await services.run_db(set_storage, tag_id, data)
    await services.config_changed([], feature="history")  # the ingest worker reloads the policies
    return stored
