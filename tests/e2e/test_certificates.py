"""Configuration → Certificates and keys in Debian chromium: upload a certificate and a key, see them listed (the
key encrypted at rest), and pick them in an OPC UA connection's form instead of typing a path."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Browser, expect

from tagpipe.drivers.sims.opcua import make_cert
from tests.e2e.test_dashboard import browser, logged_in  # noqa: F401 - the chromium fixture


async def test_upload_a_certificate_and_a_key_and_pick_them_for_an_opcua_connection(
        central, browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    cert = make_cert(tmp_path, "press-client", "urn:tagpipe:test:client", server=False)
    page = await logged_in(browser, central)
    await page.goto(central.url + "/config")
    await page.get_by_role("button", name='Expand "Certificates and keys"').click()
    table = page.locator('[data-table="certificates"]')
    uploader = page.locator('[data-upload="certificate"] input[type=file]')
    await uploader.set_input_files(str(cert.cert_path))  # DER, named after the file
    await expect(table).to_contain_text("press-client", timeout=15_000)
    await page.locator('[data-field="certificate-name"]').fill("press-client-key")
    await uploader.set_input_files(str(cert.key_path))
    await expect(table).to_contain_text("press-client-key", timeout=15_000)
    await expect(table).to_contain_text("private key")
    listed = {c["name"]: c for c in (await asyncio.to_thread(central.get, "/api/certificates")).json()}
    assert listed["press-client"]["kind"] == "certificate" and listed["press-client-key"]["kind"] == "private_key"

    await page.get_by_role("button", name='Expand "Add connection"').click()
    await page.locator('[data-field="protocol"]').click()
    await page.get_by_role("option", name="opcua", exact=True).click()
    await page.locator('[data-field="settings.certificate"]').click()
    await expect(page.get_by_role("option", name="press-client", exact=True)).to_have_count(1)
    await expect(page.get_by_role("option", name="press-client-key")).to_have_count(0)  # a key is no certificate
    await page.get_by_role("option", name="press-client", exact=True).click()
    await page.locator('[data-field="settings.private_key"]').click()
    await expect(page.get_by_role("option", name="press-client-key")).to_have_count(1)
    await expect(page.locator('[data-field="settings.certificate_path"]')).to_have_count(0)  # no path to type
    await page.get_by_role("option", name="press-client-key").click()

    # Test connection from the page: the server uses the store's material, and the attempt is audited.
    await page.locator('[data-field="settings.endpoint_url"]').fill("opc.tcp://127.0.0.1:1/")
    await page.get_by_role("button", name="Test connection").first.click()
    await expect(page.get_by_text("connection refused by 127.0.0.1:1")).to_be_visible(timeout=15_000)
    audit = (await asyncio.to_thread(central.get, "/api/audit", params={"action": "ui: test connection"})).json()
    assert audit and audit[0]["principal"] == "admin" and audit[0]["detail"]["settings"]["certificate"] == \
        "press-client"
