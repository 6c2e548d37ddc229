"""What features provide to each other without importing each other: one typed field per port.

A feature fills ports through ``Feature.provides`` (and ``Feature.edge_config``); ``build_ports`` collects them
from the FEATURES table when a process starts, and a port no feature provides fails there, not at first use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tagpipe.feature import EdgeConfigPart, Feature
    from tagpipe.services import Services


@dataclass(frozen=True, slots=True)
class LatestValue:
    tag_id: int
    ts: int | None  # None: the stored time is out of range (the value is then bad)
    value: Any
    quality: str


class LatestValues(Protocol):
    """The latest stored value of each tag (all tags, or those of ``tag_ids``)."""

    def __call__(self, session: Session, tag_ids: Sequence[int] | None = None, /) -> dict[int, LatestValue]: ...


class ForgetTags(Protocol):
    """Remove every stored value of ``tag_ids`` (samples, latest value, rollups) in the caller's session, so a
    deleted tag's history goes in the same transaction as the tag."""

    def __call__(self, session: Session, tag_ids: Sequence[int], /) -> None: ...


@dataclass(frozen=True, slots=True)
class EdgeState:
    status: str
    scripts: dict[str, Any]


class EdgeStates(Protocol):
    """Every known edge's status and the per-script counters of its last heartbeat."""

    def __call__(self, session: Session, /) -> dict[str, EdgeState]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    tag_id: int
    value: Any
    command_id: str


class CommandAnswer(Protocol):
    id: str
    status: str
    result: Any
    error: str | None


class Commands(Protocol):
    """Commands to edges, answered by the edge (request/reply with an idempotency key), and tag writes."""

    def send(self, edge_id: str, command: str, params: dict[str, Any], wait_s: float = 0.0,
             command_id: str | None = None) -> Awaitable[CommandAnswer]: ...

    def write_tag(self, tag_id: int, value: object) -> Awaitable[Written]:
        """Write a value (engineering units) to a tag's PLC through its edge; the value read back."""
        ...


@dataclass(frozen=True, kw_only=True)
class Ports:
    latest_values: LatestValues
    forget_tags: ForgetTags
    edge_states: EdgeStates
    commands: Commands
    edge_config_parts: tuple[EdgeConfigPart, ...] = ()


def build_ports(services: Services, features: Sequence[Feature]) -> Ports:
    provided: dict[str, Any] = {}
    for f in features:
        for name, impl in (f.provides(services) if f.provides else {}).items():
            if name in provided:
                raise ValueError(f"port {name!r} is provided twice (feature {f.name})")
            provided[name] = impl
    parts = tuple(f.edge_config() for f in features if f.edge_config)
    missing = [n for n in ("latest_values", "forget_tags", "edge_states", "commands") if n not in provided]
    if missing:
        raise ValueError(f"no feature provides the port(s) {', '.join(missing)}")
    return Ports(**provided, edge_config_parts=parts)
