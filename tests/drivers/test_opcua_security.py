"""OPC UA Basic256Sha256 against a simulator that offers no unsecured endpoint: passwords, certificates, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tagpipe.contracts.config import DataType, TagConfig
from tagpipe.drivers.opcua import OpcUa, OpcUaSettings
from tagpipe.drivers.sims.opcua import OpcUaSim, SimCert, make_cert
from tagpipe.errors import DeviceMisconfigured

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SimCert]:
    d = tmp_path_factory.mktemp("opcua-pki")
    return {"server": make_cert(d, "server", "urn:tagpipe:sim:server", server=True),
            "client": make_cert(d, "client", "urn:tagpipe:test:client", server=False)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim(certs: dict[str, SimCert]) -> AsyncIterator[OpcUaSim]:
    async with OpcUaSim(secure=certs["server"], users={"operator": "s3cret"}, allow_none=False) as s:
        yield s


def settings(sim: OpcUaSim, **kw: Any) -> OpcUaSettings:
    return OpcUaSettings(endpoint_url=sim.url, security_policy="Basic256Sha256", timeout_s=5, **kw)


async def round_trip(s: OpcUaSettings, sim: OpcUaSim, value: int, material: dict[str, bytes] | None = None) -> Any:
    tag = TagConfig(name="count", address=sim.nodes[DataType.INT32], data_type=DataType.INT32)
    async with OpcUa(s, material) as d:
        await d.write(tag, value)
        return (await d.read([tag]))["count"].value


@pytest.mark.parametrize("mode", ["SignAndEncrypt", "Sign"])
async def test_username_and_password_over_a_secure_channel(sim: OpcUaSim, mode: str) -> None:
    s = settings(sim, security_mode=mode, username="operator", password="s3cret")
    assert await round_trip(s, sim, 31337) == 31337
    assert await sim.get_value(sim.nodes[DataType.INT32]) == 31337


async def test_client_certificate_login_with_a_pinned_server_certificate(sim: OpcUaSim,
                                                                          certs: dict[str, SimCert]) -> None:
    material = {"client": certs["client"].cert_path.read_bytes(), "client-key": certs["client"].key_path.read_bytes(),
                "server": certs["server"].cert_path.read_bytes()}  # as the store delivers them, by name
    s = settings(sim, auth="certificate", certificate="client", private_key="client-key", server_certificate="server")
    assert await round_trip(s, sim, -5, material) == -5


async def test_a_wrong_password_is_access_denied(sim: OpcUaSim) -> None:
    with pytest.raises(DeviceMisconfigured, match="BadUserAccessDenied"):
        await round_trip(settings(sim, username="operator", password="guess"), sim, 1)


async def test_anonymous_login_is_refused_when_the_server_requires_users(sim: OpcUaSim) -> None:
    with pytest.raises(DeviceMisconfigured, match="BadIdentityTokenRejected"):
        await round_trip(settings(sim), sim, 1)


async def test_no_security_is_refused_by_a_secure_only_server(sim: OpcUaSim) -> None:
    s = OpcUaSettings(endpoint_url=sim.url, username="operator", password="s3cret")
    with pytest.raises(DeviceMisconfigured, match="SecurityPolicy#None"):
        await round_trip(s, sim, 1)


async def test_a_certificate_not_delivered_is_misconfigured_naming_it(sim: OpcUaSim) -> None:
    s = settings(sim, username="operator", password="s3cret", certificate="nope", private_key="nope-key")
    with pytest.raises(DeviceMisconfigured, match="'nope' was not delivered"):
        await round_trip(s, sim, 1, {})

