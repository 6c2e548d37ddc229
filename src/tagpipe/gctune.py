"""Garbage-collector settings for the long-running data-path processes: the edge agent and sandbox workers."""

from __future__ import annotations

import gc


def settle() -> None:
    """Freeze what start-up allocated, so no collection walks it again, and collect young objects less often.

    Every collection cycle of a busy edge allocates thousands of short-lived containers (payloads, results,
    messages); at the default threshold of 700 a collection runs every few cycles and each one walks objects that
    live as long as the process. Call once start-up is done.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
