"""The one jittered exponential back-off helper, used for devices, transports and config sync."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    """``delay()`` grows 2x per failure up to ``cap`` with +-``jitter`` spread; ``reset()`` after a success."""

    base: float = 0.5
    cap: float = 30.0
    jitter: float = 0.2
    failures: int = 0

    def delay(self) -> float:
        raw = min(self.cap, self.base * (2 ** self.failures))
        self.failures += 1
        return raw * random.uniform(1 - self.jitter, 1 + self.jitter)

    def reset(self) -> None:
        self.failures = 0
