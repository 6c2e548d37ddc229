"""REST routes for retention policies (the default, per equipment, per tag) and the disk usage figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StrictInt
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.history import disk, retention
from tagpipe.history.policy import DEFAULT, MAX_RAW_DAYS, MAX_ROLLUP_MONTHS, Policy, Scope
from tagpipe.web.deps import ServicesDep
from tagpipe.web.inputs import INPUT, PathId

router = APIRouter(prefix="/api", tags=["retention"])

RawDays = Annotated[StrictInt, Field(ge=0, le=MAX_RAW_DAYS)]
RollupMonths = Annotated[StrictInt, Field(ge=0, le=MAX_ROLLUP_MONTHS)]


class PolicyIn(BaseModel):
    """How long to keep a scope's data; 0 or null keeps it forever. 1-hour rollups are always kept."""

    model_config = INPUT

    raw_days: RawDays | None = Field(..., description=f"Days of raw values (0 or null: forever; at most "
                                                      f"{MAX_RAW_DAYS}).", examples=[365])
    rollup_1m_months: RollupMonths | None = Field(..., description=f"Calendar months of 1-minute rollups (0 or "
                                                                   f"null: forever; at most {MAX_ROLLUP_MONTHS}).",
                                                  examples=[24])

    def policy(self) -> Policy:
        return Policy.of(self.raw_days, self.rollup_1m_months)


class PolicyOut(BaseModel):
    raw_days: int | None = Field(..., description="null: forever")
    rollup_1m_months: int | None = Field(..., description="null: forever")
    rollup_1h: str = Field("forever", description="1-hour rollups are always kept.")

    @classmethod
    def of(cls, policy: Policy) -> PolicyOut:
        return cls(raw_days=policy.raw_days, rollup_1m_months=policy.rollup_1m_months)


class Override(PolicyOut):
    id: int
    name: str


class RetentionOut(BaseModel):
    default: PolicyOut = Field(..., description="What every tag keeps unless its equipment or itself says otherwise.")
    builtin: PolicyOut = Field(..., description="The default when none is stored.")
    equipment: list[Override]
    tags: list[Override]


class TagRetention(PolicyOut):
    tag_id: int
    scope: Scope = Field(..., description="Where the policy comes from: the tag's own, its equipment's or the "
                                          "default; the most specific wins.")


class TableOut(BaseModel):
    name: str
    bytes: int = Field(..., description="With its indexes.")


class StorageOut(BaseModel):
    backend: str = Field(..., description="sqlite or postgresql")
    tables: list[TableOut] = Field(..., description="Largest first.")
    database_bytes: int = Field(..., description="The database file (SQLite) or the database (PostgreSQL).")
    reusable_bytes: int = Field(..., description="SQLite: free pages inside the file, used before it grows.")
    path: str | None = Field(None, description="The directory whose disk the figures below are of; null when the "
                                               "database server's disk is not visible to tagpipe.")
    disk_total_bytes: int | None
    disk_free_bytes: int | None
    growth_bytes_per_day: float | None = Field(None, description="Net growth measured over the last day (null "
                                                                 "until an hour of measurements exists).")
    growth_measured_hours: float | None
    days_until_full: float | None = Field(None, description="Disk free (and reusable) bytes over the growth per "
                                                            "day; null when unknown or not growing.")


def overview(session: Session) -> RetentionOut:
    stored = retention.load(session)
    names = {e["id"]: e["name"] for e in plant.equipment_tree(session)}
    tag_names = {t["id"]: t["name"] for t in plant.tag_catalog(session)} if stored.tags else {}
    return RetentionOut(
        default=PolicyOut.of(stored.default), builtin=PolicyOut.of(DEFAULT),
        equipment=[Override(id=i, name=names.get(i, f"equipment {i}"), **PolicyOut.of(p).model_dump())
                   for i, p in sorted(stored.equipment.items()) if i in names],
        tags=[Override(id=i, name=tag_names.get(i, f"tag {i}"), **PolicyOut.of(p).model_dump())
              for i, p in sorted(stored.tags.items()) if i in tag_names])


def storage(session: Session) -> StorageOut:
    u = disk.usage(session)
    return StorageOut(backend=u.backend, tables=[TableOut(name=t.name, bytes=t.bytes) for t in u.tables],
                      database_bytes=u.database_bytes, reusable_bytes=u.reusable_bytes, path=u.path,
                      disk_total_bytes=u.disk_total_bytes, disk_free_bytes=u.disk_free_bytes,
                      growth_bytes_per_day=u.growth.bytes_per_day if u.growth else None,
                      growth_measured_hours=u.growth.span_hours if u.growth else None,
                      days_until_full=u.days_until_full)


@router.get("/storage", response_model=StorageOut)
async def get_storage(services: ServicesDep) -> StorageOut:
    """Disk usage per table, the disk's free space, the growth per day and the days until the disk is full."""
    return await services.run_db(storage)


@router.get("/retention", response_model=RetentionOut)
async def get_retention(services: ServicesDep) -> RetentionOut:
    """The default policy and every equipment's and tag's override."""
    return await services.run_db(overview)


@router.put("/retention/default", response_model=PolicyOut)
async def put_default_retention(body: PolicyIn, services: ServicesDep) -> PolicyOut:
    return PolicyOut.of(await services.run_db(retention.set_policy, "default", 0, body.policy()))


@router.delete("/retention/default", status_code=204)
async def delete_default_retention(services: ServicesDep) -> Response:
    """Back to the built-in default; 404 when none is stored."""
    await services.run_db(retention.clear_policy, "default", 0)
    return Response(status_code=204)


@router.put("/retention/equipment/{equipment_id:int}", response_model=PolicyOut)
async def put_equipment_retention(equipment_id: PathId, body: PolicyIn, services: ServicesDep) -> PolicyOut:
    """The policy of every tag of this equipment that has none of its own."""
    return PolicyOut.of(await services.run_db(retention.set_policy, "equipment", equipment_id, body.policy()))


@router.delete("/retention/equipment/{equipment_id:int}", status_code=204)
async def delete_equipment_retention(equipment_id: PathId, services: ServicesDep) -> Response:
    """Its tags follow the default again."""
    await services.run_db(retention.clear_policy, "equipment", equipment_id)
    return Response(status_code=204)


@router.put("/retention/tags/{tag_id:int}", response_model=PolicyOut)
async def put_tag_retention(tag_id: PathId, body: PolicyIn, services: ServicesDep) -> PolicyOut:
    return PolicyOut.of(await services.run_db(retention.set_policy, "tag", tag_id, body.policy()))


@router.delete("/retention/tags/{tag_id:int}", status_code=204)
async def delete_tag_retention(tag_id: PathId, services: ServicesDep) -> Response:
    """The tag follows its equipment's policy, or the default, again."""
    await services.run_db(retention.clear_policy, "tag", tag_id)
    return Response(status_code=204)


@router.get("/retention/tags/{tag_id:int}", response_model=TagRetention)
async def get_tag_retention(tag_id: PathId, services: ServicesDep) -> TagRetention:
    """The policy the tag has, and where it comes from."""
    policy, scope = await services.run_db(retention.effective, tag_id)
    return TagRetention(tag_id=tag_id, scope=scope, **PolicyOut.of(policy).model_dump())
