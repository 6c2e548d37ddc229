"""EdgeConfig as the seed (001, 000) defines it, served by the central side and applied by the edge."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class DataType(StrEnum):
    BOOL = "BOOL"
    INT16 = "INT16"
    UINT16 = "UINT16"
    INT32 = "INT32"
    UINT32 = "UINT32"
    INT64 = "INT64"
    UINT64 = "UINT64"
    FLOAT32 = "FLOAT32"
    FLOAT64 = "FLOAT64"
    STRING = "STRING"


class ByteOrder(StrEnum):
    """Word order and byte order inside each 16-bit word: ABCD, DCBA, BADC, CDAB."""

    BIG_ENDIAN = "BIG_ENDIAN"
    LITTLE_ENDIAN = "LITTLE_ENDIAN"
    BIG_ENDIAN_BYTE_SWAP = "BIG_ENDIAN_BYTE_SWAP"
    LITTLE_ENDIAN_BYTE_SWAP = "LITTLE_ENDIAN_BYTE_SWAP"


class TagConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    address: str
    data_type: DataType = DataType.UINT16
    byte_order: ByteOrder | None = Field(None, description="Unset means the protocol's own order "
                                                           "(XGT little-endian, others big-endian).")
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    length: int | None = Field(None, description="STRING length in bytes.")
    writable: bool = False
    id: int | None = Field(None, description="Central tag id, for writes from the server.")


class DeviceConfig(BaseModel):
    """One PLC connection polled by the edge. ``id`` is the central connection id."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    protocol: str
    connection: dict[str, Any] = Field(default_factory=dict)
    interval_ms: int = 1000
    enabled: bool = True
    equipment_id: int | None = None
    tags: list[TagConfig] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict, description="The certificates and keys ``connection`` names "
                                  "(name → PEM), from tagpipe's store; the edge keeps them mode 0600 in its data dir.")


class ScriptConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    hook_type: Literal["transform", "derived_tags", "filter", "alarm", "pre_send"]
    script_name: str = ""
    scope: Literal["global", "equipment", "connection", "device"] = "global"
    equipment_id: int | None = None
    connection_id: int | None = None
    device_id: str | None = None
    priority: int = 100
    timeout_ms: int = 1000
    version: int = 1
    code: str


class EdgeConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = ""
    edge_id: str
    edge_name: str = ""
    company_code: str = ""
    devices: list[DeviceConfig] = Field(default_factory=list)
    scripts: list[ScriptConfig] = Field(default_factory=list)
    aggregation_interval_sec: int = 60
    local_retention_days: int = 7

    def with_content_version(self) -> EdgeConfig:
        """Return a copy whose ``version`` is a hash of everything else, so equal configs share an ETag."""
        body = self.model_dump(mode="json", exclude={"version"})
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        return self.model_copy(update={"version": digest[:20]})
