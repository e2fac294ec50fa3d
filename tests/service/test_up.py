"""`goodwill up` end to end: embedded database, collector, scorer and dashboard, started and stopped as one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright
from pymongo import MongoClient

from goodwill.models import Mention
from store import Database
from tests.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.service.conftest import UpProcess, wait_until_gone


@pytest.fixture
def goodwill_up(
    start_up: Callable[[dict[str, str]], UpProcess], up_env: dict[str, str]
) -> UpProcess:
    """A running `goodwill up` that has said it is up; it and all it started are killed afterwards."""
    up = start_up(up_env)
    up.wait_for("Goodwill is up", 240)
    return up


@pytest.mark.timeout(400)
def test_up_runs_everything_and_ctrl_c_stops_everything(
    goodwill_up: UpProcess, up_env: dict[str, str]
) -> None:
    """One command brings up the database and dashboard with scored real mentions; Ctrl-C stops it all."""
    dashboard = f"http://127.0.0.1:{up_env['GOODWILL_DASHBOARD_PORT']}"
    with urllib.request.urlopen(f"{dashboard}/_stcore/health", timeout=5) as response:
        assert response.status == 200

    uri = f"mongodb://127.0.0.1:{up_env['GOODWILL_DB_PORT']}/?directConnection=true"
    with MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=3000) as client:
        mentions = client["goodwill"]["mentions"]
        deadline = time.monotonic() + 240
        while (
            time.monotonic() < deadline and mentions.count_documents({"score_state": "scored"}) < 50
        ):
            time.sleep(1)
        assert mentions.count_documents({"score_state": "scored"}) >= 50
        assert mentions.count_documents({"source": "replay"}) > 1000
        # The scorer ties the tweets' authors to profiles and scores their advocacy.
        database = client["goodwill"]
        while time.monotonic() < deadline and database.advocacy.count_documents({}) == 0:
            time.sleep(1)  # advocacy is refreshed right after its batch's scores are written
        assert database.profiles.count_documents({}) > 0
        assert database.advocacy.count_documents({}) > 0
        assert mentions.count_documents({"profile_id": {"$exists": True}}) >= 50
        newest = [
            doc["text"]
            for doc in mentions.find({}, {"text": 1})
            .sort([("created_at", -1), ("_id", -1)])
            .limit(25)
        ]
    _the_browser_shows_real_mentions(dashboard, newest)
    _a_killed_database_is_restarted_and_scoring_goes_on(up_env, uri)

    second = subprocess.run(
        [sys.executable, "-m", "service.cli", "up"],
        env=up_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    assert "already running" in second.stderr and dashboard in second.stderr

    assert goodwill_up.interrupt() == 0
    assert "Goodwill stopped." in goodwill_up.output()
    assert not wait_until_gone(Path(up_env["GOODWILL_DATA_DIR"]), 60)
    with (
        MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=1000) as client,
        pytest.raises(Exception, match=r"refused|Timeout"),
    ):
        client.admin.command("ping")
    assert not (Path(up_env["GOODWILL_DATA_DIR"]) / "run" / "up.json").exists()


def _the_browser_shows_real_mentions(dashboard: str, newest: list[str]) -> None:
    """The live dashboard's feed, in Chromium, shows the replayed tweets; screenshots are kept."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(f"{dashboard}/")
            page.get_by_text("Net sentiment", exact=True).wait_for(timeout=60_000)
            page.screenshot(path=SCREENSHOTS / "up-overview.png", full_page=True)
            page.goto(f"{dashboard}/mentions")
            page.get_by_text(newest[0], exact=True).wait_for(timeout=60_000)
            assert page.get_by_text("Traceback").count() == 0
            page.screenshot(path=SCREENSHOTS / "up-mentions.png", full_page=True)
        finally:
            browser.close()


def _a_killed_database_is_restarted_and_scoring_goes_on(env: dict[str, str], uri: str) -> None:
    """The embedded database dies (SIGKILL): `up` starts it again and the scorer reconnects."""
    pid_file = Path(env["GOODWILL_DATA_DIR"]) / "run" / "db.json"
    old_pid = json.loads(pid_file.read_text())["pid"]
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    new_pid = old_pid
    while time.monotonic() < deadline and new_pid == old_pid:
        time.sleep(0.5)
        with contextlib.suppress(OSError, ValueError, KeyError):
            new_pid = json.loads(pid_file.read_text())["pid"]
    assert new_pid != old_pid, "the database was not restarted"

    async def add_mention() -> None:
        store = await Database.open(uri, "goodwill", timeout_ms=20_000)
        try:
            await store.mentions.upsert(
                [
                    Mention(
                        source="test",
                        external_id="after-restart",
                        brand="JetBlue",
                        text="@JetBlue best crew ever, thank you!",
                        created_at=datetime.now(UTC),
                    )
                ]
            )
        finally:
            await store.close()

    asyncio.run(add_mention())
    with MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=20_000) as client:
        mentions = client["goodwill"]["mentions"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if mentions.count_documents({"external_id": "after-restart", "score_state": "scored"}):
                break
            time.sleep(1)
        assert (
            mentions.count_documents({"external_id": "after-restart", "score_state": "scored"}) == 1
        )


def test_up_refuses_a_taken_dashboard_port_and_starts_nothing(
    start_up: Callable[[dict[str, str]], UpProcess], up_env: dict[str, str]
) -> None:
    """With the dashboard's port listened on, `up` says which port and what to do, and exits 1."""
    with socket.socket() as taken:
        # As a server binds: SO_REUSEADDR does not let a second one listen beside it.
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", int(up_env["GOODWILL_DASHBOARD_PORT"])))
        taken.listen()
        up = start_up(up_env)
        assert up.process.wait(timeout=120) == 1
    output = up.output()
    assert f"Port {up_env['GOODWILL_DASHBOARD_PORT']}" in output
    assert "GOODWILL_DASHBOARD_PORT" in output and "Traceback" not in output
    assert not (Path(up_env["GOODWILL_DATA_DIR"]) / "run" / "db.json").exists()
