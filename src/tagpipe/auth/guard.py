"""Every page behind the session: a page handler wrapped so that a visitor without a session goes to /login and one
without the page's permission sees why, and the tab remembers who loaded it (for its later events and the audit)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from nicegui import context, ui

from tagpipe.auth.access import authenticate
from tagpipe.auth.principal import bind, remember_client
from tagpipe.auth.roles import PUBLIC
from tagpipe.errors import NotAuthenticated

if TYPE_CHECKING:
    from tagpipe.feature import Page, PageHandler
    from tagpipe.services import Services


def page_guard(services: Services, page: Page) -> PageHandler:
    """``page.handler`` without its services argument, behind log in and the page's permission."""
    params = list(inspect.signature(page.handler).parameters.values())[1:]
    wants_request = any(p.name == "request" for p in params)

    async def guarded(request: Request, **kwargs: Any) -> Response | None:
        if wants_request:
            kwargs["request"] = request
        if page.permission != PUBLIC:
            try:
                principal = await authenticate(services, request, cookie_only=True)
            except NotAuthenticated:
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
            bind(principal)
            remember_client(context.client, principal)
            if page.permission is None or not principal.can(page.permission):
                from tagpipe.web.shell import page as shell

                context.client.status_code = 403
                need = page.permission or "a permission nobody declared"
                with shell(services, "Not allowed"):
                    ui.label(f"This page needs {need}; your role ({principal.role}) does not have it.").props(
                        "data-testid=forbidden")
                return None
        await page.handler(services, **kwargs)
        return None

    guarded.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
         *[p for p in params if p.name != "request"]])
    guarded.__name__ = getattr(page.handler, "__name__", "page")
    return guarded
