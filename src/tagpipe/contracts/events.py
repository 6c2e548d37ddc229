"""Typed, versioned events that features exchange on ``{prefix}.events.…`` (the events stream), documented in
docs/events.md. Pure pydantic: the edge never sees these; raw edge payloads stay on ``{prefix}.devices.…``.

Every event carries ``v`` (its schema version; a consumer ignores versions it does not know) and has one subject
pattern (``Subjects.event``). Delivery is at least once: a consumer makes handling an event twice harmless
(stored values are keyed by (tag id, ts); every other event has an ``id``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: ClassVar[str]
    v: int = 1


class StoredValues(Event):
    """Tag values ingest has committed, keyed by tag id; published after the commit, one event per partition.

    ``values`` rows are ``[tag_id, ts_ms, value, quality]`` (quality 0 good, 1 bad; value is the exact stored JSON
    value: number, bool, string or null). All tag ids of one event share ``partition`` = tag_id mod partitions."""

    kind: ClassVar[str] = "values"
    v: Literal[1] = 1
    partition: int
    values: list[tuple[int, int, Any, int]]


class EdgeStatusChanged(Event):
    """An edge came online (first heartbeat after silence) or went offline (three missed heartbeats)."""

    kind: ClassVar[str] = "edges"
    v: Literal[1] = 1
    id: str
    edge_id: str
    status: Literal["online", "offline"]
    at: dt.datetime


class ConfigChanged(Event):
    """Configuration that edges or central consumers depend on changed (plant, scripts); ``edges`` were told."""

    kind: ClassVar[str] = "config"
    v: Literal[1] = 1
    id: str
    feature: str
    edges: list[str] = Field(default_factory=list)
    at: dt.datetime


class CommandAnswered(Event):
    """An edge answered a command (recorded by the fleet worker)."""

    kind: ClassVar[str] = "commands"
    v: Literal[1] = 1
    id: str
    edge_id: str
    command: str
    status: Literal["ok", "error"]
    result: Any = None
    error: str | None = None


class AlarmChanged(Event):
    """An alarm changed state (the alarms feature publishes it; edges' alarm hooks raise alarms through it too)."""

    kind: ClassVar[str] = "alarms"
    v: Literal[1] = 1
    id: str
    alarm: str
    tag_id: int | None = None
    state: str
    priority: str = "medium"
    value: Any = None
    message: str = ""
    source: str = ""
    at: dt.datetime


class FileIngested(Event):
    """A fetched file was archived and parsed into tag values."""

    kind: ClassVar[str] = "files"
    v: Literal[1] = 1
    id: str
    source: str
    name: str
    records: int
    rejected: int = 0
    at: dt.datetime


class ReportProduced(Event):
    """A scheduled or requested report (Excel, PDF) is ready to download."""

    kind: ClassVar[str] = "reports"
    v: Literal[1] = 1
    id: str
    report: str
    url: str
    at: dt.datetime


EVENTS: tuple[type[Event], ...] = (StoredValues, EdgeStatusChanged, ConfigChanged, CommandAnswered, AlarmChanged,
                                   FileIngested, ReportProduced)
