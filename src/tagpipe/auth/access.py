"""The one dependency every API route is included with: who is calling, and may they call this route?

``authorize`` finds the matched route's template (``GET /api/tags/{tag_id}``) in the policy, refuses a route that
declares nothing (403, to everybody), authenticates the caller (a bearer token, else the session cookie; 401 when
neither is valid), asks a cookie-authenticated state change for its CSRF token (403), checks the permission (403)
and binds the principal for the route, the database thread and the audit log.

CSRF: log in sets two cookies, the session (HttpOnly) and ``tagpipe_csrf`` (readable by the page's script); a
POST, PUT, PATCH or DELETE made with the session cookie must echo the latter in the ``X-CSRF-Token`` header, which
another site cannot read. Bearer tokens are never sent by a browser on its own and need no CSRF token.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tagpipe.auth import audit
from tagpipe.auth.cache import CredentialCache
from tagpipe.auth.credentials import digest, same
from tagpipe.auth.identify import by_session, by_token
from tagpipe.auth.policy import policy, route_template
from tagpipe.auth.principal import Principal, bind
from tagpipe.auth.roles import EDGE, PUBLIC
from tagpipe.errors import Forbidden, NotAuthenticated

if TYPE_CHECKING:
    from tagpipe.services import Services

SESSION_COOKIE = "tagpipe_session"
CSRF_COOKIE = "tagpipe_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
# Declares the bearer scheme in the OpenAPI document (the Authorize button of /docs); authenticate() reads the header.
BEARER = HTTPBearer(auto_error=False, description="An API token: tagpipe token create, or POST /api/tokens.")
BearerDoc = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def local_admin(permissions: frozenset[str]) -> Principal:
    """Who acts when authentication is off (``TAGPIPE_AUTH=off``, loopback only)."""
    return Principal(kind="system", name="local", role="admin", permissions=permissions, via="off")


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


async def authenticate(services: Services, request: Request, *, cookie_only: bool = False) -> Principal:
    """The caller's principal; NotAuthenticated naming why not."""
    pol = policy(services)
    if services.settings.auth == "off":
        return local_admin(frozenset(pol.permissions))
    header = None if cookie_only else request.headers.get("authorization")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
        lookup, secret = by_token, secret.strip()
    elif cookie := request.cookies.get(SESSION_COOKIE):
        lookup, secret = by_session, cookie
    else:
        raise NotAuthenticated("no credentials: send 'Authorization: Bearer <token>' or log in")
    cache = credential_cache(services)
    key = f"{lookup.__name__}:{digest(secret)}"
    principal = cache.get(key)
    if principal is None:
        principal = await services.run_db(lookup, secret, pol.roles)
        cache.put(key, principal, principal.valid_until)
    return dataclasses.replace(principal, address=client_address(request))


def credential_cache(services: Services) -> CredentialCache:
    """This process's cache of checked credentials, emptied by every change to users, sessions and tokens."""
    cache = services.state.get("auth.cache")
    if cache is None:
        cache = services.state["auth.cache"] = CredentialCache()
        cache.watch(services.sessions)
    return cache  # type: ignore[no-any-return]


def check_csrf(principal: Principal, request: Request) -> None:
    if request.method in SAFE or principal.via not in ("session", "link"):
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not principal.csrf or not same(sent, principal.csrf):
        raise Forbidden(f"the CSRF token is missing or wrong: a change made with the session cookie must send the "
                        f"{CSRF_HEADER} header with the value of the {CSRF_COOKIE} cookie")


def authorizer(services: Services) -> Callable[[Request], Awaitable[None]]:
    """The dependency for every API router of this app."""
    pol = policy(services)

    async def authorize(request: Request, _: BearerDoc) -> None:
        template = route_template(request.scope)
        permission = pol.permission_of(request.method, template)
        if permission is None:
            raise Forbidden(f"{request.method} {template} declares no permission, so it is refused to everybody")
        if permission == PUBLIC:  # log in, health, an edge asking for credentials with its provisioning key
            return
        principal = await authenticate(services, request)
        if permission == EDGE:  # an edge's own routes: its own credential only (issue 10, item 5)
            edge_id = request.path_params.get("edge_id")
            own = principal.kind == "edge" and principal.name == edge_id
            if not own and principal.via != "off":  # with auth off (loopback only) edges need no credential either
                audit.note(principal=principal)
                raise Forbidden(f"this route answers only edge {edge_id}'s own credential")
            bind(principal)
            return
        audit.note(principal=principal)
        check_csrf(principal, request)
        if not principal.can(permission):
            raise Forbidden(f"this needs the permission {permission}, which the role {principal.role} does not have")
        bind(principal)

    return authorize


def set_login_cookies(response: Response, request: Request, secret: str, csrf: str, max_age_s: int) -> None:
    """The session cookie (HttpOnly, SameSite=Lax, Secure over TLS) and the CSRF cookie the page's script reads."""
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age_s, httponly=True, samesite="lax", secure=secure,
                        path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age_s, httponly=False, samesite="strict", secure=secure,
                        path="/")


def clear_login_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
