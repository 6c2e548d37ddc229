"""The auth callout's request is input like any other: whatever arrives is a parsed request or a ValueError."""

from __future__ import annotations

import base64
import json

import pytest

from tagpipe.bus.gate import parse_request
from tagpipe.bus.nkeys import ACCOUNT, SERVER, KeyPair, encode_jwt

SERVER_KEY = KeyPair.create(SERVER)
GOOD = {"nats": {"server_id": {"id": "NSERVER"}, "user_nkey": "UABC",
                 "connect_opts": {"user": "edge-1", "pass": "secret"},
                 "client_info": {"id": 7, "host": "127.0.0.1", "type": "mqtt", "mqtt_id": "edge-1"}}}


def signed(claims: dict, key: KeyPair = SERVER_KEY) -> bytes:
    return encode_jwt(key, claims).encode()


def test_a_request_signed_by_a_server_is_read() -> None:
    req = parse_request(signed(GOOD))
    assert (req.server_id, req.user, req.password, req.client_id, req.transport) == (
        "NSERVER", "edge-1", "secret", 7, "mqtt")


def _unsigned(claims: object) -> bytes:
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return b"eyJ0eXAiOiJKV1QifQ." + part + b".c2ln"


@pytest.mark.parametrize("data", [
    b"", b"\xff\xfe not utf-8", b"not a jwt", b"a.b.c", _unsigned(GOOD), _unsigned([1, 2]),
    signed(GOOD, KeyPair.create(ACCOUNT)),  # signed, but not by a server
    signed({}), signed({"nats": "text"}), signed({"nats": []}), signed({"nats": {"server_id": "NSERVER"}}),
    signed({"nats": {"server_id": {"id": "N"}, "user_nkey": "U", "client_info": {"id": "seven"}}}),
    signed({"nats": {"server_id": {"id": "N"}, "user_nkey": "U", "connect_opts": ["user"]}}),
], ids=lambda d: d[:24].decode(errors="replace"))
def test_anything_else_is_a_value_error_naming_why(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"not a valid NATS JWT|not an auth callout request"):
        parse_request(data)
