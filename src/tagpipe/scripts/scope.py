"""Pure scope logic: which edges a script reaches, given the plant's equipment and connections."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SCOPES: tuple[str, ...] = ("global", "equipment", "connection", "device")
EVERY_EDGE = frozenset({"*"})


def edges_of(scope: str, *, equipment_id: int | None, connection_id: int | None, device_id: str | None,
             equipment: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The edges a script reaches: ``EVERY_EDGE`` for global, else the edges of its target (maybe none)."""
    if scope == "global":
        return EVERY_EDGE
    if scope == "device":
        return frozenset({device_id}) if device_id else frozenset()
    edges: set[str] = set()
    for eq in equipment:
        for conn in eq["connections"]:
            if (scope == "equipment" and eq["id"] == equipment_id) or (
                    scope == "connection" and conn["id"] == connection_id):
                edges.add(conn["edge_id"])
    return frozenset(edges)


def reaches(scope: str, edge_id: str, **target: Any) -> bool:
    """Tell whether a script with this scope and target belongs in ``edge_id``'s config."""
    edges = edges_of(scope, **target)
    return edges is EVERY_EDGE or edge_id in edges


def expand(edges: Iterable[frozenset[str]], all_edges: Iterable[str]) -> set[str]:
    """Union of several reach sets, with ``EVERY_EDGE`` replaced by every known edge."""
    out: set[str] = set()
    every = sorted(set(all_edges))
    for reach in edges:
        out.update(every if reach is EVERY_EDGE else reach)
    return out
