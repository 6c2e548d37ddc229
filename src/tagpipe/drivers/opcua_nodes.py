"""OPC UA node ids and values: parsing addresses, mapping tagpipe data types to variants, checking values (pure)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from typing import Any

from asyncua import ua

from tagpipe.codec import decode_bytes, encode_bytes
from tagpipe.contracts.config import DataType
from tagpipe.errors import InvalidInput

NODE_ID_EXPECTED = "an OPC UA node id like ns=2;s=Press.Temp, i=2258 or ns=3;g=<guid>"
_NODE_ID = re.compile(r"^(?:(?:ns=(?P<ns>\d{1,5})|nsu=(?P<nsu>[^;]+));)?(?P<kind>[isgb])=(?P<id>.+)$", re.DOTALL)

VARIANT: dict[DataType, ua.VariantType] = {
    DataType.BOOL: ua.VariantType.Boolean, DataType.INT16: ua.VariantType.Int16,
    DataType.UINT16: ua.VariantType.UInt16, DataType.INT32: ua.VariantType.Int32,
    DataType.UINT32: ua.VariantType.UInt32, DataType.INT64: ua.VariantType.Int64,
    DataType.UINT64: ua.VariantType.UInt64, DataType.FLOAT32: ua.VariantType.Float,
    DataType.FLOAT64: ua.VariantType.Double, DataType.STRING: ua.VariantType.String,
}
# Built-in DataType node ids (namespace 0) that a tagpipe data type reads and writes exactly.
DATA_TYPE_OF_NODE: dict[int, DataType] = {
    ua.ObjectIds.Boolean: DataType.BOOL, ua.ObjectIds.Int16: DataType.INT16, ua.ObjectIds.UInt16: DataType.UINT16,
    ua.ObjectIds.Int32: DataType.INT32, ua.ObjectIds.UInt32: DataType.UINT32, ua.ObjectIds.Int64: DataType.INT64,
    ua.ObjectIds.UInt64: DataType.UINT64, ua.ObjectIds.Float: DataType.FLOAT32, ua.ObjectIds.Double: DataType.FLOAT64,
    ua.ObjectIds.String: DataType.STRING,
}
_INTEGERS = {DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64}


def parse_node_id(text: str) -> ua.NodeId | ua.ExpandedNodeId:
    """Parse a node id string; ``nsu=`` forms come back as an ExpandedNodeId to resolve on the server."""
    m = _NODE_ID.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput("address", NODE_ID_EXPECTED, text)
    kind, ident = m["kind"], m["id"]
    ns = int(m["ns"] or 0)
    value: Any
    try:
        if kind == "i":
            value = int(ident)
            if not 0 <= value <= 0xFFFFFFFF:
                raise ValueError
            id_type = None  # asyncua picks the two-byte, four-byte or numeric encoding
        elif kind == "g":
            value, id_type = uuid.UUID(ident), ua.NodeIdType.Guid
        elif kind == "b":
            value, id_type = base64.b64decode(ident, validate=True), ua.NodeIdType.ByteString
        else:
            value, id_type = ident, ua.NodeIdType.String
    except (ValueError, binascii.Error):
        raise InvalidInput("address", NODE_ID_EXPECTED, text) from None
    if ns > 0xFFFF or not ident:
        raise InvalidInput("address", NODE_ID_EXPECTED, text)
    if m["nsu"]:
        return ua.ExpandedNodeId(value, 0, id_type, NamespaceUri=m["nsu"])
    return ua.NodeId(value, ns, id_type)  # type: ignore[arg-type]


def resolve(node_id: ua.NodeId | ua.ExpandedNodeId, namespaces: list[str]) -> ua.NodeId:
    """Turn an ``nsu=`` node id into a plain one with the server's namespace index."""
    uri = getattr(node_id, "NamespaceUri", None)
    if not uri:
        return node_id
    if uri not in namespaces:
        raise LookupError(f"namespace {uri} is not on the server")
    id_type = None if isinstance(node_id.Identifier, int) else node_id.NodeIdType
    return ua.NodeId(node_id.Identifier, namespaces.index(uri), id_type)  # type: ignore[arg-type]


def to_variant(value: object, data_type: DataType) -> ua.Variant:
    """The variant to write for ``value`` as ``data_type``; raises InvalidInput("value", ...) when it does not fit."""
    if data_type is DataType.STRING:
        if not isinstance(value, str):
            raise InvalidInput("value", "a string", value)
        return ua.Variant(value, ua.VariantType.String)
    # The codec's fixed-width encoding is exactly the range check each OPC UA scalar type needs.
    checked = decode_bytes(encode_bytes(value, data_type), data_type)
    if data_type in _INTEGERS:
        checked = int(checked)
    return ua.Variant(checked, VARIANT[data_type])


def from_value(value: Any, data_type: DataType) -> Any:
    """A read value as the tag's data type; raises ValueError with the reason when it cannot be one."""
    if value is None:
        raise ValueError("the server returned no value (Null)")
    if isinstance(value, (list, tuple)):
        raise ValueError(f"an array of {len(value)} values, not a scalar")  # ValueError, not TypeError: one error type
    if data_type is DataType.STRING:
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, ua.LocalizedText):
            return value.Text or ""
        return value if isinstance(value, str) else str(value)
    if data_type is DataType.BOOL:
        if isinstance(value, (bool, int)):
            return bool(value)
    elif data_type in _INTEGERS:
        if isinstance(value, (bool, int)) or (isinstance(value, float) and value.is_integer()):
            return int(value)
    elif isinstance(value, (int, float)):
        return float(value)
    raise ValueError(f"value {value!r} is not {data_type.value}")
