"""Auth: users, sessions, API tokens, roles and permissions, the audit log, secrets at rest.

Infrastructure that declares itself like a feature (first in FEATURES, for its tables, routes, pages and CLI) and
imports no feature; the ``features`` contract lists it under ``infrastructure``. Features declare permissions and
the permission of each route and page in their ``Feature``; they never check them. The server includes every
router with ``access.authorizer`` and mounts pages behind ``guard.page_guard``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tagpipe.auth.principal import Principal, current
from tagpipe.auth.roles import EDGE, PUBLIC, ROLES
from tagpipe.feature import Feature, Nav, Page

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter


def allowed(permission: str) -> bool:
    """Whether whoever acts now (the API caller, the browser tab) holds ``permission``: for showing an action."""
    principal = current()
    return principal is not None and principal.can(permission)


def _routers() -> Sequence[APIRouter]:
    from tagpipe.auth.api import router

    return [router]


def _pages() -> Sequence[Page]:
    from tagpipe.auth.ui import PAGES

    return PAGES


def _cli() -> typer.Typer:
    from tagpipe.auth.cli import app

    return app


SELF, MANAGE = "account.self", "users.manage"

FEATURE = Feature(
    name="auth",
    models=("tagpipe.auth.models",),
    routers=_routers,
    pages=_pages,
    nav=(Nav(label="Users", path="/admin/users", order=900), Nav(label="Audit", path="/audit", order=910)),
    permissions={
        SELF: "Log in and out, change one's own password, create and revoke one's own API tokens.",
        MANAGE: "Create, change, lock and delete users; create and revoke anybody's API tokens.",
        "audit.review": "Read and export the audit log.",
        "system.read": "Read the server's metrics.",
    },
    access={
        "POST /api/auth/login": PUBLIC,
        "GET /api/auth/link/{secret}": PUBLIC,
        "POST /api/auth/logout": SELF,
        "GET /api/auth/me": SELF,
        "POST /api/auth/password": SELF,
        "GET /api/auth/roles": SELF,
        "GET /api/users": MANAGE,
        "POST /api/users": MANAGE,
        "PATCH /api/users/{user_id}": MANAGE,
        "DELETE /api/users/{user_id}": MANAGE,
        "GET /api/tokens": SELF,
        "POST /api/tokens": SELF,
        "DELETE /api/tokens/{token_id}": SELF,
        "GET /api/audit": "audit.review",
        "GET /api/audit.csv": "audit.review",
    },
    cli=_cli,
)

__all__ = ["EDGE", "FEATURE", "PUBLIC", "ROLES", "Principal", "allowed", "current"]
