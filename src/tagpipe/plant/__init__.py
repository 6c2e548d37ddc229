"""Plant: equipment, connections and tags (CRUD, validation against the protocol drivers), and the one tag registry.

Other features may call only the functions exported here.
"""

from tagpipe.plant.models import TagSource, tag_key
from tagpipe.plant.registry import Ref, resolve_or_create
from tagpipe.plant.service import (
    devices_for_edge,
    edges_in_use,
    equipment_tree,
    tag_catalog,
)
from tagpipe.plant.writes import write_target

__all__ = ["Ref", "TagSource", "devices_for_edge", "edges_in_use", "equipment_tree", "resolve_or_create",
           "tag_catalog", "tag_key", "write_target"]
