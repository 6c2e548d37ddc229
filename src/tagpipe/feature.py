"""What a feature declares: its tables, routes, pages and navigation, worker roles, permissions, CLI commands,
and what it provides to other features. The composition roots loop over the ``FEATURES`` table of these.

Everything heavy is named by a loader function, so a process imports only what it runs (the worker never imports
NiceGUI, the edge agent imports no feature at all).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from sqlalchemy.orm import Session

    from tagpipe.services import Services

Role = Callable[["Services"], Awaitable[None]]
PageHandler = Callable[..., Awaitable[None]]  # (services, **query parameters)
EdgeConfigPart = Callable[["Session", str], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Page:
    """A NiceGUI page: its path, its handler (which gets the services object as first argument) and the permission
    a user needs to open it; a page without one is refused to everybody (``auth.PUBLIC`` opens it to anybody)."""

    path: str
    handler: PageHandler
    permission: str | None = None


@dataclass(frozen=True, kw_only=True)
class Nav:
    """An entry of the page header; entries are ordered by ``order``, then by the FEATURES table."""

    label: str
    path: str
    order: int = 100


@dataclass(frozen=True, kw_only=True)
class Durable:
    """A durable JetStream consumer a worker role reads from: its lag is the role's lag in the health report."""

    stream: Literal["devices", "events"]
    name: str


@dataclass(frozen=True, kw_only=True)
class Feature:
    name: str
    models: tuple[str, ...] = ()
    routers: Callable[[], Sequence[APIRouter]] | None = None
    pages: Callable[[], Sequence[Page]] | None = None
    nav: tuple[Nav, ...] = ()
    roles: Mapping[str, Callable[[], Role]] = field(default_factory=dict)
    consumers: Mapping[str, tuple[Durable, ...]] = field(default_factory=dict)  # role -> its durable consumers
    permissions: Mapping[str, str] = field(default_factory=dict)
    # "METHOD /path/{template}" of each route -> the permission it needs; a route missing here is refused to everybody.
    access: Mapping[str, str] = field(default_factory=dict)
    cli: Callable[[], typer.Typer] | None = None  # its commands and groups are added to ``tagpipe`` as they are named
    provides: Callable[[Services], Mapping[str, Any]] | None = None
    edge_config: Callable[[], EdgeConfigPart] | None = None
    lifespan: Callable[[Services], AbstractAsyncContextManager[None]] | None = None


def roles_of(features: Sequence[Feature]) -> dict[str, Callable[[], Role]]:
    """Every worker role of every feature; two features declaring one role name is a programming error."""
    out: dict[str, Callable[[], Role]] = {}
    for f in features:
        for name, loader in f.roles.items():
            if name in out:
                raise ValueError(f"worker role {name!r} is declared twice (feature {f.name})")
            out[name] = loader
    return out


def consumers_of(features: Sequence[Feature]) -> dict[str, tuple[Durable, ...]]:
    """Each worker role's durable consumers (a role that declares none has none)."""
    return {role: f.consumers.get(role, ()) for f in features for role in f.roles}


def navigation(features: Sequence[Feature]) -> list[Nav]:
    ordered = [(nav.order, i, nav) for i, f in enumerate(features) for nav in f.nav]
    return [nav for _, _, nav in sorted(ordered, key=lambda t: (t[0], t[1]))]
