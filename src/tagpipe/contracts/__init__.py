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
    in_time_range,
    iso_timestamp,
    parse_iso_ms,
)
from tagpipe.contracts.subjects import Subjects

__all__ = [
    "ByteOrder",
    "Command",
    "CommandResponse",
    "DataType",
    "DeviceConfig",
    "EdgeConfig",
    "Heartbeat",
    "in_time_range",
    "ScriptConfig",
    "Subjects",
    "TagConfig",
    "iso_timestamp",
    "parse_iso_ms",
]
