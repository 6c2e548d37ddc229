"""HTTPS: the installation's own CA and server certificate, a real server behind uvicorn's TLS, Secure session
cookies, an edge that verifies the server with --ca (and refuses it without), and the warning for plain http."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tagpipe import cli
from tagpipe.edge.sync import ConfigClient, UntrustedServer
from tagpipe.settings import Settings
from tagpipe.tls import self_signed, server_names, transport_warning, with_tls_files
from tests.conftest import ADMIN_PASSWORD, _stop, provision_admin
from tests.helpers import free_port, wait_until


def _names(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(alt.get_values_for_type(x509.DNSName)) | {str(a) for a in alt.get_values_for_type(x509.IPAddress)}


def test_self_signed_makes_a_ca_and_a_server_certificate_with_private_keys(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "tls", ["plant.local", "127.0.0.1", "10.1.0.5"])
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    for private in (key, tmp_path / "tls" / "ca.key"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert _names(cert) == {"plant.local", "127.0.0.1", "10.1.0.5"}
    ca = x509.load_pem_x509_certificate((tmp_path / "tls" / "ca.pem").read_bytes())
    x509.load_pem_x509_certificate(cert.read_bytes()).verify_directly_issued_by(ca)
    assert not list(tmp_path.glob("tls/.*.tmp"))


def test_the_pair_is_kept_and_issued_again_by_the_same_ca_for_a_new_host(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path / "tls", ["a.local"])
    first, ca = cert.read_bytes(), (tmp_path / "tls" / "ca.pem").read_bytes()
    assert self_signed(tmp_path / "tls", ["a.local"])[0].read_bytes() == first  # nothing new to cover
    self_signed(tmp_path / "tls", ["a.local", "b.local"])
    assert cert.read_bytes() != first and _names(cert) == {"a.local", "b.local"}
    assert (tmp_path / "tls" / "ca.pem").read_bytes() == ca  # edges that trust the CA keep trusting the server


def test_settings_name_the_generated_files_unless_a_pair_is_configured(tmp_path: Path) -> None:
    s = with_tls_files(Settings(data_dir=tmp_path, tls="self-signed", tls_hosts=["scada.plant"]))
    assert s.https and s.tls_cert == tmp_path / "tls" / "server.pem"
    assert {"scada.plant", "localhost", "127.0.0.1", "::1"} <= _names(s.tls_cert)
    given = Settings(data_dir=tmp_path, tls="self-signed", tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem")
    assert with_tls_files(given) == given
    assert "0.0.0.0" not in server_names(Settings(host="0.0.0.0"))


def test_plain_http_beyond_this_machine_is_warned_about_loudly(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    assert transport_warning(Settings(host="127.0.0.1")) is None
    assert transport_warning(Settings(host="0.0.0.0", tls_cert=tmp_path, tls_key=tmp_path)) is None
    cli.tls_ready(Settings(host="192.0.2.7", data_dir=tmp_path))
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "no TLS" in out and "plain http on 192.0.2.7" in out and "--tls self-signed" in out
    assert any(r.levelname == "WARNING" and "plain http on 192.0.2.7" in r.message for r in caplog.records)


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """``tagpipe server --tls self-signed`` on 127.0.0.1 (no NATS: the API serves while the bus is away)."""
    tmp_path = tmp_path_factory.mktemp("https")
    data_dir, port = tmp_path / "central", free_port()
    env = {**os.environ, "TAGPIPE_DATA_DIR": str(data_dir), "TAGPIPE_HTTP_PORT": str(port),
           "TAGPIPE_NATS_URL": f"nats://127.0.0.1:{free_port()}", "PYTHONUNBUFFERED": "1"}
    env.pop("TAGPIPE_DATABASE_URL", None)
    data_dir.mkdir()
    subprocess.run([sys.executable, "-m", "tagpipe", "migrate"], env=env, check=True, capture_output=True)
    provision_admin(f"sqlite:///{data_dir / 'tagpipe.db'}")
    edge_token = _add_edge(f"sqlite:///{data_dir / 'tagpipe.db'}", "edge-1")
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tagpipe", "server", "--tls", "self-signed"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ca = data_dir / "tls" / "ca.pem"
    try:
        wait_until(lambda: ca.exists() and httpx.get(f"https://127.0.0.1:{port}/api/health",
                                                     verify=ssl.create_default_context(cafile=str(ca))),
                   timeout=30, what=f"the https server ({log})")
        yield f"https://127.0.0.1:{port}", ca, edge_token
    finally:
        _stop(proc)


def _add_edge(db_url: str, edge_id: str) -> str:
    """An approved edge in the database, as ``tagpipe fleet add`` makes one; its credential."""
    from sqlalchemy.orm import Session

    from tagpipe.db import make_engine
    from tagpipe.fleet import admission

    engine = make_engine(db_url)
    with Session(engine) as s:
        token = admission.add(s, edge_id, by="tests").token
    engine.dispose()
    return token


def test_over_https_the_session_cookies_are_secure(https_server: tuple[str, Path, str]) -> None:
    url, ca, _ = https_server
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(ca))) as c:
        r = c.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        cookies = r.headers.get_list("set-cookie")
        assert len(cookies) == 2 and all("; secure" in h.lower() for h in cookies), cookies
        assert c.get("/api/auth/me").status_code == 200  # the browser sends them back over https
    with pytest.raises(httpx.ConnectError):  # nobody's CA: not trusted
        httpx.get(f"{url}/api/health")
    with pytest.raises(httpx.HTTPError):  # plain http on the TLS port
        httpx.get(url.replace("https://", "http://") + "/api/health")


async def test_the_edge_verifies_the_server_with_its_ca_and_refuses_it_without(
        https_server: tuple[str, Path, str], tmp_path: Path) -> None:
    url, ca, token = https_server
    trusted = ConfigClient(url, "edge-1", cache=tmp_path / "a.json", ca=ca, token=lambda: token)
    assert (await trusted.fetch()) is not None  # TLS verified, the config read
    with pytest.raises(UntrustedServer, match="pass --ca"):
        await ConfigClient(url, "edge-1", cache=tmp_path / "b.json").fetch()
    other = self_signed(tmp_path / "other", ["127.0.0.1"])[0].parent / "ca.pem"  # another installation's CA
    with pytest.raises(UntrustedServer, match=str(other)):
        await ConfigClient(url, "edge-1", cache=tmp_path / "c.json", ca=other).fetch()


def test_the_edge_caches_its_config_readable_by_itself_only(https_server: tuple[str, Path, str],
                                                            tmp_path: Path) -> None:
    url, ca, token = https_server
    client = ConfigClient(url, "edge-1", cache=tmp_path / "config.json", ca=ca, token=lambda: token)
    asyncio.run(client.fetch())
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o600
