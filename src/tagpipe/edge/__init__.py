"""The edge agent: config sync, device pollers, hooks, the outbox and the transport (NATS or MQTT).

Imports drivers, codec, contracts, sandbox and errors; never central code (db, web, bus, server, features).
"""

from tagpipe.edge.agent import EdgeAgent, EdgeSettings

__all__ = ["EdgeAgent", "EdgeSettings"]
