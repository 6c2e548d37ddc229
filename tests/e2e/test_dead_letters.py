"""The Dead letters page in Debian chromium: a rejected message is listed with its reason, opened, and deleted."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.test_dashboard import (
    browser,  # noqa: F401 - the chromium fixture
    logged_in,
)
from tests.helpers import async_wait_until


async def test_a_dead_letter_is_listed_opened_and_deleted(central, browser: Browser) -> None:  # noqa: F811
    nc = await central.bus()
    await nc.jetstream().publish("tagpipe.devices.line-9.data", b'{"tags": {"speed": 1, "speed": 2}}')
    await nc.close()
    await async_wait_until(lambda: central.get("/api/ingest/dead-letters").json()["total"] == 1, timeout=15)

    page = await logged_in(browser, central)
    await page.goto(central.url + "/dead-letters")
    row = page.locator('[data-table="dead-letters"] tbody tr', has_text="line-9")
    await expect(row).to_contain_text("repeated key", timeout=15_000)
    await row.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text('"speed": 1, "speed": 2')
    await dialog.get_by_role("button", name="Delete").click()
    await expect(page.locator('[data-table="dead-letters"] tbody tr', has_text="line-9")).to_have_count(0,
                                                                                                       timeout=10_000)
    assert central.get("/api/ingest/dead-letters").json()["total"] == 0
    assert central.get("/api/ingest/rejects").json()["line-9"]["count"] == 1
