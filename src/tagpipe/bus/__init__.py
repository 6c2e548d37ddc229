"""The bus: the embedded nats-server child, JetStream streams and consumers, subjects.

Central infrastructure: it may import ``db`` and ``contracts``, never a feature. The edge agent never imports it (it
speaks NATS or MQTT through its own transport).
"""

from tagpipe.bus.consume import Batch, Consumer, DeadLetterSink, consume, deliveries, stored_ms
from tagpipe.bus.embedded import EmbeddedNats, nats_binary
from tagpipe.bus.jetstream import close, connect, ensure_stream, wait_for_bus

__all__ = [
           "Batch",
           "Consumer",
           "DeadLetterSink",
           "EmbeddedNats",
           "close",
           "connect",
           "consume",
           "deliveries",
           "ensure_stream",
           "nats_binary",
           "stored_ms",
           "wait_for_bus",
]
