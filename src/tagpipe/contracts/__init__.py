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
from tagpipe.contracts.data import DataPayload, InvalidPayload, PayloadLimits, parse_data
from tagpipe.contracts.names import NAME_PATTERN, NAME_RULE, valid_name
from tagpipe.contracts.payloads import (
    Command,
    CommandResponse,
    Heartbeat,
    in_time_range,
    iso_timestamp,
    parse_iso_ms,
)
from tagpipe.contracts.status import WORKER_STATUS_INTERVAL_S, ConsumerLag, WorkerStatus
from tagpipe.contracts.subjects import Subjects

__all__ = [
    "NAME_PATTERN",
    "NAME_RULE",
    "WORKER_STATUS_INTERVAL_S",
    "ByteOrder",
    "Command",
    "CommandResponse",
    "ConsumerLag",
    "DataPayload",
    "DataType",
    "DeviceConfig",
    "EdgeConfig",
    "Heartbeat",
    "InvalidPayload",
    "PayloadLimits",
    "ScriptConfig",
    "Subjects",
    "TagConfig",
    "WorkerStatus",
    "in_time_range",
    "iso_timestamp",
    "parse_data",
    "parse_iso_ms",
    "valid_name",
]
