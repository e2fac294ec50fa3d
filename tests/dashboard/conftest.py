"""The dashboard tests' shared fixture and helpers: the app opened by AppTest on the test database."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
import streamlit as st
from playwright.async_api import Page
from streamlit.testing.v1 import AppTest

from config.settings import get_settings
from tests.browser import CHROMIUM, ROOT
from tests.conftest import free_port

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"

Open = Callable[[], AppTest]


def _forget_everything() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()  # closes the dashboard's store and stops its loop
    get_settings.cache_clear()


@pytest.fixture
def dashboard(
    monkeypatch: pytest.MonkeyPatch, mongodb_uri: str, database_name: str
) -> Iterator[Open]:
    """Opens the app (not yet run) on the test database; its store is closed afterwards."""
    monkeypatch.setenv("GOODWILL_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("GOODWILL_DATABASE", database_name)
    monkeypatch.delenv("GOODWILL_DASHBOARD_PASSWORD", raising=False)
    _forget_everything()
    yield lambda: AppTest.from_file(APP, default_timeout=30)
    _forget_everything()


def _go(app: AppTest, url_path: str) -> AppTest:
    """Open one page of the app and run it.

    ``AppTest.switch_page`` takes page files only, and Goodwill's pages are functions
    given to ``st.navigation``; so this asks for the page it registered under
    ``url_path``, as a browser opening ``/url_path`` does.
    """
    if not app._registered_pages:
        app.run()
    pages = {info.get("url_pathname"): key for key, info in app._registered_pages.items()}
    app._page_hash = pages[url_path]
    return app.run()


def _texts(app: AppTest) -> list[str]:
    return [element.value for element in app.text]


def _no_failure(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


# -- the real server, for browser tests ------------------------------------------------

Serve = Callable[..., contextlib.AbstractAsyncContextManager[str]]


@pytest.fixture
def serve_dashboard(goodwill_env: dict[str, str], tmp_path: Path) -> Serve:
    """Starts the real app (``streamlit run``) on the test database; keyword arguments are
    extra environment variables (such as ``GOODWILL_DASHBOARD_PASSWORD``)."""

    def serve(**extra: str) -> contextlib.AbstractAsyncContextManager[str]:
        return _serve(goodwill_env, tmp_path, extra)

    return serve


@contextlib.asynccontextmanager
async def _serve(
    goodwill_env: dict[str, str], tmp_path: Path, extra: dict[str, str]
) -> AsyncIterator[str]:
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
            env={**goodwill_env, "HOME": str(tmp_path), **extra},
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


async def settle(page: Page) -> None:
    """Wait until Streamlit has finished running the page script and charts are drawn."""
    await page.wait_for_selector("[data-testid='stStatusWidget']", state="detached", timeout=30_000)
    await page.wait_for_timeout(800)


@pytest.fixture
async def dashboard_url(serve_dashboard: Serve) -> AsyncIterator[str]:
    """The real app, without a password."""
    async with serve_dashboard() as url:
        yield url


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium (never a downloaded browser)."""
    assert CHROMIUM.exists(), (
        "the browser test needs /usr/bin/chromium: run scripts/ensure-chromium"
    )
    return CHROMIUM
