"""Fleet: edges, heartbeats, online/offline, commands, metric history and the edge config endpoint."""

from tagpipe.fleet.commands import WriteFailed, send_command, write_tag
from tagpipe.fleet.service import edge_config, set_scripts_provider

__all__ = ["WriteFailed", "edge_config", "send_command", "set_scripts_provider", "write_tag"]
