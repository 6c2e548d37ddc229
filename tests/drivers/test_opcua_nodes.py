"""OPC UA node id parsing, value checks and settings validation: pure cases, no server."""

from __future__ import annotations

import uuid

import pytest
from asyncua import ua

from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers import validate_settings, validate_tag
from tagpipe.drivers.opcua_nodes import from_value, parse_node_id, resolve, to_variant
from tagpipe.errors import InvalidInput

GUID = "72962b91-fa75-4ae6-8d28-b404dc7daf63"

VALID = [
    ("ns=2;s=Press.Temp", ua.NodeId("Press.Temp", 2)),
    ("i=2258", ua.NodeId(2258, 0)),
    ("ns=3;i=4294967295", ua.NodeId(4294967295, 3)),
    (f"ns=3;g={GUID}", ua.NodeId(uuid.UUID(GUID), 3, ua.NodeIdType.Guid)),
    ("ns=1;b=cHJlc3MB", ua.NodeId(b"press\x01", 1, ua.NodeIdType.ByteString)),
    ("ns=2;s=a;b=c", ua.NodeId("a;b=c", 2)),  # a string id takes the rest, semicolons included
    ("s=Top", ua.NodeId("Top", 0)),
]
INVALID = ["", "Press.Temp", "ns=2", "ns=2;s=", "ns=x;s=A", "ns=70000;s=A", "i=-1", "i=4294967296", "i=abc",
           "ns=3;g=not-a-guid", "ns=1;b=***", "x=5", "ns=2;q=1"]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_node_id_forms_parse(text: str, expected: ua.NodeId) -> None:
    node = parse_node_id(text)
    assert (node.Identifier, node.NamespaceIndex, node.NodeIdType) == (
        expected.Identifier, expected.NamespaceIndex, expected.NodeIdType)


@pytest.mark.parametrize("text", INVALID)
def test_malformed_node_ids_are_rejected_naming_the_address(text: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_tag("opcua", TagConfig(name="t", address=text))
    assert e.value.field == "address"
    assert "ns=2;s=Press.Temp" in e.value.expected


def test_nsu_node_id_resolves_against_the_servers_namespace_array() -> None:
    node = parse_node_id("nsu=urn:tagpipe:sim;s=PLC1.Bool")
    assert resolve(node, ["http://opcfoundation.org/UA/", "urn:x", "urn:tagpipe:sim"]) == ua.NodeId("PLC1.Bool", 2)
    with pytest.raises(LookupError, match="urn:tagpipe:sim"):
        resolve(node, ["http://opcfoundation.org/UA/"])


@pytest.mark.parametrize(("value", "data_type", "expected"), [
    (True, DataType.BOOL, ua.Variant(True, ua.VariantType.Boolean)),
    (1, DataType.BOOL, ua.Variant(True, ua.VariantType.Boolean)),
    (-32768, DataType.INT16, ua.Variant(-32768, ua.VariantType.Int16)),
    (65535, DataType.UINT16, ua.Variant(65535, ua.VariantType.UInt16)),
    (7.0, DataType.INT32, ua.Variant(7, ua.VariantType.Int32)),
    (2**64 - 1, DataType.UINT64, ua.Variant(2**64 - 1, ua.VariantType.UInt64)),
    (0.1, DataType.FLOAT32, ua.Variant(0.10000000149011612, ua.VariantType.Float)),
    (0.1, DataType.FLOAT64, ua.Variant(0.1, ua.VariantType.Double)),
    ("Straße", DataType.STRING, ua.Variant("Straße", ua.VariantType.String)),
])
def test_values_become_the_variant_of_the_tags_data_type(value: object, data_type: DataType,
                                                          expected: ua.Variant) -> None:
    assert to_variant(value, data_type) == expected


@pytest.mark.parametrize(("value", "data_type"), [
    (32768, DataType.INT16), (-1, DataType.UINT16), (2**32, DataType.UINT32), (2**63, DataType.INT64),
    (-1, DataType.UINT64), (1e39, DataType.FLOAT32), (1.5, DataType.INT32), ("7", DataType.INT32),
    (2, DataType.BOOL), (5, DataType.STRING), (None, DataType.FLOAT64),
])
def test_out_of_range_or_wrong_kind_values_are_invalid_input(value: object, data_type: DataType) -> None:
    with pytest.raises(InvalidInput) as e:
        to_variant(value, data_type)
    assert e.value.field == "value"


@pytest.mark.parametrize(("value", "data_type", "expected"), [
    (1, DataType.BOOL, True), (True, DataType.INT16, 1), (3.0, DataType.INT32, 3), (3, DataType.FLOAT64, 3.0),
    (ua.LocalizedText("Run"), DataType.STRING, "Run"), (12, DataType.STRING, "12"),
])
def test_read_values_are_converted_to_the_tags_data_type(value: object, data_type: DataType,
                                                         expected: object) -> None:
    assert from_value(value, data_type) == expected


@pytest.mark.parametrize(("value", "data_type", "reason"), [
    (None, DataType.INT32, "no value"), ([1, 2], DataType.INT32, "array"), ("abc", DataType.INT16, "not INT16"),
    (2.5, DataType.UINT32, "not UINT32"),
])
def test_unconvertible_read_values_say_why(value: object, data_type: DataType, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        from_value(value, data_type)


@pytest.mark.parametrize(("connection", "field"), [
    ({}, "connection.endpoint_url"),
    ({"endpoint_url": "http://plc:4840"}, "connection.endpoint_url"),
    ({"endpoint_url": "opc.tcp://plc:4840", "security_policy": "Basic128"}, "connection.security_policy"),
    ({"endpoint_url": "opc.tcp://plc:4840", "auth": "username"}, "connection"),
    ({"endpoint_url": "opc.tcp://plc:4840", "certificate": "c"}, "connection"),  # without its private_key
    ({"endpoint_url": "opc.tcp://plc:4840", "certificate_path": "/c.der"}, "connection.certificate_path"),
    ({"endpoint_url": "opc.tcp://plc:4840", "mode": "push"}, "connection.mode"),
])
def test_bad_settings_name_the_field(connection: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_settings("opcua", connection)
    assert e.value.field == field


def test_identity_defaults_to_username_when_one_is_given() -> None:
    s = validate_settings("opcua", {"endpoint_url": "opc.tcp://plc:4840/", "username": "op", "password": "pw"})
    assert s.auth == "username"
    assert validate_settings("opcua", {"endpoint_url": "opc.tcp://plc:4840/"}).auth == "anonymous"


def test_settings_schema_describes_every_field_for_the_ui_form() -> None:
    from tagpipe.drivers.opcua import OpcUaSettings

    schema = OpcUaSettings.model_json_schema()
    assert all(prop.get("description") for prop in schema["properties"].values())
    assert schema["properties"]["password"]["format"] == "password"


@pytest.mark.parametrize("field", ["certificate_path", "private_key_path", "server_certificate_path"])
def test_a_path_is_never_read_and_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_settings("opcua", {"endpoint_url": "opc.tcp://127.0.0.1:4840", field: "/etc/shadow"})
    assert e.value.field == f"connection.{field}" and "Configuration → Certificates" in str(e.value)
    with pytest.raises(InvalidInput) as e:
        validate_settings("opcua", {"endpoint_url": "opc.tcp://127.0.0.1:4840", "certificate": "/etc/shadow",
                                    "private_key": "k"})
    assert e.value.field == "connection.certificate" and "not a path" in str(e.value)
