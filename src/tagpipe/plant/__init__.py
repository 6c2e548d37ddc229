"""Plant: equipment, connections and tags (CRUD, validation against the protocol drivers).

Other features may call only the functions exported here.
"""

from tagpipe.plant.service import (
    devices_for_edge,
    discover_tags,
    edges_in_use,
    equipment_tree,
    tag_catalog,
    tag_key_map,
)
from tagpipe.plant.writes import write_target

__all__ = ["devices_for_edge", "discover_tags", "edges_in_use", "equipment_tree", "tag_catalog", "tag_key_map",
           "write_target"]
