"""Plant: equipment, connections and tags (CRUD, validation against the protocol drivers), and the one tag registry.

The lowest feature: every other feature may call the functions exported here, and nothing else of plant.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from tagpipe.feature import EdgeConfigPart, Feature, Nav, Page
from tagpipe.plant.models import TagSource, tag_key
from tagpipe.plant.registry import Ref, resolve_or_create
from tagpipe.plant.service import (
    devices_for_edge,
    edges_in_use,
    equipment_of_tags,
    equipment_tree,
    get_tag,
    tag_catalog,
)
from tagpipe.plant.values import TagValue, tag_values
from tagpipe.plant.writes import write_target

if TYPE_CHECKING:
    from fastapi import APIRouter

    from tagpipe.services import Services


def _routers() -> Sequence[APIRouter]:
    from tagpipe.plant.api import router

    return [router]


def _pages() -> Sequence[Page]:
    from tagpipe.plant.ui import PAGES

    return PAGES


def _edge_config() -> EdgeConfigPart:
    from tagpipe.plant.service import edge_config_part

    return edge_config_part


@contextlib.asynccontextmanager
async def _lifespan(services: Services) -> AsyncIterator[None]:
    from tagpipe.plant.service import seal_stored_secrets

    await services.run_db(seal_stored_secrets)  # secrets stored in clear by an older version
    yield


CONFIGURE, READ = "plant.configure", "plant.read"

FEATURE = Feature(
    name="plant",
    models=("tagpipe.plant.models",),
    routers=_routers,
    pages=_pages,
    nav=(Nav(label="Configuration", path="/config", order=50),),
    permissions={
        "plant.read": "See equipment, connections and tags with their latest values.",
        "plant.configure": "Create, change and delete equipment, connections and tags; test connections; "
                           "browse OPC UA; upload and delete certificates and keys.",
        "tags.write": "Write a value to a tag marked writable.",
    },
    access={
        "GET /api/protocols": READ,
        "GET /api/equipment": READ,
        "POST /api/equipment": CONFIGURE,
        "PUT /api/equipment/{equipment_id}": CONFIGURE,
        "DELETE /api/equipment/{equipment_id}": CONFIGURE,
        "GET /api/connections": READ,
        "POST /api/connections": CONFIGURE,
        "POST /api/connections/test": CONFIGURE,
        "POST /api/connections/{connection_id}/test": CONFIGURE,
        "POST /api/opcua/browse": CONFIGURE,
        "PUT /api/connections/{connection_id}": CONFIGURE,
        "DELETE /api/connections/{connection_id}": CONFIGURE,
        "GET /api/tags": READ,
        "GET /api/tags/{tag_id}": READ,
        "POST /api/tags/{tag_id}/write": "tags.write",
        "POST /api/tags": CONFIGURE,
        "GET /api/tags/{tag_id}/config": READ,
        "PUT /api/tags/{tag_id}": CONFIGURE,
        "DELETE /api/tags/{tag_id}": CONFIGURE,
        "GET /api/certificates": READ,
        "POST /api/certificates": CONFIGURE,
        "DELETE /api/certificates/{certificate_id}": CONFIGURE,
    },
    edge_config=_edge_config,
    lifespan=_lifespan,
)

__all__ = ["FEATURE", "Ref", "TagSource", "TagValue", "devices_for_edge", "edges_in_use", "equipment_of_tags",
           "equipment_tree", "get_tag", "resolve_or_create", "tag_catalog", "tag_key", "tag_values", "write_target"]
