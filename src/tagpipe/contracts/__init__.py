"""Wire shapes shared by the edge agent and the central side (the seed's EdgeConfig, payloads, topics).

Pure pydantic models; imports nothing else of tagpipe.
"""

from tagpipe.contracts.config import DataType, ByteOrder, DeviceConfig, EdgeConfig, ScriptConfig, TagConfig
from tagpipe.contracts.payloads import DataPayload, Heartbeat, Command, CommandResponse
from tagpipe.contracts.subjects import Subjects

__all__ = [
    "ByteOrder", "Command", "CommandResponse", "DataPayload", "DataType", "DeviceConfig", "EdgeConfig",
    "Heartbeat", "ScriptConfig", "Subjects", "TagConfig",
]
