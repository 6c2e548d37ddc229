"""RFC 9457 problem+json for every error the API returns: 4xx naming the field, never HTML or a stack trace.

``install`` translates the error tree, FastAPI's validation errors, Starlette's HTTP errors (malformed bodies,
unknown routes) and anything unexpected (500, logged) into problem+json. ``install_api_fallback``, added after every
API route, answers what no route takes under ``/api``: 405 with ``Allow`` when the path exists with other methods,
404 otherwise, so NiceGUI's catch-all never answers an API path with its HTML page. ``document`` puts the Problem
shape into the OpenAPI document for every 4xx (and the 5xx a route declares).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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
    SandboxError,
    TooManyAttempts,
)

log = logging.getLogger(__name__)
MEDIA = "application/problem+json"
API_PREFIX = "/api"


class FieldError(BaseModel):
    field: str = Field(..., description="The input field that is wrong, dotted (e.g. settings.host, tags.0.name).")
    message: str
    line: int | None = Field(None, description="For code: the line of the error.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(None, description="Per field, for 422.")
    command_id: str | None = Field(None, description="For 502 and 504 of a command: the command to look up.")


class SafeJSONResponse(JSONResponse):
    """JSON that never fails on a stored NaN or infinity (a bad row is shown as null, not a 500)."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except ValueError:
            return super().render(_finite(content))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None,
            **extra: object) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return SafeJSONResponse(body, status_code=status, media_type=MEDIA, headers=headers)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install(app: FastAPI, caller_first: Callable[[Request], Awaitable[JSONResponse | None]] | None = None) -> None:
    """Every error as problem+json. ``caller_first`` may answer a request whose body could not even be parsed (not
    UTF-8, not JSON: FastAPI reports it before any dependency runs) with the caller's refusal instead."""

    async def refused(request: Request) -> JSONResponse | None:
        return await caller_first(request) if caller_first is not None else None

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()) and (answer := await refused(request)):
            return answer
        errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid input", detail, errors=errors)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return problem(422, "Invalid input", str(exc), errors=[{"field": exc.field, "message": str(exc)}])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and (answer := await refused(request)):  # "There was an error parsing the body"
            return answer
        return problem(exc.status_code, _phrase(exc.status_code), str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "Internal error", "the server failed to answer this request; the error is logged")

    for error, (status, title) in STATUS.items():
        app.add_exception_handler(error, _handler(status, title))


STATUS: dict[type[Exception], tuple[int, str]] = {
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    DeviceUnreachable: (502, "Device unreachable"),
    DeviceMisconfigured: (422, "Device refused the request"),
    CommandFailed: (502, "The edge could not carry out the command"),
    CommandTimeout: (504, "No answer from the edge"),
    SandboxError: (503, "Sandbox unavailable"),
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


# Every method the fallback answers: HTTP's own, WebDAV's that clients send, and QUERY (the safe method with a body).
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY", "CONNECT", "PROPFIND",
           "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the routes before the API fallback take on ``path``, asked of the router itself (empty when no
    route has that path)."""
    routes = app.router.routes
    fallback = next(i for i, r in enumerate(routes) if getattr(r, "name", None) == "api_fallback")
    allowed = []
    for method in METHODS:
        scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
        if any(route.matches(scope)[0] is Match.FULL for route in routes[:fallback]):
            allowed.append(method)
    return allowed


def install_api_fallback(app: FastAPI) -> None:
    """After every API route: 405 (with Allow) or 404 problem+json for what no API route takes."""

    async def api_fallback(request: Request) -> JSONResponse:
        path = request.url.path
        allowed = allowed_methods(app, path)
        if allowed:
            return problem(405, "Method not allowed", f"{request.method} is not allowed on {path}; "
                           f"allowed: {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})
        return problem(404, "Not found", f"no API route {path}")

    app.add_api_route(API_PREFIX + "/{rest:path}", api_fallback, name="api_fallback", include_in_schema=False,
                      methods=list(METHODS))


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def document(app: FastAPI) -> None:
    """Generate the OpenAPI document once with every error answer described as problem+json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                             openapi_version=app.openapi_version, tags=app.openapi_tags)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (Problem, FieldError):
            shape = model.model_json_schema(ref_template="#/components/schemas/{model}")
            shape.pop("$defs", None)
            components[model.__name__] = shape
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(API_PREFIX):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for code, response in list(responses.items()):
                    if code[0] in "45":
                        responses[code] = _problem_response(response.get("description") or _phrase(int(code)))
                responses.setdefault("4XX", _problem_response("The request is wrong: problem+json says why."))
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
