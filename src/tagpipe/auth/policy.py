"""The policy of a process, read from the FEATURES table once: which permission each route needs and which
permissions each role holds (pages carry their own, checked when they are mounted)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tagpipe.auth.roles import SPECIAL, role_permissions

if TYPE_CHECKING:
    from tagpipe.feature import Feature
    from tagpipe.services import Services

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, kw_only=True)
class Policy:
    access: Mapping[str, str]  # "METHOD /path/{template}" -> permission
    permissions: Mapping[str, str]  # every declared permission -> what it allows
    roles: Mapping[str, frozenset[str]]  # role -> its permissions

    def permission_of(self, method: str, path_template: str) -> str | None:
        return self.access.get(f"{'GET' if method == 'HEAD' else method} {path_template}")

    def check_page(self, path: str, permission: str | None) -> None:
        """A page's permission must be declared; a page without one is refused to everybody (and a test says so)."""
        if permission is not None and permission not in self.permissions and permission not in SPECIAL:
            raise ValueError(f"page {path} needs the permission {permission!r}, which nobody declares")


def route_template(scope: Mapping[str, Any]) -> str:
    """The matched route's full template (``/api/ingest/rejects``). A route of a router included in another router
    knows only its own part (``/ingest/rejects`` with newer FastAPI); the rest is the literal start of the path."""
    from starlette.routing import compile_path

    path = str(scope.get("path", ""))
    fmt = getattr(scope.get("route"), "path_format", None)
    if not fmt:
        return path
    regex = compile_path(fmt)[0]
    for i in [0, *(k for k, ch in enumerate(path) if ch == "/" and k)]:
        if regex.fullmatch(path[i:]):
            return path[:i] + fmt
    return str(fmt)


def build_policy(features: Sequence[Feature], extra_access: Mapping[str, str] | None = None) -> Policy:
    """Collect the declarations; a route or page naming a permission nobody declares is a programming error."""
    permissions: dict[str, str] = {}
    access: dict[str, str] = dict(extra_access or {})
    for f in features:
        for name, description in f.permissions.items():
            if name in permissions:
                raise ValueError(f"permission {name!r} is declared twice (feature {f.name})")
            permissions[name] = description
        for key, permission in f.access.items():
            method, _, path = key.partition(" ")
            if method not in METHODS or not path.startswith("/"):
                raise ValueError(f"feature {f.name}: access key {key!r} is not 'METHOD /path'")
            if key in access:
                raise ValueError(f"route {key} is declared twice (feature {f.name})")
            access[key] = permission
    unknown = sorted({p for p in access.values() if p not in permissions and p not in SPECIAL})
    if unknown:
        raise ValueError(f"routes need permissions nobody declares: {', '.join(unknown)}")
    return Policy(access=access, permissions=permissions, roles=role_permissions(permissions))


def policy(services: Services) -> Policy:
    """This process's policy, built at the first call (the server builds it when it starts)."""
    found = services.state.get("auth.policy")
    if found is None:
        found = services.state["auth.policy"] = build_policy(services.features, services.state.get("auth.access"))
    return found  # type: ignore[no-any-return]
