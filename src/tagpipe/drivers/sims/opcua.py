"""An OPC UA server on asyncua: a PLC1 object with a variable of every data type, optional security and users.

Run alone: ``python -m tagpipe.drivers.sims.opcua --port 4840`` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from asyncua import Server, ua
from asyncua.common.callback import CallbackType
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from tagpipe.contracts.config import DataType

logging.getLogger("asyncua").setLevel(logging.CRITICAL)

NAMESPACE = "urn:tagpipe:sim"
SERVER_URI = "urn:tagpipe:sim:server"
GUID_NODE = uuid.UUID("72962b91-fa75-4ae6-8d28-b404dc7daf63")
BYTES_NODE = b"press\x01"

VARIANT = {
    DataType.BOOL: ua.VariantType.Boolean, DataType.INT16: ua.VariantType.Int16,
    DataType.UINT16: ua.VariantType.UInt16, DataType.INT32: ua.VariantType.Int32,
    DataType.UINT32: ua.VariantType.UInt32, DataType.INT64: ua.VariantType.Int64,
    DataType.UINT64: ua.VariantType.UInt64, DataType.FLOAT32: ua.VariantType.Float,
    DataType.FLOAT64: ua.VariantType.Double, DataType.STRING: ua.VariantType.String,
}
INITIAL: dict[DataType, Any] = {
    DataType.BOOL: True, DataType.INT16: -1234, DataType.UINT16: 54321, DataType.INT32: -123456,
    DataType.UINT32: 3_000_000_000, DataType.INT64: -(2**40), DataType.UINT64: 2**63 + 5,
    DataType.FLOAT32: 21.5, DataType.FLOAT64: 3.141592653589793, DataType.STRING: "hello",
}
NAMES = {
    DataType.BOOL: "Bool", DataType.INT16: "Int16", DataType.UINT16: "UInt16", DataType.INT32: "Int32",
    DataType.UINT32: "UInt32", DataType.INT64: "Int64", DataType.UINT64: "UInt64", DataType.FLOAT32: "Float32",
    DataType.FLOAT64: "Float64", DataType.STRING: "String",
}
UNITS = {DataType.FLOAT32: "°C", DataType.FLOAT64: "bar", DataType.UINT32: "pcs"}


@dataclass(frozen=True, slots=True)
class SimCert:
    """A self-signed certificate and key in files, for the server or a client."""

    cert_path: Path
    key_path: Path
    application_uri: str


def make_cert(directory: Path, name: str, application_uri: str, *, server: bool) -> SimCert:
    """Write a self-signed RSA 2048 certificate (DER) and key (PEM) usable by asyncua."""
    directory.mkdir(parents=True, exist_ok=True)
    key = cert_gen.generate_private_key()
    usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
    names = [x509.UniformResourceIdentifier(application_uri), x509.DNSName(socket.gethostname()),
             x509.DNSName("localhost")]
    cert = cert_gen.generate_self_signed_app_certificate(key, name, {}, names, usage)
    paths = SimCert(directory / f"{name}.der", directory / f"{name}.pem", application_uri)
    paths.cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    paths.key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return paths


class _Users:
    """Accepts exactly the configured user names and passwords (anonymous and certificate users when allowed)."""

    def __init__(self, users: dict[str, str], allow_anonymous: bool) -> None:
        self.users, self.allow_anonymous = users, allow_anonymous

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is not None:
            return User(role=UserRole.User) if self.users.get(username) == password else None
        if certificate is not None or self.allow_anonymous:
            return User(role=UserRole.User)
        return None


class OpcUaSim:
    """``async with OpcUaSim() as sim:`` serves ``sim.url``; PLC1's variables are in ``sim.nodes``, read sizes in
    ``sim.reads``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, secure: SimCert | None = None,
                 users: dict[str, str] | None = None, allow_none: bool = True) -> None:
        self.host, self.port = host, port
        self.secure, self.users, self.allow_none = secure, users or {}, allow_none
        self.ns = 2
        self.nodes: dict[DataType, str] = {}
        self.reads: list[int] = []  # how many nodes each Read request from a client asked for
        self.server: Server | None = None

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/tagpipe/"

    async def start(self) -> str:
        """Build the address space and listen; returns the endpoint url with the real port."""
        users = _Users(self.users, allow_anonymous=not self.users)
        server = Server(user_manager=users)  # type: ignore[arg-type]
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("tagpipe OPC UA simulator")
        policies = [ua.SecurityPolicyType.NoSecurity] if self.allow_none or not self.secure else []
        if self.secure:
            await server.set_application_uri(self.secure.application_uri)
            await server.load_certificate(str(self.secure.cert_path))
            await server.load_private_key(str(self.secure.key_path))
            policies += [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.Basic256Sha256_Sign]
        server.set_security_policy(policies)
        tokens: list[type] = [ua.UserNameIdentityToken, ua.X509IdentityToken]
        if not self.users:
            tokens.append(ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        self.ns = await server.register_namespace(NAMESPACE)
        await self._build(server)
        server.subscribe_server_callback(CallbackType.PreRead, self._count_read)
        await server.start()
        self.server = server
        self.port = server.bserver._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        for endpoint in server.iserver.endpoints:  # advertise the real port, not the requested 0
            endpoint.EndpointUrl = self.url
            endpoint.Server.DiscoveryUrls = [self.url]
        return self.url

    def _count_read(self, event: Any, _service: Any) -> None:
        if event.is_external:
            self.reads.append(len(event.request_params.NodesToRead))

    async def _build(self, server: Server) -> None:
        ns = self.ns
        plc = await server.nodes.objects.add_object(ua.NodeId("PLC1", ns), ua.QualifiedName("PLC1", ns))
        for data_type, value in INITIAL.items():
            name = NAMES[data_type]
            var = await plc.add_variable(ua.NodeId(f"PLC1.{name}", ns), ua.QualifiedName(name, ns), value,
                                         varianttype=VARIANT[data_type])
            await var.set_writable()
            if data_type in UNITS:
                await var.add_property(ua.NodeId(f"PLC1.{name}.EngineeringUnits", ns),
                                       ua.QualifiedName("EngineeringUnits", 0), _eu(UNITS[data_type]))
            self.nodes[data_type] = var.nodeid.to_string()
        extra = [(ua.NodeId(1001, ns), "Numeric"), (ua.NodeId(GUID_NODE, ns), "ByGuid"),
                 (ua.NodeId(BYTES_NODE, ns, ua.NodeIdType.ByteString), "ByBytes")]
        for i, (node_id, name) in enumerate(extra):
            var = await plc.add_variable(node_id, ua.QualifiedName(name, ns), 100 + i, varianttype=ua.VariantType.Int32)
            await var.set_writable()
        await plc.add_variable(ua.NodeId("PLC1.ReadOnly", ns), ua.QualifiedName("ReadOnly", ns), 7,
                               varianttype=ua.VariantType.Int32)
        await plc.add_object(ua.NodeId("PLC1.Motor", ns), ua.QualifiedName("Motor", ns))

    async def add_variables(self, n: int, data_type: DataType = DataType.FLOAT64) -> list[str]:
        """Add ``n`` writable variables ``ns=2;s=V0..V{n-1}`` under a Bulk object; returns their node ids."""
        assert self.server is not None
        ns = self.ns
        bulk = await self.server.nodes.objects.add_object(ua.NodeId(f"Bulk{n}", ns), ua.QualifiedName(f"Bulk{n}", ns))
        ids = []
        for i in range(n):
            var = await bulk.add_variable(ua.NodeId(f"V{i}", ns), ua.QualifiedName(f"V{i}", ns),
                                          INITIAL[data_type], varianttype=VARIANT[data_type])
            ids.append(var.nodeid.to_string())
        return ids

    async def set_value(self, node_id: str, value: Any, data_type: DataType) -> None:
        """Change a variable server-side, as the PLC program would."""
        assert self.server is not None
        await self.server.get_node(node_id).write_value(ua.Variant(value, VARIANT[data_type]))

    async def get_value(self, node_id: str) -> Any:
        assert self.server is not None
        return await self.server.get_node(node_id).read_value()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _eu(unit: str) -> ua.EUInformation:
    eu = ua.EUInformation()
    eu.NamespaceUri = "http://www.opcfoundation.org/UA/units/un/cefact"
    eu.DisplayName = ua.LocalizedText(unit)
    eu.Description = ua.LocalizedText(unit)
    return eu


async def _main(port: int, bulk: int) -> None:
    async with OpcUaSim(port=port) as sim:
        if bulk:
            await sim.add_variables(bulk)
        print(f"opcua simulator on {sim.url}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=4840)
    p.add_argument("--bulk", type=int, default=0, help="add this many Float64 variables ns=2;s=V0..")
    a = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(a.port, a.bulk))
