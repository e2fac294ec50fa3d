"""End to end: the real ``streamlit run`` server, driven by headless Chromium.

Screenshots of each page land in ``artifacts/screenshots/`` (gitignored) for a look.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright

from goodwill.store import Store
from tests.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, SCREENSHOTS
from tests.conftest import free_port
from tests.factories import mention, seed

SEEDED = "The crew found my lost bag within the hour, thank you Acme!"


@pytest.fixture
async def dashboard_url(goodwill_env: dict[str, str], tmp_path: Path) -> AsyncIterator[str]:
    """``streamlit run dashboard/app.py`` on a free port, against the test database."""
    port = free_port()
    log_path = tmp_path / "streamlit.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            "--client.toolbarMode",
            "minimal",
            cwd=ROOT,
            env={**goodwill_env, "HOME": str(tmp_path)},
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_healthy(url, process, log_path)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_healthy(
    url: str, process: asyncio.subprocess.Process, log_path: Path
) -> None:
    try:
        async with asyncio.timeout(60), aiohttp.ClientSession() as session:
            while process.returncode is None:
                try:
                    async with session.get(f"{url}/_stcore/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass  # not listening yet
                await asyncio.sleep(0.2)
    except TimeoutError:
        pass
    log = await asyncio.to_thread(log_path.read_text)
    raise RuntimeError(f"streamlit did not start:\n{log}")


async def _settle(page: Page) -> None:
    """Wait until Streamlit has finished running the page script and charts are drawn."""
    await page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=30_000)
    await page.wait_for_timeout(800)


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium (never a downloaded browser)."""
    assert CHROMIUM.exists(), (
        "the browser test needs /usr/bin/chromium: run scripts/ensure-chromium"
    )
    return CHROMIUM


async def test_the_dashboard_serves_every_page_in_a_real_browser(
    store: Store, dashboard_url: str, chromium: Path
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
    await store.record_success("Acme", "replay", {"offset": 4}, 4)
    await store.record_error("Acme", "reddit", "HTTP 503 from https://oauth.reddit.com/search")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1500})

            await page.goto(f"{dashboard_url}/")
            await page.get_by_text("Net sentiment").wait_for(timeout=30_000)
            await page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
            await _settle(page)
            assert await page.get_by_text("Traceback").count() == 0
            await page.screenshot(path=SCREENSHOTS / "overview.png", full_page=True)

            await page.goto(f"{dashboard_url}/mentions")
            await page.get_by_text(SEEDED).wait_for(timeout=30_000)
            await _settle(page)
            assert await page.get_by_text("Not scored yet").count() == 1
            await page.screenshot(path=SCREENSHOTS / "mentions.png", full_page=True)

            await page.goto(f"{dashboard_url}/sources")
            await page.get_by_text("brand × source pairs failed").wait_for(timeout=30_000)
            await _settle(page)
            await page.screenshot(path=SCREENSHOTS / "sources.png", full_page=True)
        finally:
            await browser.close()
