"""Admin → Storage in Debian chromium: the table sizes and the disk are shown, and the default retention is changed
(bad input named, good input saved) by an admin, while a viewer only looks."""

from __future__ import annotations

import asyncio

from playwright.async_api import Browser, expect

from tests.e2e.test_dashboard import (
    browser,  # noqa: F401 - the chromium fixture
    logged_in,
)


async def test_the_storage_page_shows_table_sizes_and_changes_the_default(shared_central,
                                                                         browser: Browser) -> None:  # noqa: F811
    eq = shared_central.post("/api/equipment", {"name": "Kiln"}).json()["id"]
    sizes = {t["name"]: t["bytes"] for t in shared_central.get("/api/storage").json()["tables"]}
    page = await logged_in(browser, shared_central)
    await page.goto(shared_central.url + "/admin/storage")
    table = page.locator('[data-table="table-sizes"]')
    for name in ("samples", "sample_blocks", "rollup_1m", "rollup_1h"):
        await expect(table.locator("tbody tr", has_text=name).first).to_contain_text(str(sizes[name]),
                                                                                   timeout=15_000)
    summary = page.get_by_test_id("disk-summary")
    await expect(summary).to_contain_text("free of")
    await expect(summary).to_contain_text("Growth: measuring")
    await expect(page.get_by_role("link", name="Storage")).to_be_visible()

    raw = page.get_by_test_id("default-raw")
    await expect(raw).to_have_value("365")
    await raw.fill("ten")
    await page.get_by_role("button", name="Save default").click()
    note = page.get_by_test_id("retention-note")
    await expect(note).to_contain_text("raw_days: expected a whole number from 0 to 36500")
    assert shared_central.get("/api/retention").json()["default"]["raw_days"] == 365
    await raw.fill("90")
    await page.get_by_test_id("default-minutes").fill("")
    await page.get_by_role("button", name="Save default").click()
    await expect(note).to_contain_text("Saved")
    assert shared_central.get("/api/retention").json()["default"] == {
        "raw_days": 90, "rollup_1m_months": None, "rollup_1h": "forever"}

    await page.get_by_label("Which").click()
    await page.get_by_role("option", name="Kiln").click()
    await page.get_by_label("Raw values (days)").nth(1).fill("730")
    await page.get_by_role("button", name="Save override").click()
    await expect(page.locator('[data-table="retention-overrides"] tbody tr', has_text="Kiln")).to_contain_text(
        "730 days")
    assert shared_central.get("/api/retention").json()["equipment"][0] == {
        "id": eq, "name": "Kiln", "raw_days": 730, "rollup_1m_months": None, "rollup_1h": "forever"}

    await asyncio.to_thread(shared_central.user, "storage-viewer", "viewer", "viewer-password")
    viewer = await logged_in(browser, shared_central, "storage-viewer", "viewer-password")
    await viewer.goto(shared_central.url + "/admin/storage")
    await expect(viewer.locator('[data-table="table-sizes"] tbody tr', has_text="samples").first).to_be_visible(
        timeout=15_000)
    await expect(viewer.get_by_role("button", name="Save default")).to_be_disabled()
