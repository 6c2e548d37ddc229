"""Fleet: edges, heartbeats, online/offline, commands, metric history and the edge config endpoint."""

from tagpipe.fleet.service import edge_config, set_scripts_provider

__all__ = ["edge_config", "set_scripts_provider"]
