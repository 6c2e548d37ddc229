"""The bus: the embedded nats-server child, JetStream streams and consumers, subjects.

Central infrastructure; the edge agent never imports it (it speaks NATS or MQTT through its own transport).
"""

from tagpipe.bus.embedded import EmbeddedNats, nats_binary
from tagpipe.bus.jetstream import connect, ensure_stream

__all__ = ["EmbeddedNats", "connect", "ensure_stream", "nats_binary"]
