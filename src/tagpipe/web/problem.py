"""RFC 9457 problem+json for every error the API returns: 4xx naming the field, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tagpipe.errors import (
    CommandFailed,
    CommandTimeout,
    Conflict,
    DeviceMisconfigured,
    DeviceUnreachable,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)

log = logging.getLogger(__name__)
MEDIA = "application/problem+json"


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: object) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
                        status_code=status, media_type=MEDIA, headers=headers)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid input", detail, errors=errors)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return problem(422, "Invalid input", str(exc), errors=[{"field": exc.field, "message": str(exc)}])

    for error, (status, title) in STATUS.items():
        app.add_exception_handler(error, _handler(status, title))


STATUS: dict[type[Exception], tuple[int, str]] = {
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    DeviceUnreachable: (502, "Device unreachable"),
    DeviceMisconfigured: (422, "Device refused the request"),
    CommandFailed: (502, "The edge could not carry out the command"),
    CommandTimeout: (504, "No answer from the edge"),
    NotAuthenticated: (401, "Not authenticated"),
    Forbidden: (403, "Forbidden"),
    TooManyAttempts: (429, "Too many attempts"),
}


def _handler(status: int, title: str):  # type: ignore[no-untyped-def]
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        command_id = getattr(exc, "command_id", None)
        return problem(status, title, str(exc), getattr(exc, "headers", None),
                       **({"command_id": command_id} if command_id else {}))

    return handle
