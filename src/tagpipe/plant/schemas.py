"""API shapes for equipment, connections and tags; validation names the field that is wrong.

Input models use the shared types of ``web.inputs`` (ids, names, finite numbers, strict flags, no unknown keys);
output models are plain, so a row stored before a rule existed is still shown, never a 500.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from tagpipe import drivers
from tagpipe.auth.secrets import masked, secret_fields
from tagpipe.contracts.config import ByteOrder, DataType
from tagpipe.contracts.names import NAME_PATTERN
from tagpipe.drivers.base import MATERIAL_NAME
from tagpipe.web.inputs import INPUT, Flag, Id, Name, Text, UtcDatetime


class EquipmentIn(BaseModel):
    model_config = INPUT

    name: Name = Field(..., examples=["Press 1"])
    description: Text = Field("", max_length=500)


class EquipmentOut(BaseModel):
    id: int
    name: str
    description: str


class ConnectionIn(BaseModel):
    model_config = INPUT

    equipment_id: Id
    edge_id: str = Field(..., min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_-]+$",
                         description="The edge agent that polls this connection.", examples=["edge-1"])
    name: Name = Field(..., examples=["Press PLC"])
    protocol: str = Field(..., max_length=40, examples=["modbus_tcp"],
                          description="modbus_tcp, opcua, s7, xgt (plc_ethernet), simulator")
    settings: dict[str, Any] = Field(default_factory=dict,
                                     examples=[{"host": "192.168.1.10", "port": 502, "unit_id": 1}],
                                     description="The protocol's settings (see GET /api/protocols); unknown keys are "
                                                 "refused.")
    interval_ms: int = Field(1000, ge=50, le=3_600_000)
    enabled: Flag = True


class ConnectionOut(BaseModel):
    id: int
    equipment_id: int
    edge_id: str
    name: str
    protocol: str
    settings: dict[str, Any]
    interval_ms: int
    enabled: bool

    @model_validator(mode="after")
    def _mask_secrets(self) -> ConnectionOut:
        """Secrets are write-only: answered as ``********``; a PUT that sends that back keeps the stored one."""
        protocol = drivers.ALIASES.get(self.protocol, self.protocol)
        model = drivers.DRIVERS[protocol].settings_model if protocol in drivers.DRIVERS else None
        self.settings = masked(self.settings, secret_fields(model) if model else ())
        return self


class TagSpec(BaseModel):
    """A tag's definition without its connection (what *Test connection* reads before anything is saved)."""

    model_config = INPUT

    name: Name = Field(..., pattern=NAME_PATTERN, examples=["temperature"],
                       description="Unique within the connection; no spaces, control characters, '/', '.', '#', '+', "
                                   "'*' or '>' (the same rule as names in data payloads).")
    address: Text = Field(..., min_length=1, max_length=200, examples=["40001"])
    data_type: DataType = DataType.UINT16
    byte_order: ByteOrder | None = Field(None, description="Unset: the protocol's own order "
                                                           "(XGT little-endian, others big-endian).")
    scale: float = 1.0
    offset: float = 0.0
    unit: Text = Field("", max_length=40)
    length: int | None = Field(None, ge=1, le=1024, description="STRING length in bytes.")
    writable: Flag = False


class TagIn(TagSpec):
    connection_id: Id


class TagOut(BaseModel):
    id: int
    connection_id: int | None
    name: str
    address: str
    data_type: str
    byte_order: str | None
    scale: float
    offset: float
    unit: str
    length: int | None
    writable: bool


class ConnectionTestIn(BaseModel):
    """A connection that is not saved yet: the server connects to it and reads ``tags`` once."""

    model_config = INPUT

    protocol: str = Field(..., max_length=40, examples=["modbus_tcp"])
    settings: dict[str, Any] = Field(default_factory=dict, examples=[{"host": "192.168.1.10", "port": 502}])
    tags: list[TagSpec] = Field(default_factory=list, max_length=500)


class TagProbe(BaseModel):
    value: Any = None
    error: str | None = None
    reason: str | None = Field(None, description="unknown address, wrong data type, access denied, no answer "
                                                 "or failed.")


class ConnectionTestOut(BaseModel):
    ok: bool = Field(..., description="Connected and every tag was read.")
    error: str | None = Field(None, description="Why the connection failed, or how many tags could not be read.")
    reason: str | None = Field(None, description="refused, timed out, unknown host, no answer, misconfigured.")
    values: dict[str, TagProbe] = Field(default_factory=dict, description="Per tag: the value in engineering units or "
                                                                          "the PLC's error.")
    elapsed_ms: float = 0.0


class BrowseIn(BaseModel):
    model_config = INPUT

    settings: dict[str, Any] = Field(..., examples=[{"endpoint_url": "opc.tcp://192.168.1.20:4840"}])
    node_id: Text | None = Field(None, max_length=4096,
                                 description="The node whose children to list; default the Objects folder.",
                                 examples=["ns=2;s=PLC1"])


class BrowseNode(BaseModel):
    node_id: str
    browse_name: str
    display_name: str
    node_class: str = Field(..., description="Object, Variable, Method, ...")
    data_type: DataType | None = None
    unit: str = ""
    writable: bool = False


class CertificateIn(BaseModel):
    """A certificate or private key to keep in tagpipe's store; connections then name it."""

    model_config = INPUT

    name: str = Field(..., pattern=MATERIAL_NAME.pattern, max_length=64, examples=["press-client"],
                      description="How connections name it: letters, digits, '.', '_' and '-'.")
    pem: Text = Field(..., min_length=1, max_length=65_536,
                      description="The certificate or private key in PEM (-----BEGIN …); a private key is stored "
                                  "encrypted and never answered.", json_schema_extra={"writeOnly": True})
    password: str | None = Field(None, max_length=1024, description="Password of an encrypted private key; the key "
                                 "is stored decrypted (and sealed).", json_schema_extra={"writeOnly": True})


class CertificateOut(BaseModel):
    id: int | None = Field(description="Set for an upload (DELETE /api/certificates/{id}); None for a file of the "
                                       "certificate directory.")
    name: str
    kind: str = Field(description="certificate or private_key")
    subject: str
    not_after: UtcDatetime | None = Field(description="When a certificate expires.")
    fingerprint: str = Field(description="SHA-256 of the certificate (DER), or of a key's public key.")
    source: str = Field(description="upload, or directory (TAGPIPE_CERTIFICATE_DIR).")
    used_by: list[int] = Field(description="Ids of the connections that name it.")
