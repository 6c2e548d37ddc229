"""Wire shapes shared by the edge agent and the central side (the seed's EdgeConfig, payloads, topics).

Pure pydantic models; imports nothing else of tagpipe.
"""

from tagpipe.contracts.config import (
    ByteOrder,
    DataType,
    DeviceConfig,
    EdgeConfig,
    ScriptConfig,
    TagConfig,
)
from tagpipe.contracts.payloads import (
    Command,
    CommandResponse,
    Heartbeat,
    iso_timestamp,
    parse_iso_ms,
)
from tagpipe.contracts.status import WORKER_STATUS_INTERVAL_S, ConsumerLag, WorkerStatus
from tagpipe.contracts.subjects import Subjects

__all__ = [
    "WORKER_STATUS_INTERVAL_S",
    "ByteOrder",
    "Command",
    "CommandResponse",
    "ConsumerLag",
    "DataType",
    "DeviceConfig",
    "EdgeConfig",
    "Heartbeat",
    "ScriptConfig",
    "Subjects",
    "TagConfig",
    "WorkerStatus",
    "iso_timestamp",
    "parse_iso_ms",
]
