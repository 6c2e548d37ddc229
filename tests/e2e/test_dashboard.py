"""The browser view: Debian chromium, driven by Playwright, against a real server, worker, edge and Modbus PLC."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tagpipe.drivers.sims.modbus_tcp import ModbusSim
from tests.helpers import async_wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


async def logged_in(browser: Browser, central, username: str = "admin", password: str | None = None) -> Page:  # type: ignore[no-untyped-def]
    """A new tab whose browser holds ``username``'s session (the admin's by default)."""
    page = await browser.new_page()
    args = (username, password) if password else (username,)
    await page.context.add_cookies(await asyncio.to_thread(central.session_cookies, *args))
    return page


async def test_dashboard_shows_live_values_and_trends_draw_a_chart(central, browser: Browser) -> None:
    async with ModbusSim() as sim:
        await sim.set_value("40001", 1234)
        ids = central.plant("modbus_tcp", {"host": "127.0.0.1", "port": sim.port},
                            [{"name": "temperature", "address": "40001", "scale": 0.1, "unit": "°C"}])
        central.edge("edge-1").start()
        await async_wait_until(lambda: central.tag_values()["temperature"]["value"] == 123.4, timeout=20)

        page = await logged_in(browser, central)
        await page.goto(central.url + "/")
        row = page.locator("tr", has_text="temperature")
        await expect(row).to_contain_text("123.4", timeout=15_000)
        await expect(row).to_contain_text("°C")
        await expect(page.get_by_text("Press 1")).to_be_visible()

        await sim.set_value("40001", 1250)
        await expect(row).to_contain_text("125", timeout=10_000)  # updated live, without a reload

        tag_id = ids["tags"]["temperature"]
        await page.goto(f"{central.url}/trends?tags={tag_id}&range=1%20h")
        status = page.get_by_text("points from")
        await expect(status).to_be_visible(timeout=15_000)
        count = int((await status.inner_text()).split()[0])
        assert count >= 2, "the 1 h trend has points"
        canvas = page.locator("canvas").first
        await expect(canvas).to_be_visible()
        box = await canvas.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 200
        await expect(page.locator("tbody tr").first).to_contain_text("temperature")
        await page.screenshot(path=str(central.data_dir / "trends.png"))

        storage = page.locator(f'[data-storage="{tag_id}"]')  # how the tag is stored, and the bound that follows
        await expect(storage).to_contain_text("Every value is stored as it arrived.")
        assert central.put(f"/api/tags/{tag_id}/storage", {"mode": "deadband", "deviation": 0.5}).status_code == 200
        await page.reload()
        await expect(storage).to_contain_text("Deadband ±0.5", timeout=15_000)
        await expect(storage).to_contain_text("within ±0.5 of the stored value before it")
        await expect(storage.locator('[data-action="storage"]')).to_be_visible()  # the admin may change it
        await asyncio.sleep(0)


def db_queries(central) -> int:  # type: ignore[no-untyped-def]
    text = central.get("/api/metrics").text
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("tagpipe_db_queries_total")))


async def test_open_dashboard_tabs_cost_no_database_queries(central, browser: Browser) -> None:
    """Five tabs stay live from the server's one event subscription; none of them polls the database."""
    ids = central.plant("simulator", {}, [{"name": "cycle", "address": "count", "data_type": "INT64"}],
                        interval_ms=250)
    central.edge("edge-1").start()
    await async_wait_until(lambda: (central.tag_values()["cycle"]["value"] or 0) > 1, timeout=20)
    # What the server spends with no tab open (the bus gate's sweep of connected edges reads their credentials).
    before = await asyncio.to_thread(db_queries, central)
    await asyncio.sleep(4)  # a measured window, not a wait for readiness
    idle = await asyncio.to_thread(db_queries, central) - before
    pages = [await logged_in(browser, central) for _ in range(5)]
    for page in pages:
        await page.goto(central.url + "/")
        await expect(page.locator("tr", has_text="cycle")).to_be_visible(timeout=15_000)

    async def shown(page) -> int:  # type: ignore[no-untyped-def]
        return int((await page.locator("tr", has_text="cycle").locator("td").nth(1).inner_text()).strip())

    before_values = [await shown(p) for p in pages]
    before = await asyncio.to_thread(db_queries, central)
    await asyncio.sleep(4)  # a window of steady state, measured, not waited on for readiness
    spent = await asyncio.to_thread(db_queries, central) - before
    after_values = [await shown(p) for p in pages]
    assert all(a > b for a, b in zip(after_values, before_values, strict=True)), "every tab kept updating"
    assert spent <= idle + 2, f"{spent} queries in 4 s with 5 tabs open, {idle} with none (each tab used to read " \
                              "twice a second)"
    assert ids["tags"]["cycle"]


async def test_every_page_shows_a_banner_while_a_component_is_down(central, browser: Browser) -> None:
    """The banner comes from the server's health snapshot: it names the dead worker's roles, and goes once a new
    worker reports."""
    import os
    import signal

    from tests.conftest import _spawn

    await async_wait_until(lambda: central.get("/api/health").json()["status"] == "ok", timeout=20,
                           what="the worker's roles reported")
    page = await logged_in(browser, central)
    await page.goto(central.url + "/fleet")
    banner = page.get_by_role("alert")
    await expect(page.get_by_text("Fleet").first).to_be_visible(timeout=15_000)
    await expect(banner).to_be_hidden()
    worker = central.procs[1]
    os.kill(worker.pid, signal.SIGKILL)
    await expect(banner).to_contain_text("worker role ingest: no status for", timeout=20_000)
    await page.goto(central.url + "/")  # and on every other page
    await expect(page.get_by_role("alert")).to_contain_text("worker role fleet", timeout=10_000)
    central.procs.append(_spawn(["tagpipe", "worker", "--role", "ingest,fleet"], central.env,
                                central.data_dir / "worker2.log"))
    await expect(page.get_by_role("alert")).to_be_hidden(timeout=20_000)
