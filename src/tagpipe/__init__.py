"""tagpipe: PLCs to edge agent to NATS to a central store, with user hooks and a live UI."""

__version__ = "0.1.0"
