"""REST routes for what ingest did not store: rejects counted per edge, and the dead letters with their payloads."""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from tagpipe.contracts import iso_timestamp
from tagpipe.db import dead_letters
from tagpipe.errors import Conflict, NotFound
from tagpipe.services import Services
from tagpipe.web.deps import ServicesDep

router = APIRouter(prefix="/api/ingest", tags=["ingest"])
INGEST = "ingest"  # the ingest worker's consumer
RECENT = 5


class DeadLetterOut(BaseModel):
    id: int
    consumer: str = Field(..., description="The worker role's consumer: ingest, fleet-status, fleet-responses.")
    edge_id: str
    subject: str
    reason: str = Field(..., description="What was expected, naming the field, or why storing failed.")
    received: str = Field(..., description="When the bus stored the message (RFC 3339).")
    parked: str = Field(..., description="When it was dead-lettered (RFC 3339).")
    payload_size: int = Field(..., description="Bytes of the payload as received.")
    stream_seq: int | None = Field(None, description="Its sequence in the device stream.")
    deliveries: int


class DeadLetterDetail(DeadLetterOut):
    payload_truncated: bool = Field(..., description="Only the first MiB of a longer payload is kept.")
    payload_base64: str
    payload_text: str | None = Field(None, description="The payload as text, when it is UTF-8.")


class DeadLetterPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[DeadLetterOut]


def as_text(payload: bytes) -> str | None:
    try:
        return payload.decode()
    except UnicodeDecodeError:
        return None


def _out(row: Any) -> dict[str, Any]:
    return {"id": row.id, "consumer": row.consumer, "edge_id": row.edge_id, "subject": row.subject,
            "reason": row.reason, "received": iso_timestamp(row.received_ms), "parked": iso_timestamp(row.parked_ms),
            "payload_size": row.payload_size, "stream_seq": row.stream_seq, "deliveries": row.deliveries}


def out(row: Any) -> DeadLetterOut:
    return DeadLetterOut(**_out(row))


def rejects(session: Session) -> dict[str, dict[str, Any]]:
    """Per edge: dead letters of ingest since the start, the last reason and the most recent letters."""
    _, rows = dead_letters.page(session, limit=200, consumer=INGEST)
    recent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if len(recent[row.edge_id]) < RECENT:
            recent[row.edge_id].append({"id": row.id, "reason": row.reason, "received": iso_timestamp(row.received_ms),
                                        "subject": row.subject})
    return {c.edge_id: {"count": c.count, "last_error": c.last_reason, "last_ts": c.last_ms,
                        "recent": recent.get(c.edge_id, [])} for c in dead_letters.counts(session, INGEST)}


def letter(session: Session, letter_id: int) -> dead_letters.DeadLetter:
    found = dead_letters.get(session, letter_id)
    if found is None:
        raise NotFound(f"dead letter {letter_id} does not exist (or was dropped as one of the oldest)")
    return found


@router.get("/rejects")
async def ingest_rejects(services: ServicesDep) -> dict[str, dict]:
    """Data messages that were not stored, per edge: how many since the start, the last reason (field and what was
    expected) and the most recent dead letters."""
    return await services.run_db(rejects)


@router.get("/dead-letters", response_model=DeadLetterPage)
async def list_dead_letters(services: ServicesDep, offset: int = Query(0, ge=0, le=2**31),
                            limit: int = Query(50, ge=1, le=500),
                            consumer: str | None = Query(None, max_length=120),
                            edge_id: str | None = Query(None, max_length=120)) -> DeadLetterPage:
    """Dead letters of every worker role, the newest first."""
    total, rows = await services.run_db(lambda s: dead_letters.page(s, offset=offset, limit=limit, consumer=consumer,
                                                           edge_id=edge_id))
    return DeadLetterPage(total=total, offset=offset, limit=limit, items=[out(r) for r in rows])


@router.get("/dead-letters/{letter_id}", response_model=DeadLetterDetail)
async def get_dead_letter(services: ServicesDep, letter_id: int = Path(..., ge=1, le=2**63 - 1)) -> DeadLetterDetail:
    """One dead letter with its raw payload (base64, and as text when it is UTF-8)."""
    found = await services.run_db(letter, letter_id)
    return DeadLetterDetail(**_out(found), payload_truncated=len(found.payload) < found.payload_size,
                            payload_base64=base64.b64encode(found.payload).decode(),
                            payload_text=as_text(found.payload))


@router.get("/dead-letters/{letter_id}/payload", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
async def dead_letter_payload(services: ServicesDep, letter_id: int = Path(..., ge=1, le=2**63 - 1)) -> Response:
    """The raw payload bytes as received (the first MiB of a longer one)."""
    return Response((await services.run_db(letter, letter_id)).payload, media_type="application/octet-stream")


async def forget(services: Services, letter_id: int) -> None:
    """Delete a dead letter (the counts per edge stay)."""
    if not await services.run_db(dead_letters.remove, letter_id):
        raise NotFound(f"dead letter {letter_id} does not exist")


async def republish(services: Services, letter_id: int) -> int:
    """Publish a dead letter's payload again on its subject, then delete it; returns its new stream sequence."""
    found = await services.run_db(letter, letter_id)
    if len(found.payload) < found.payload_size:
        raise Conflict(f"dead letter {letter_id} kept only {len(found.payload)} of {found.payload_size} bytes")
    nc = services.nc
    if nc is None or not nc.is_connected:
        raise Conflict("the bus is not connected; try again in a moment")
    ack = await nc.jetstream().publish(found.subject, found.payload,
                                       headers={"Nats-Msg-Id": f"republish-{letter_id}-{time.time_ns()}"})
    await services.run_db(dead_letters.remove, letter_id)
    return ack.seq


@router.delete("/dead-letters/{letter_id}", status_code=204)
async def delete_dead_letter(services: ServicesDep, letter_id: int = Path(..., ge=1, le=2**63 - 1)) -> Response:
    """Forget a dead letter (the counts per edge stay)."""
    await forget(services, letter_id)
    return Response(status_code=204)


@router.post("/dead-letters/{letter_id}/republish")
async def republish_dead_letter(services: ServicesDep,
                                letter_id: int = Path(..., ge=1, le=2**63 - 1)) -> dict[str, int]:
    """Publish the payload again on its subject (after the cause was fixed, e.g. the window or a bound widened);
    the dead letter is removed once the stream has it. A payload that was cut cannot be sent again."""
    return {"stream_seq": await republish(services, letter_id)}
