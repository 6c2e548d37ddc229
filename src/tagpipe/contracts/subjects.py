"""Subject names. MQTT topics are the same with ``/`` for ``.``, exactly as NATS maps them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Subjects:
    prefix: str = "tagpipe"

    def device(self, edge_id: str, kind: str) -> str:
        return f"{self.prefix}.devices.{edge_id}.{kind}"

    def all(self, kind: str) -> str:
        return f"{self.prefix}.devices.*.{kind}"

    @property
    def stream_subjects(self) -> str:
        return f"{self.prefix}.devices.>"

    @property
    def stream_name(self) -> str:
        return f"{self.prefix.upper().replace('.', '_').replace('-', '_')}_DEVICES"

    def event(self, kind: str, key: str | int) -> str:
        """``{prefix}.events.{kind}.{key}``: one event kind (``contracts.events``) for one key
        (partition, edge, ...)."""
        return f"{self.prefix}.events.{kind}.{key}"

    def events(self, kind: str = ">") -> str:
        """Every event of ``kind`` (``{prefix}.events.{kind}.>``), or every event at all."""
        return f"{self.prefix}.events.>" if kind == ">" else f"{self.prefix}.events.{kind}.>"

    @property
    def events_stream_name(self) -> str:
        return f"{self.prefix.upper().replace('.', '_').replace('-', '_')}_EVENTS"

    def worker_status(self, role: str = "*") -> str:
        """``{prefix}.system.workers.{role}``: a worker process's ``WorkerStatus`` for one role (core NATS, every 2 s);
        the default ``*`` subscribes to every role."""
        return f"{self.prefix}.system.workers.{role}"

    @staticmethod
    def edge_inbox(edge_id: str) -> str:
        """The inbox prefix of an edge's NATS connection (its JetStream acks arrive below it): ``_INBOX.edges.{id}``,
        the only inbox its permissions let it subscribe to."""
        return f"_INBOX.edges.{edge_id}"

    def topic(self, edge_id: str, kind: str) -> str:
        return self.device(edge_id, kind).replace(".", "/")

    @staticmethod
    def edge_of(subject: str) -> str:
        """The edge id in ``{prefix}.devices.{edge_id}.{kind}`` (prefix may itself contain dots)."""
        parts = subject.split(".")
        return parts[-2] if len(parts) >= 3 else ""
