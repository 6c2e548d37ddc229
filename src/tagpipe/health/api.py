"""``GET /api/health``: every component's state; 503 with the same body when one is down."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tagpipe.health.schemas import Health
from tagpipe.web.deps import ServicesDep

router = APIRouter(tags=["system"])


@router.get("/api/health", response_model=Health,
            responses={503: {"model": Health, "description": "A component is down: the body names it under `down`."}})
async def health(services: ServicesDep) -> JSONResponse:
    """Bus, database, each worker role with its consumer lag, the supervised child processes and the edges."""
    assert services.health is not None, "create_app starts a health monitor"
    report = services.health.report()
    return JSONResponse(report.model_dump(mode="json"), status_code=503 if report.status == "down" else 200)
