"""Scripts: user hook scripts (storage, versions, rollback, diff, dry run) and each edge's ``scripts[]``.

Imports infrastructure (db, web, contracts, sandbox), plant's public functions and the ports; contributes the
``scripts`` of every edge's config.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from tagpipe.feature import EdgeConfigPart, Feature, Nav, Page

if TYPE_CHECKING:
    from fastapi import APIRouter

    from tagpipe.services import Services


def _routers() -> Sequence[APIRouter]:
    from tagpipe.scripts.api import router

    return [router]


def _pages() -> Sequence[Page]:
    from tagpipe.scripts.ui import PAGES

    return PAGES


def _edge_config() -> EdgeConfigPart:
    from tagpipe.scripts.service import edge_config_part

    return edge_config_part


def _lifespan(services: Services) -> AbstractAsyncContextManager[None]:
    from tagpipe.scripts.dryrun import dry_run_pool

    return dry_run_pool(services)


FEATURE = Feature(
    name="scripts",
    models=("tagpipe.scripts.models",),
    routers=_routers,
    pages=_pages,
    nav=(Nav(label="Scripts", path="/scripts", order=40),),
    permissions={
        "scripts.read": "See hook scripts, their versions, diffs and per-edge statistics.",
        "scripts.edit": "Create, change, test, roll back and delete hook scripts.",
    },
    access={
        "GET /api/fleet/scripts/hook-types": "scripts.read",
        "GET /api/fleet/scripts/sandbox": "scripts.read",
        "GET /api/fleet/scripts": "scripts.read",
        "POST /api/fleet/scripts/dry-run": "scripts.edit",
        "GET /api/fleet/scripts/{script_id}": "scripts.read",
        "POST /api/fleet/scripts": "scripts.edit",
        "PUT /api/fleet/scripts/{script_id}": "scripts.edit",
        "DELETE /api/fleet/scripts/{script_id}": "scripts.edit",
        "GET /api/fleet/scripts/{script_id}/versions": "scripts.read",
        "GET /api/fleet/scripts/{script_id}/diff": "scripts.read",
        "POST /api/fleet/scripts/{script_id}/rollback/{version}": "scripts.edit",
        "GET /api/fleet/scripts/{script_id}/stats": "scripts.read",
    },
    edge_config=_edge_config,
    lifespan=_lifespan,
)

__all__ = ["FEATURE"]
