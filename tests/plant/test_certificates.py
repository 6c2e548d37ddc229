"""tagpipe's store of certificates and keys: what it accepts, how it keeps them, who may name what, and that nothing
else (a path of the server) is ever read."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from collections.abc import Awaitable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy.orm import Session, sessionmaker

from tagpipe.auth.secrets import SecretBox
from tagpipe.contracts import DataType, DeviceConfig
from tagpipe.db import make_engine, upgrade
from tagpipe.drivers.sims.opcua import OpcUaSim, SimCert, make_cert
from tagpipe.edge.material import MaterialDir
from tagpipe.errors import Conflict, InvalidInput
from tagpipe.plant import certificates
from tagpipe.plant.models import Certificate, Connection, Equipment
from tagpipe.settings import Settings
from tests.conftest import Central
from tests.helpers import async_wait_until


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SimCert]:
    d = tmp_path_factory.mktemp("pki")
    return {"server": make_cert(d, "server", "urn:tagpipe:sim:server", server=True),
            "client": make_cert(d, "client", "urn:tagpipe:test:client", server=False)}


def pem_of(cert: SimCert) -> str:
    return x509.load_der_x509_certificate(cert.cert_path.read_bytes()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'tagpipe.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False, info={
        "secret_box": SecretBox(Settings(data_dir=tmp_path)), "certificate_dir": tmp_path / "certs"})
    with sessions() as s:
        yield s
    engine.dispose()


# -- what is accepted (pure) -----------------------------------------------------------------------

def _key_forms() -> list[tuple[str, bytes, str | None]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    enc = serialization.BestAvailableEncryption(b"pw")
    none = serialization.NoEncryption()
    return [
        ("pkcs1 pem", rsa_key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.TraditionalOpenSSL, none), None),
        ("pkcs8 pem", ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, none), None),
        ("pkcs8 der", rsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, none), None),
        ("encrypted, with its password", ec_key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8, enc), "pw"),
    ]


@pytest.mark.parametrize(("form", "data", "password"), _key_forms(), ids=lambda v: v if isinstance(v, str) else "")
def test_private_keys_in_every_usual_form_are_kept_as_unencrypted_pkcs8_pem(form: str, data: bytes,
                                                                            password: str | None) -> None:
    parsed = certificates.parse(data, password)
    assert parsed.kind == "private_key" and parsed.pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert len(parsed.fingerprint) == 64


def test_certificates_pem_or_der_are_kept_as_pem_with_subject_and_expiry(pki: dict[str, SimCert]) -> None:
    der = pki["client"].cert_path.read_bytes()
    for data in (der, pem_of(pki["client"]).encode()):
        parsed = certificates.parse(data)
        assert parsed.kind == "certificate" and parsed.pem.startswith(b"-----BEGIN CERTIFICATE-----")
        assert "client" in parsed.subject and parsed.not_after is not None


@pytest.mark.parametrize(("data", "password", "says"), [
    (b"not a certificate", None, "a certificate (PEM or DER) or a private key"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", None, "a certificate (PEM or DER)"),
    (_key_forms()[3][1], None, "a private key and its password"),
])
def test_anything_else_is_refused_saying_what_was_expected(data: bytes, password: str | None, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        certificates.parse(data, password)


# -- the store (a real database) -------------------------------------------------------------------

def _opcua(session: Session, **settings: str) -> Connection:
    eq = Equipment(name=f"eq{len(settings)}-{os.urandom(2).hex()}")
    conn = Connection(equipment=eq, edge_id="edge-1", name="ua", protocol="opcua",
                      settings={"endpoint_url": "opc.tcp://127.0.0.1:4840/", **settings})
    session.add(conn)
    session.commit()
    return conn


def test_an_upload_is_sealed_listed_without_content_and_named_by_connections(session: Session,
                                                                          pki: dict[str, SimCert]) -> None:
    cert = certificates.upload(session, "client", pki["client"].cert_path.read_bytes())
    key = certificates.upload(session, "client-key", pki["client"].key_path.read_bytes())
    for row in (cert, key):
        stored = session.get(Certificate, row.id)
        assert stored is not None and stored.content.startswith("enc:v1:") and "BEGIN" not in stored.content
    conn = _opcua(session, certificate="client", private_key="client-key")
    listed = {e.name: e for e in certificates.entries(session)}
    assert listed["client"].kind == "certificate" and listed["client-key"].kind == "private_key"
    assert listed["client"].used_by == [conn.id] and listed["client"].source == "upload"
    got = certificates.material(session, "opcua", conn.settings)
    assert got["client"].startswith(b"-----BEGIN CERTIFICATE") and got["client-key"].startswith(b"-----BEGIN PRIVATE")
    with pytest.raises(Conflict, match=f"connection {conn.id}"):
        certificates.delete(session, key.id)
    with pytest.raises(Conflict, match="already exists"):
        certificates.upload(session, "client", pki["client"].cert_path.read_bytes())


@pytest.mark.parametrize(("settings", "field"), [
    ({"certificate": "missing", "private_key": "client-key"}, "connection.certificate"),
    ({"certificate": "client-key", "private_key": "client-key"}, "connection.certificate"),  # a key is no certificate
    ({"certificate": "client", "private_key": "client"}, "connection.private_key"),
    ({"server_certificate": "../../etc/shadow"}, "connection.server_certificate"),
])
def test_a_name_not_in_the_store_or_of_the_wrong_kind_is_422_naming_the_field(
        session: Session, pki: dict[str, SimCert], settings: dict[str, str], field: str) -> None:
    certificates.upload(session, "client", pki["client"].cert_path.read_bytes())
    certificates.upload(session, "client-key", pki["client"].key_path.read_bytes())
    with pytest.raises(InvalidInput) as e:
        certificates.material(session, "opcua", settings)
    assert e.value.field == field
    assert set(certificates.material(session, "opcua", settings, strict=False)) <= {"client", "client-key"}


def test_the_configured_directory_lends_its_files_and_nothing_outside_it(session: Session, tmp_path: Path,
                                                                       pki: dict[str, SimCert]) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "plant-ca.der").write_bytes(pki["server"].cert_path.read_bytes())
    (certs / "notes.txt").write_text("not a certificate")
    (certs / ".hidden.pem").write_bytes(pki["server"].cert_path.read_bytes())
    (certs / "shadow").symlink_to("/etc/shadow")  # a link out of the directory is never followed
    outside = tmp_path / "outside.pem"
    outside.write_bytes(pki["client"].key_path.read_bytes())
    (certs / "outside").symlink_to(outside)
    listed = {e.name: e for e in certificates.entries(session)}
    assert set(listed) == {"plant-ca.der"} and listed["plant-ca.der"].source == "directory"
    assert certificates.material(session, "opcua", {"server_certificate": "plant-ca.der"})["plant-ca.der"].startswith(
        b"-----BEGIN CERTIFICATE")
    for name in ("shadow", "outside", "notes.txt"):
        with pytest.raises(InvalidInput, match="or a file in the certificate directory"):
            certificates.material(session, "opcua", {"server_certificate": name})
    with pytest.raises(Conflict):
        certificates.upload(session, "plant-ca.der", pki["server"].cert_path.read_bytes())


def test_the_edge_keeps_delivered_files_mode_0600_and_drops_the_ones_gone(tmp_path: Path) -> None:
    store = MaterialDir(tmp_path / "certs")
    device = DeviceConfig(id="1", name="ua", protocol="opcua", files={"a": "A", "b": "B", "../escape": "X"})
    store.keep([device])
    assert stat.S_IMODE((tmp_path / "certs").stat().st_mode) == 0o700
    assert sorted(store) == ["a", "b"] and store["a"] == b"A"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "certs").iterdir())
    assert not (tmp_path / "escape").exists()
    store.keep([device.model_copy(update={"files": {"b": "B2"}})])
    assert sorted(store) == ["b"] and store["b"] == b"B2"
    with pytest.raises(KeyError):
        store["../config.json"]


# -- through the API, a real server and a real edge --------------------------------------------------

async def test_an_uploaded_client_certificate_logs_the_edge_into_a_secure_opcua_server(
        central: Central, pki: dict[str, SimCert]) -> None:

    def post(path: str, body: object) -> Awaitable[httpx.Response]:
        return asyncio.to_thread(central.post, path, body)

    r = await post("/api/certificates", {"name": "client", "pem": pem_of(pki["client"])})
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "certificate" and "pem" not in r.json()
    key = await post("/api/certificates", {"name": "client-key", "pem": pki["client"].key_path.read_text()})
    await post("/api/certificates", {"name": "plc-server", "pem": pem_of(pki["server"])})
    assert key.status_code == 201 and key.json()["kind"] == "private_key"
    async with OpcUaSim(secure=pki["server"], users={"operator": "not used"}, allow_none=False) as sim:
        settings = {"endpoint_url": sim.url, "security_policy": "Basic256Sha256", "auth": "certificate",
                    "certificate": "client", "private_key": "client-key", "server_certificate": "plc-server"}
        tags = [{"name": "count", "address": sim.nodes[DataType.INT32], "data_type": "INT32"}]
        await sim.set_value(sim.nodes[DataType.INT32], 4242, DataType.INT32)
        tested = await post("/api/connections/test", {"protocol": "opcua", "settings": settings, "tags": tags})
        assert tested.json()["ok"] is True, tested.text  # the server's test used the store, in memory
        ids = await asyncio.to_thread(central.plant, "opcua", settings, tags)
        config = await asyncio.to_thread(central.edge_config, "edge-1")
        files = config.json()["devices"][0]["files"]
        assert set(files) == {"client", "client-key", "plc-server"} and "PRIVATE KEY" in files["client-key"]
        edge = central.edge("edge-1").start()
        await async_wait_until(lambda: asyncio.to_thread(lambda: central.tag_values()["count"]["value"] == 4242),
                               timeout=30, what="a value read over the certificate login")
    certs_dir = edge.data_dir / "certs"
    assert stat.S_IMODE(certs_dir.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in certs_dir.iterdir()} == {
        "client": 0o600, "client-key": 0o600, "plc-server": 0o600}
    listed = {c["name"]: c for c in (await asyncio.to_thread(central.get, "/api/certificates")).json()}
    assert listed["client-key"]["used_by"] == [ids["connection"]["id"]]
    gone = await asyncio.to_thread(central.delete, f"/api/certificates/{listed['client-key']['id']}")
    assert gone.status_code == 409 and str(ids["connection"]["id"]) in gone.json()["detail"]
    with sqlite3.connect(central.data_dir / "tagpipe.db") as db:  # sealed at rest
        assert all(c.startswith("enc:v1:") for (c,) in db.execute("SELECT content FROM certificates"))
    audit = json.dumps((await asyncio.to_thread(central.get, "/api/audit")).json())
    assert "/api/certificates" in audit and "PRIVATE KEY" not in audit and "BEGIN CERTIFICATE" in audit


def test_a_server_path_is_refused_and_never_read_nor_told_apart(shared_central: Central) -> None:
    central = shared_central
    conn = {"equipment_id": central.post("/api/equipment", {"name": "Press 9"}).json()["id"], "edge_id": "edge-1",
            "name": "ua", "protocol": "opcua"}
    for field in ("certificate_path", "private_key_path", "server_certificate_path"):
        r = central.post("/api/connections", {**conn, "settings": {"endpoint_url": "opc.tcp://127.0.0.1:4840/",
                                                                   field: "/etc/shadow"}})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == f"connection.{field}", r.text
    answers = []
    for path in ("/etc/shadow", "/etc/no-such-file", "shadow", "no-such-file"):
        for route, body in (("/api/connections/test", {"protocol": "opcua"}), ("/api/opcua/browse", {})):
            r = central.post(route, {**body, "settings": {"endpoint_url": "opc.tcp://127.0.0.1:4840/",
                                                          "server_certificate": path}})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "connection.server_certificate"
            answers.append(r.json()["detail"].replace(repr(path), "PATH"))
    assert len(set(answers)) == 1, answers  # existing and missing files answer alike: nothing was opened


def test_a_viewer_lists_certificates_but_cannot_upload_or_delete(shared_central: Central,
                                                                 pki: dict[str, SimCert]) -> None:
    central = shared_central
    viewer = central.user("vera", "viewer")
    uploaded = central.post("/api/certificates", {"name": "c", "pem": pem_of(pki["client"])}).json()
    with central.anonymous as c:
        c.headers["Authorization"] = f"Bearer {viewer}"
        assert c.get("/api/certificates").status_code == 200
        for r in (c.post("/api/certificates", json={"name": "x", "pem": pem_of(pki["client"])}),
                  c.delete(f"/api/certificates/{uploaded['id']}")):
            assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    bad = central.post("/api/certificates", {"name": "x", "pem": "-----BEGIN CERTIFICATE-----\nnope\n"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "pem"
    assert central.post("/api/certificates", {"name": "../x", "pem": pem_of(pki["client"])}).status_code == 422
