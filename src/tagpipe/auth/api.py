"""REST routes: log in and out, one's own account, users, API tokens and the audit log (read only)."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from tagpipe.auth import audit, auditlog, login, tokens, users
from tagpipe.auth.access import clear_login_cookies, client_address, set_login_cookies
from tagpipe.auth.auditlog import AuditFilter
from tagpipe.auth.policy import policy
from tagpipe.auth.principal import Principal, current
from tagpipe.auth.roles import ROLES, lowest_role
from tagpipe.auth.schemas import (
    AuditOut,
    LoginIn,
    Me,
    PasswordIn,
    PermissionOut,
    RoleOut,
    RolesOut,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserUpdate,
)
from tagpipe.errors import NotAuthenticated
from tagpipe.web.deps import ServicesDep
from tagpipe.web.inputs import PathId

router = APIRouter(prefix="/api", tags=["auth"])


def _me(principal: Principal, csrf: str | None = None) -> Me:
    return Me(username=principal.name, role=principal.role, permissions=sorted(principal.permissions),
              via=principal.via, token_name=principal.token_name, csrf_token=csrf)


def caller() -> Principal:
    principal = current()
    if principal is None:  # the authorize dependency binds one before any route that needs it runs
        raise NotAuthenticated("no credentials")
    return principal


def safe_next(next_path: str | None) -> str:
    """Only a path of this site: a login link must not send the browser elsewhere."""
    parts = urlsplit(next_path or "/")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


# -- log in, log out, own account -----------------------------------------------------------------------------------

@router.post("/auth/login", response_model=Me,
             responses={401: {"description": "Unknown user name or wrong password (the same answer for both)."},
                        429: {"description": "Too many failed log ins for this user or address; see Retry-After."}})
async def log_in(body: LoginIn, request: Request, response: Response, services: ServicesDep) -> Me:
    """Open a browser session: sets the session cookie (HttpOnly) and the CSRF cookie, and answers the CSRF token."""
    audit.note(attempted=body.username.strip().lower()[:120])
    s = services.settings
    principal, secret = await services.run_db(login.login, body.username, body.password, client_address(request),
                                              policy(services).roles, s.session_hours)
    audit.note(principal=principal)
    set_login_cookies(response, request, secret, principal.csrf or "", int(s.session_hours * 3600))
    return _me(principal, principal.csrf)


@router.post("/auth/logout", status_code=204)
async def log_out(services: ServicesDep) -> Response:
    """End this browser session (a bearer token stays valid: revoke it under /api/tokens)."""
    await services.run_db(login.logout, caller().session_id)
    response = Response(status_code=204)
    clear_login_cookies(response)
    return response


@router.get("/auth/link/{secret}", response_class=RedirectResponse, status_code=303,
            responses={303: {"description": "Logged in: on to ``next``; or, when the link is not valid, to /login."}})
async def log_in_by_link(secret: str, request: Request, services: ServicesDep, next: str = "/") -> Response:
    """A one-time login link (``tagpipe demo`` prints one): opens a session, then the link is void."""
    s = services.settings
    address = client_address(request)
    try:
        principal, session_secret = await services.run_db(login.redeem_link, secret, address, policy(services).roles,
                                                          s.session_hours)
    except NotAuthenticated as e:
        await services.run_db(audit.record, principal="", action="log in by link", target="/api/auth/link",
                              status=401, address=address, detail={"reason": str(e)})
        return RedirectResponse("/login?link=invalid", status_code=303)
    await services.run_db(audit.record, principal=principal, action="log in by link", target="/api/auth/link",
                          address=address)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_login_cookies(response, request, session_secret, principal.csrf or "", int(s.session_hours * 3600))
    return response


@router.get("/auth/me", response_model=Me)
async def me() -> Me:
    """Who the credentials of this request belong to, with their role and permissions."""
    return _me(caller())


@router.post("/auth/password", status_code=204,
             responses={401: {"description": "The current password is wrong."}})
async def change_password(body: PasswordIn, services: ServicesDep) -> Response:
    """Change one's own password; every other session of the user ends."""
    await services.run_db(users.change_own_password, caller(), body.current_password, body.new_password)
    return Response(status_code=204)


@router.get("/auth/roles", response_model=RolesOut)
async def roles(services: ServicesDep) -> RolesOut:
    """The built-in roles with their permissions, and what each permission allows."""
    pol = policy(services)
    return RolesOut(roles=[RoleOut(name=r,
                                   permissions=sorted(pol.permissions) if r == "admin" else sorted(pol.roles[r]))
                           for r in ROLES],
                    permissions=[PermissionOut(name=n, description=d, lowest_role=lowest_role(n))
                                 for n, d in sorted(pol.permissions.items())])


# -- users ----------------------------------------------------------------------------------------------------------

def _user(u: object) -> UserOut:
    return UserOut.model_validate(u, from_attributes=True)


@router.get("/users", response_model=list[UserOut])
async def list_users(services: ServicesDep) -> list[UserOut]:
    return [_user(u) for u in await services.run_db(users.list_users)]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(body: UserIn, services: ServicesDep) -> UserOut:
    return _user(await services.run_db(users.create_user, body.username, body.role, body.password))


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(user_id: PathId, body: UserUpdate, services: ServicesDep) -> UserOut:
    """Change a role, lock (disabled) or unlock, or set a new password; locking or a new password ends sessions."""
    return _user(await services.run_db(users.update_user, user_id, role=body.role, disabled=body.disabled,
                                       password=body.password))


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(user_id: PathId, services: ServicesDep) -> Response:
    await services.run_db(users.delete_user, user_id, caller())
    return Response(status_code=204)


# -- API tokens -----------------------------------------------------------------------------------------------------

def token_out(t: object, model: type[TokenOut] = TokenOut, **extra: object) -> TokenOut:
    user = getattr(t, "user", None)
    return model.model_validate({**{k: getattr(t, k) for k in TokenOut.model_fields if k != "username"},
                                 "username": user.username if user else None, **extra})


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(services: ServicesDep, all: bool = Query(False, description="Everyone's (admins).")
                      ) -> list[TokenOut]:
    """Your API tokens with their last use (never the tokens themselves)."""
    return [token_out(t) for t in await services.run_db(_tokens_with_users, caller(), all)]


def _tokens_with_users(session, principal: Principal, everyone: bool) -> list:  # type: ignore[no-untyped-def]
    found = tokens.list_tokens(session, principal, everyone)
    for t in found:
        _ = t.user  # load while the session is open
    return found


@router.post("/tokens", response_model=TokenCreated, status_code=201,
             responses={403: {"description": "The role asked for is higher than yours (or the user's)."}})
async def create_token(body: TokenIn, services: ServicesDep) -> TokenOut:
    """A new API token; the answer holds the token itself, which is shown this once."""

    def create(session):  # type: ignore[no-untyped-def]
        token, secret = tokens.create_token(session, creator, name=body.name, role=body.role,
                                            username=body.username, expires_at=body.expires_at)
        return token_out(token, TokenCreated, token=secret)

    creator = caller()
    return await services.run_db(create)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: PathId, services: ServicesDep) -> Response:
    """Revoke a token: the next request with it is refused."""
    await services.run_db(tokens.revoke_token, caller(), token_id)
    return Response(status_code=204)


# -- audit log ------------------------------------------------------------------------------------------------------

def _filter(principal: str | None, action: str | None, target: str | None, since: dt.datetime | None,
            until: dt.datetime | None, outcome: str | None) -> AuditFilter:
    return AuditFilter(principal=principal, action=action, target=target, since=since, until=until, outcome=outcome)


Outcome = Literal["ok", "refused"]


@router.get("/audit", response_model=list[AuditOut])
async def audit_entries(services: ServicesDep, principal: str | None = None, action: str | None = None,
                        target: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                        outcome: Outcome | None = None, limit: int = Query(200, ge=1, le=5000),
                        before_id: int | None = Query(None, description="Page on: entries older than this id.")
                        ) -> list[AuditOut]:
    """Audit entries, newest first (append-only: there is no route that changes or deletes one)."""
    found = await services.run_db(auditlog.entries, _filter(principal, action, target, since, until, outcome), limit,
                                  before_id)
    return [AuditOut.model_validate(e, from_attributes=True) for e in found]


@router.get("/audit.csv", response_class=StreamingResponse)
async def audit_csv(services: ServicesDep, principal: str | None = None, action: str | None = None,
                    target: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                    outcome: Outcome | None = None) -> StreamingResponse:
    """The filtered audit log as CSV, oldest first."""
    f = _filter(principal, action, target, since, until, outcome)
    chunks = await services.run_db(lambda s: list(auditlog.csv_rows(s, f)))
    return StreamingResponse(iter(chunks), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="tagpipe-audit.csv"'})

