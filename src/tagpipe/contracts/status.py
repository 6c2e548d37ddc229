"""What a worker process says about each role it runs, every ``WORKER_STATUS_INTERVAL_S`` on core NATS
(``{prefix}.system.workers.{role}``, not stored): who runs it, since when, and how far its consumers lag."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

WORKER_STATUS_INTERVAL_S = 2.0


class ConsumerLag(BaseModel):
    """One durable JetStream consumer of the role, from its consumer info (None: the info could not be read)."""

    model_config = ConfigDict(extra="ignore")

    stream: str
    durable: str
    pending: int | None = Field(None, description="Messages in the stream not yet delivered to the consumer.")
    ack_pending: int | None = Field(None, description="Messages delivered and not yet acknowledged.")
    redelivered: int | None = Field(None, description="Messages delivered more than once and not yet acknowledged.")


class WorkerStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    host: str
    pid: int
    started_at: dt.datetime
    sent_at: dt.datetime
    interval_s: float = WORKER_STATUS_INTERVAL_S
    consumers: list[ConsumerLag] = []

    @property
    def lag(self) -> int | None:
        """Messages waiting for this role: the undelivered ones of all its consumers (None when unknown)."""
        known = [c.pending for c in self.consumers if c.pending is not None]
        return sum(known) if known else (0 if not self.consumers else None)
