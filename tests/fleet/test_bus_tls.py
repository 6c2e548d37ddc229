"""TLS on the NATS client port and the MQTT listener (TAGPIPE_TLS_CERT / TAGPIPE_TLS_KEY): central processes trust
the certificate, an edge verifies it with --ca, a plain client gets nowhere. Real processes on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

import httpx
import nats
import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tagpipe.db import upgrade
from tests.conftest import Central, _spawn, _stop, bus_env, guarded_nats, provision_admin
from tests.helpers import async_wait_until, free_port, wait_until


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by its own key (as `tagpipe up` may make one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tagpipe test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def tls_central(tmp_path: Path):  # type: ignore[no-untyped-def]
    cert, key = self_signed(tmp_path / "tls")
    bus = guarded_nats(tmp_path / "nats", tls=(cert, key)).start()
    data_dir, port = tmp_path / "central", free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data_dir), "TAGPIPE_HTTP_PORT": str(port), **bus_env(bus),
           "TAGPIPE_TLS_CERT": str(cert), "TAGPIPE_TLS_KEY": str(key), "PYTHONUNBUFFERED": "1"}
    env.pop("TAGPIPE_DATABASE_URL", None)
    data_dir.mkdir(parents=True)
    upgrade(f"sqlite:///{data_dir / 'tagpipe.db'}")
    token = provision_admin(f"sqlite:///{data_dir / 'tagpipe.db'}")
    procs = [_spawn(["tagpipe", "server"], env, data_dir / "server.log"),
             _spawn(["tagpipe", "worker", "--role", "ingest,fleet"], env, data_dir / "worker.log")]
    ctx = ssl.create_default_context(cafile=str(cert))

    def url() -> str | None:  # the HTTP side may serve TLS with the same pair
        for scheme in ("https", "http"):
            try:
                if httpx.get(f"{scheme}://127.0.0.1:{port}/api/health", verify=ctx, timeout=2).status_code == 200:
                    return f"{scheme}://127.0.0.1:{port}"
            except httpx.HTTPError:
                continue
        return None

    try:
        base = wait_until(url, timeout=40, what="the server and worker on the TLS bus")
        c = Central(url=base, data_dir=data_dir, nats=bus, env=env, token=token, verify=ctx)
        yield c, cert
    finally:
        for e in locals().get("c", Central(url="", data_dir=data_dir, nats=bus, env=env)).edges:
            e.stop()
        for p in procs:
            _stop(p)
        bus.stop()


async def test_nats_and_mqtt_speak_tls_only_and_an_edge_verifies_the_server_with_its_ca(tls_central) -> None:
    central, cert = tls_central
    ctx = ssl.create_default_context(cafile=str(cert))
    with pytest.raises(Exception):  # noqa: B017 - a plain client: the server wants TLS
        await nats.connect(central.nats.url, user="x", password="y", allow_reconnect=False, connect_timeout=2)

    central.plant("simulator", {}, [{"name": "level", "address": "ramp", "data_type": "FLOAT64"}], interval_ms=200)
    edge = central.edge("edge-1")
    edge.args += ["--ca", str(cert)]
    edge.env = {**edge.env, "SSL_CERT_FILE": "/nonexistent"}  # nothing but --ca to trust
    edge.start()
    await async_wait_until(lambda: central.tag_values().get("level", {}).get("value") is not None, timeout=30,
                           what="data over NATS with TLS")

    token = central.credentials("col-tls", kind="collector")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="col-tls")
    client.tls_set_context(ctx)
    client.username_pw_set("col-tls", token)
    client.connect("127.0.0.1", central.nats.mqtt_port)
    client.loop_start()
    client.publish("tagpipe/devices/col-tls/data", b'{"tags": {"over_tls": 1}}', qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()
    await async_wait_until(lambda: "over_tls" in central.tag_values(), timeout=15, what="MQTT over TLS stored")

    answered: list[str] = []
    plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="col-plain")
    plain.username_pw_set("col-tls", token)
    plain.on_connect = lambda *a: answered.append("connack")
    plain.connect("127.0.0.1", central.nats.mqtt_port)  # TCP only; the listener then waits for a TLS handshake
    plain.loop_start()
    with pytest.raises(AssertionError):
        await async_wait_until(lambda: answered, timeout=3, what="a CONNACK without TLS")
    plain.loop_stop()
