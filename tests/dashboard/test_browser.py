"""End to end: the real ``streamlit run`` server, driven by headless Chromium.

Screenshots of each page land in ``artifacts/screenshots/`` (gitignored) for a look.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from playwright.async_api import async_playwright

from store import Database
from tests.browser import CHROMIUM_ARGS, SCREENSHOTS
from tests.dashboard.conftest import settle
from tests.dashboard.test_themes import EVIL, _two_themes
from tests.factories import mention, seed

SEEDED = "The crew found my lost bag within the hour, thank you Acme!"


async def test_the_dashboard_serves_every_page_in_a_real_browser(
    store: Database, dashboard_url: str, chromium: Path
) -> None:
    """Overview, Mentions (showing a seeded mention's text) and Sources render in Chromium."""
    await seed(
        store,
        [
            (mention(SEEDED, url="https://example.com/r/1", handle="happy_flyer"), "positive"),
            (mention("Two hours on hold and nobody answers.", source="reddit"), "negative"),
            (mention("Booked the 9:40 to Lyon.", age=timedelta(days=2)), "neutral"),
            (mention("Lost my bag again", age=timedelta(days=4), source="reddit"), "negative"),
            (mention("Just landed, waiting for the scorer."), None),
        ],
    )
    await store.cursors.record_success("Acme", "replay", {"offset": 4}, 4)
    await store.cursors.record_error(
        "Acme", "reddit", "HTTP 503 from https://oauth.reddit.com/search"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1500})

            await page.goto(f"{dashboard_url}/")
            await page.get_by_text("Net sentiment", exact=True).wait_for(timeout=30_000)
            await page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
            await settle(page)
            assert await page.get_by_text("Traceback").count() == 0
            await page.screenshot(path=SCREENSHOTS / "overview.png", full_page=True)

            await page.goto(f"{dashboard_url}/mentions")
            await page.get_by_text(SEEDED).wait_for(timeout=30_000)
            await settle(page)
            assert await page.get_by_text("Not scored yet").count() == 1
            await page.screenshot(path=SCREENSHOTS / "mentions.png", full_page=True)

            await page.goto(f"{dashboard_url}/sources")
            await page.get_by_text("brand × source pairs failed").wait_for(timeout=30_000)
            await settle(page)
            await page.screenshot(path=SCREENSHOTS / "sources.png", full_page=True)
        finally:
            await browser.close()


async def test_the_themes_page_lists_themes_and_opens_a_picked_one_in_a_real_browser(
    store: Database, dashboard_url: str, chromium: Path
) -> None:
    """The table with its sparklines; a row clicked shows that theme's posts; post text stays text."""
    await _two_themes(store)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1500})
            await page.goto(f"{dashboard_url}/themes")
            await page.get_by_text(EVIL).first.wait_for(timeout=30_000)
            await settle(page)
            assert await page.get_by_text("Traceback").count() == 0
            assert await page.locator("h3", has_text="refund · card").count() == 1
            assert await page.locator("a[href*='evil.example']").count() == 0
            assert await page.locator("a[href='https://example.com/p/1']").count() >= 1
            grid = page.locator("[data-testid='stDataFrame']")
            box = await grid.bounding_box()
            assert box is not None
            # The second row's selection box (row markers at the left, rows 35 px high).
            await page.mouse.click(box["x"] + 14, box["y"] + 35 + 35 + 17)
            await page.locator("h3", has_text="late · [delivery](x)").wait_for(timeout=30_000)
            await settle(page)
            assert await page.get_by_text("parcel late again").count() == 2
            await page.screenshot(path=SCREENSHOTS / "themes.png", full_page=True)
        finally:
            await browser.close()
