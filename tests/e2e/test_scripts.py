"""The Scripts page in Debian chromium: write a transform, Test it, Save it, and watch the dashboard value change."""

from __future__ import annotations

import json

from playwright.async_api import Browser, expect

from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tests.e2e.test_dashboard import browser, logged_in  # noqa: F401 - the chromium fixture
from tests.helpers import async_wait_until

CODE = ("def transform(tag_name, raw_value, context):\n"
        "    print('scaling', tag_name)\n"
        "    return round(raw_value * 2, 1) if tag_name == 'temperature' else raw_value\n")


async def _type_code(page, code: str) -> None:  # type: ignore[no-untyped-def]
    editor = page.locator(".cm-content").first
    await editor.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Delete")
    await page.keyboard.insert_text(code)  # no key events, so no auto-indent


async def test_write_test_and_save_a_transform_in_the_browser(central, browser: Browser) -> None:  # noqa: F811
    async with ModbusSim() as sim:
        await sim.set_value("40001", 1234)
        central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port},
                      [{"name": "temperature", "address": "40001", "scale": 0.1, "unit": "°C"}])
        central.edge("edge-1").start()
        await async_wait_until(lambda: central.tag_values()["temperature"]["value"] == 123.4, timeout=20)

        page = await logged_in(browser, central)
        await page.goto(central.url + "/scripts")
        await page.get_by_test_id("new").click()
        test_input = page.get_by_test_id("test-input")
        await expect(test_input).to_have_value(json.dumps({"tag_name": "temperature", "raw_value": 123.4}, indent=2),
                                               timeout=10_000)  # prefilled from the latest real value

        await _type_code(page, "def transform(tag_name, raw_value, context):\n    return raw_value +* 2\n")
        await page.get_by_test_id("test").click()
        await expect(page.get_by_test_id("test-result")).to_contain_text("line 2", timeout=5_000)
        await expect(page.locator(".tp-error-line")).to_have_count(1)  # the failing line is marked in the editor

        await _type_code(page, CODE)
        await page.get_by_test_id("test").click()
        result = page.get_by_test_id("test-result")
        await expect(result).to_contain_text("result: 246.8", timeout=5_000)
        await expect(page.get_by_text("scaling temperature")).to_be_visible()
        await expect(page.locator(".tp-error-line")).to_have_count(0)

        await page.get_by_test_id("save").click()
        await expect(page.get_by_text("Saved as version 1")).to_be_visible(timeout=5_000)
        await page.locator(".q-expansion-item").first.click()
        await page.screenshot(path=str(central.data_dir / "scripts.png"), full_page=True)
        scripts = central.get("/api/fleet/scripts").json()
        assert [s["code"] for s in scripts] == [CODE]

        await page.goto(central.url + "/")
        row = page.locator("tr", has_text="temperature")
        await expect(row).to_contain_text("246.8", timeout=10_000)
