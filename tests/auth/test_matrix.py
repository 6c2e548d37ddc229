"""The permission matrix, generated from the OpenAPI document: every route x every role x no credentials answers as
the features' access tables declare (401 without credentials, 403 without the permission, never a 5xx), and every
page likewise. A route or page that declares nothing fails here, by name."""

from __future__ import annotations

import re

import httpx
import pytest

from tagpipe.auth.policy import build_policy
from tagpipe.auth.roles import EDGE, PUBLIC, ROLES
from tagpipe.features import FEATURES
from tagpipe.server import SYSTEM_ACCESS
from tests.conftest import ADMIN_PASSWORD, Central

POLICY = build_policy(FEATURES, SYSTEM_ACCESS)
PASSWORD = "matrix-password"


def pages() -> dict[str, str | None]:
    return {p.path: p.permission for f in FEATURES for p in (f.pages() if f.pages else ())}


def url_of(path: str, operation: dict) -> str:
    """The path with each parameter filled in with a value of its type that names nothing stored."""
    params = {p["name"]: p.get("schema", {}) for p in operation.get("parameters", []) if p["in"] == "path"}

    def fill(m: re.Match[str]) -> str:
        kind = params.get(m.group(1), {}).get("type")
        return "999999" if kind == "integer" else "nope"

    return re.sub(r"\{(\w+)\}", fill, path)


# Public routes that check a credential of their own (an edge's enrollment secret): 401 for a wrong one, to everybody.
OWN_CREDENTIAL = {"POST /api/fleet/v1/edges/{edge_id}/credentials"}
EDGE_ROLE = "edge nope"  # the credential of edge "nope", whose id url_of puts in every path


def expected(permission: str, role: str | None, route: str = "") -> str:
    if route in OWN_CREDENTIAL:
        return "401"
    if permission == PUBLIC:
        return "allowed"
    if role is None:
        return "401"
    if permission == EDGE:  # the edge's own credential only
        return "allowed" if role == EDGE_ROLE else "403"
    if role == EDGE_ROLE:  # an edge holds no user permission
        return "403"
    return "allowed" if role == "admin" or permission in POLICY.roles[role] else "403"


def answers(r: httpx.Response, want: str) -> bool:
    if r.status_code >= 500:
        return False
    if want == "allowed":
        return r.status_code not in (401, 403)
    return r.status_code == int(want) and r.headers["content-type"].startswith("application/problem+json")


def test_every_page_declares_a_permission_that_exists() -> None:
    missing = [path for path, permission in pages().items() if permission is None]
    assert not missing, f"pages without a permission (refused to everybody): {missing}"
    for path, permission in pages().items():
        POLICY.check_page(path, permission)


@pytest.mark.timeout(300)
def test_every_route_and_page_answers_every_role_as_declared(central: Central) -> None:
    # The edge's credential goes first: an admin's turn rotates and revokes edge "nope"'s credentials.
    tokens: dict[str | None, str | None] = {EDGE_ROLE: central.credentials("nope"), None: None,
                                            "admin": central.token}
    for role in ROLES[:-1]:
        tokens[role] = central.user(f"matrix-{role}", role, PASSWORD)
    with central.anonymous as c:
        spec = c.get("/openapi.json").json()
        operations = [(method.upper(), path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
        undeclared = [f"{m} {p}" for m, p, _ in operations if POLICY.permission_of(m, p) is None]
        assert not undeclared, f"routes without a permission declared in their feature's access table: {undeclared}"
        stale = set(POLICY.access) - {f"{m} {p}" for m, p, _ in operations}
        assert not stale, f"access declared for routes that do not exist: {sorted(stale)}"

        wrong = []
        for role, token in tokens.items():
            for method, path, op in operations:
                permission = POLICY.permission_of(method, path)
                assert permission is not None
                url = url_of(path, op)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                r = c.request(method, url, headers=headers, **body)  # type: ignore[arg-type]
                want = expected(permission, role, f"{method} {path}")
                if not answers(r, want):
                    wrong.append(f"{method} {path} as {role or 'nobody'}: expected {want} ({permission}), "
                                 f"got {r.status_code} {r.text[:200]}")
        assert not wrong, "\n".join(wrong)

    sessions: dict[str | None, httpx.Client] = {None: central.anonymous}
    for role in ROLES:
        client = sessions[role] = central.anonymous
        name, password = ("admin", ADMIN_PASSWORD) if role == "admin" else (f"matrix-{role}", PASSWORD)
        assert client.post("/api/auth/login", json={"username": name, "password": password}).status_code == 200
    wrong = []
    for path, permission in pages().items():
        assert permission is not None
        url = re.sub(r"\{\w+\}", "nope", path)
        for role, client in sessions.items():
            r = client.get(url)
            want = expected(permission, role)
            ok = (r.status_code == 303 and r.headers["location"].startswith("/login") if want == "401"
                  else r.status_code == 403 if want == "403" else r.status_code == 200)
            if not ok:
                wrong.append(f"page {path} as {role or 'nobody'}: expected {want} ({permission}), got {r.status_code}")
    for client in sessions.values():
        client.close()
    assert not wrong, "\n".join(wrong)
