"""Log in in Debian chromium: a viewer sees values but no write button and no configuration; an operator writes a
tag to a Modbus PLC through the edge; the admin's Audit page shows that write with its value."""

from __future__ import annotations

import asyncio

from playwright.async_api import Browser, Page, expect

from tagpipe.codec.modbus_address import Table
from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tests.conftest import Central
from tests.e2e.test_dashboard import browser, logged_in  # noqa: F401 - the chromium fixture
from tests.helpers import async_wait_until


async def log_in(page: Page, central: Central, username: str, password: str, role: str) -> None:
    await page.goto(central.url + "/trends")
    await expect(page).to_have_url(f"{central.url}/login?next=%2Ftrends")
    await page.get_by_test_id("username").fill(username)
    await page.get_by_test_id("password").fill("wrong-password")
    await page.get_by_test_id("login").click()
    await expect(page.get_by_test_id("login-message")).to_contain_text("unknown user name or wrong password")
    await page.get_by_test_id("password").fill(password)
    await page.get_by_test_id("login").click()
    await expect(page).to_have_url(central.url + "/trends", timeout=10_000)  # back where they were going
    await expect(page.get_by_test_id("user")).to_have_text(f"{username} ({role})")
    await page.goto(central.url + "/")


async def test_viewer_sees_no_write_operator_writes_and_the_audit_shows_it(
        central: Central, browser: Browser) -> None:  # noqa: F811
    async with ModbusSim() as sim:
        await sim.set_value("40005", 100)
        central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port},
                      [{"name": "setpoint", "address": "40005", "scale": 0.1, "unit": "bar", "writable": True}])
        await asyncio.to_thread(central.user, "vic", "viewer", "vics-password")
        await asyncio.to_thread(central.user, "oscar", "operator", "oscars-password")
        central.edge("edge-1").start()
        await async_wait_until(lambda: central.tag_values()["setpoint"]["value"] == 10.0, timeout=20)
        await async_wait_until(lambda: any(d["status"] == "online" for d in central.get("/api/fleet/devices").json()),
                               timeout=15)

        viewer = await (await browser.new_context()).new_page()
        await log_in(viewer, central, "vic", "vics-password", "viewer")
        row = viewer.locator("tr", has_text="setpoint")
        await expect(row).to_contain_text("10", timeout=15_000)
        await expect(viewer.locator("[data-write]")).to_have_count(0)
        header = viewer.locator("header")
        await expect(header).to_contain_text("Dashboard")
        for hidden in ("Configuration", "Scripts", "Users", "Audit"):
            await expect(header).not_to_contain_text(hidden)
        await viewer.goto(central.url + "/config")
        await expect(viewer.get_by_test_id("forbidden")).to_contain_text("plant.configure")
        await expect(viewer.get_by_text("Add equipment")).to_have_count(0)

        operator = await (await browser.new_context()).new_page()
        await log_in(operator, central, "oscar", "oscars-password", "operator")
        await operator.locator("tr", has_text="setpoint").locator("[data-write]").click()
        await operator.get_by_label("Value").fill("42.5")
        await operator.locator('[data-action="write"]').click()
        await expect(operator.get_by_text("Written; the PLC reads back 42.5")).to_be_visible(timeout=10_000)
        assert (await sim.get_raw(Table.HOLDING_REGISTER, 4))[0] == 425
        await operator.get_by_role("button", name="Close").click()
        await operator.get_by_test_id("logout").click()
        await expect(operator).to_have_url(central.url + "/login")
        await operator.goto(central.url + "/")
        await expect(operator).to_have_url(f"{central.url}/login?next=%2F")

        admin = await logged_in(browser, central)
        await admin.goto(central.url + "/audit")
        await admin.get_by_test_id("filter-principal").fill("oscar")
        await admin.get_by_test_id("filter").click()
        write = admin.locator("tr", has_text="edge_commands")
        await expect(write).to_contain_text("oscar")
        await expect(write).to_contain_text('"value": 42.5')
        await expect(write).to_contain_text('"tag": "setpoint"')
        await expect(admin.locator("tr", has_text="log in").first).to_contain_text("oscar")
        await admin.screenshot(path=str(central.data_dir / "audit.png"), full_page=True)
