"""End to end: log in, work a complaint from assigned to resolved in Chromium, check MongoDB.

Screenshots of every page land in ``artifacts/screenshots/`` (gitignored): the login,
each page, and the queue before and after the workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Page, async_playwright

from customers.profiles import ProfileStore
from store import Database
from tests.browser import CHROMIUM_ARGS, SCREENSHOTS
from tests.dashboard.conftest import Serve, settle
from tests.factories import advocacy_doc, mention, profile_doc, seed

PASSWORD = "e2e secret"
COMPLAINT = "Two hours on hold and my refund still has not arrived. Fix this, Acme."
ME = "Ana Agent"


async def _go(page: Page, title: str, heading: str) -> None:
    """Open a page from the sidebar (a reload would start a new session: log in again)."""
    await page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    await page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
    await settle(page)


async def _choose(page: Page, label: str, option: str) -> None:
    await page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    await page.get_by_role("option", name=option, exact=True).click()


async def _apply(page: Page, action: str, done: str, value: str = "") -> None:
    """Pick an action in the queue's form, give its value, Apply, wait for its confirmation."""
    await _choose(page, "Action", action)
    await page.get_by_label("Name, tag or note", exact=True).fill(value)
    await page.get_by_role("button", name="Apply").click()
    await page.get_by_text(done, exact=True).wait_for(timeout=30_000)
    await settle(page)


async def test_a_community_manager_works_a_complaint_through_in_a_real_browser(
    store: Database, serve_dashboard: Serve, chromium: Path
) -> None:
    """Log in, assign to me, acknowledge, note, resolve; MongoDB has who did what and when."""
    await seed(
        store,
        [
            (mention(COMPLAINT, url="https://example.com/r/9", handle="stuck"), "negative"),
            (mention("Smooth boarding today, thanks Acme", age=timedelta(days=2)), "positive"),
            (mention("Delayed again", age=timedelta(days=5), source="reddit"), "negative"),
        ],
    )
    await store.collection("mentions").update_one(
        {"text": COMPLAINT},
        {
            "$set": {
                "complaint": {
                    "is_complaint": True,
                    "kind": "complaint",
                    "category": "refund",
                    "score": 0.93,
                    "reasons": ["names a failure"],
                },
                "counted.complaint": True,
            }
        },
    )
    await store.cursors.record_success("Acme", "replay", {"offset": 3}, 3)
    profiles = ProfileStore(store)  # the authors as the scorer resolves them, for the people pages
    docs = [doc async for doc in store.collection("mentions").find({})]
    resolved = await profiles.resolve(docs)
    await profiles.refresh({(pid, "Acme") for pid in resolved.values()})
    for number, score in enumerate((72.5, 41.0, -63.0)):
        fan = profile_doc(f"fan{number}", source="replay", display_name=f"Fan {number}")
        await store.collection("profiles").insert_one(fan)
        tier = "advocate" if score > 0 else "detractor"
        await store.collection("advocacy").insert_one(
            advocacy_doc(fan["_id"], score=score, tier=tier, sources=["replay"])
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    began = datetime.now(UTC)
    async with (
        serve_dashboard(GOODWILL_DASHBOARD_PASSWORD=PASSWORD) as url,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1600})
            await page.goto(url)
            await page.get_by_label("Password", exact=True).wait_for(timeout=30_000)
            await settle(page)
            await page.screenshot(path=SCREENSHOTS / "login.png", full_page=True)
            await page.get_by_label("Password", exact=True).fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await page.get_by_text("Net sentiment").first.wait_for(timeout=30_000)
            await settle(page)
            assert await page.get_by_text("Traceback").count() == 0
            await page.screenshot(path=SCREENSHOTS / "e2e-overview.png", full_page=True)

            name = page.get_by_label("Your name", exact=True)
            await name.fill(ME)
            await name.press("Enter")
            await settle(page)

            await _go(page, "Mentions", "Mentions")
            await page.get_by_text(COMPLAINT).wait_for(timeout=30_000)
            await page.screenshot(path=SCREENSHOTS / "e2e-mentions.png", full_page=True)

            await _go(page, "Complaints queue", "Complaints queue")
            await page.get_by_text(COMPLAINT).first.wait_for(timeout=30_000)
            await page.screenshot(path=SCREENSHOTS / "complaints-before.png", full_page=True)
            await _apply(page, "Assign to (a name; empty: you)", "Done: assigned to.")
            await page.get_by_text(f"assigned to {ME}").first.wait_for(timeout=30_000)
            await _apply(page, "Acknowledge", "Done: acknowledged.")
            await _apply(page, "Add a note", "Done: noted.", "Called back, refund sent today")
            await page.screenshot(path=SCREENSHOTS / "complaints-worked.png", full_page=True)
            await _apply(page, "Resolve", "Done: resolved.")
            await page.get_by_text("No open complaints.").wait_for(timeout=30_000)
            await page.screenshot(path=SCREENSHOTS / "complaints-after.png", full_page=True)

            await _go(page, "Sources and alerts", "Sources and alerts")
            await page.screenshot(path=SCREENSHOTS / "e2e-sources.png", full_page=True)
            assert await page.get_by_text("Traceback").count() == 0

            await _go(page, "Advocates and detractors", "Advocates and detractors")
            await page.screenshot(path=SCREENSHOTS / "e2e-advocates.png", full_page=True)
            await _go(page, "Profile", "Profile")
            person = page.get_by_label("Person", exact=True)
            await person.fill("replay:stuck")
            await person.press("Enter")
            await page.get_by_text(COMPLAINT).first.wait_for(timeout=30_000)
            await settle(page)
            await page.screenshot(path=SCREENSHOTS / "e2e-profile.png", full_page=True)
            assert await page.get_by_text("Traceback").count() == 0
        finally:
            await browser.close()

    doc = await store.collection("mentions").find_one({"text": COMPLAINT})
    assert doc is not None
    handling = doc["handling"]
    assert handling["state"] == "resolved"
    assert handling["assignee"] == ME
    steps = [(step["action"], step["by"], step["value"]) for step in handling["history"]]
    assert steps == [
        ("assign", ME, ME),
        ("acknowledge", ME, None),
        ("note", ME, "Called back, refund sent today"),
        ("resolve", ME, None),
    ]
    moments = [step["at"] for step in handling["history"]]
    assert moments == sorted(moments)
    assert all(began - timedelta(seconds=5) <= moment <= datetime.now(UTC) for moment in moments)
