"""Simulators that serve each driver's real protocol on 127.0.0.1, for tests and ``tagpipe demo``."""
