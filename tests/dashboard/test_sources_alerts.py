"""The Sources and alerts page: recent alerts and their delivery, secrets masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from streamlit.testing.v1 import AppTest

from alerts.deliver import Deliverer
from alerts.engine import AlertEngine
from config.alerting import resolve_destinations
from config.settings import Settings
from store import Database
from tests.alerts.conftest import rule, scored
from tests.dashboard.conftest import Open, _go, _no_failure


async def test_recent_alerts_show_their_delivery_newest_first(
    store: Database, dashboard: Open
) -> None:
    """Each alert's rule, destination and state; failures warned about, with tokens masked."""
    now = datetime.now(UTC)
    await store.cursors.record_success("Acme", "replay", {"offset": 1}, 1)
    await store.collection("alerts").insert_many(
        [
            {"dedupe_key": "old", "rule": "negative_spike", "brand": "Acme", "destination": "slack",
             "created_at": now - timedelta(hours=3), "state": "sent", "attempts": 1,
             "sent_at": now - timedelta(hours=3), "payload": {"text": "x"}},
            {"dedupe_key": "new", "rule": "vip_complaint", "brand": "Acme", "destination": "ops",
             "created_at": now, "state": "failed", "attempts": 5,
             "last_error": "HTTP 403 from https://hooks.slack.com/x?token=xoxb-123456789",
             "payload": {"text": "y"}},
        ]
    )  # fmt: skip
    app = _go(_open(dashboard), "sources")
    _no_failure(app)
    assert any("1 of the latest 2 alerts could not be delivered" in w.value for w in app.warning)
    table = app.dataframe[1].value
    assert list(table["Rule"]) == ["vip_complaint", "negative_spike"]
    assert list(table["Delivery"]) == ["❌ failed", "✅ sent"]
    assert "xoxb-123456789" not in table["Last error"][0]
    assert "token=***" in table["Last error"][0]


async def test_without_alerts_the_page_says_when_they_come(
    store: Database, dashboard: Open
) -> None:
    """No alerts and no sources yet: two empty states, no failure."""
    app = _go(_open(dashboard), "sources")
    _no_failure(app)
    assert any("No alerts yet" in info.value for info in app.info)


def _open(dashboard: Open) -> AppTest:
    return dashboard()


async def test_only_windows_still_not_read_are_counted_and_listed(
    store: Database, dashboard: Open
) -> None:
    """A window a later catch-up read is neither counted nor listed; the open one is both."""
    now = datetime.now(UTC)
    await store.cursors.record_success("Acme", "reddit", {"n": 1}, 1, caught_up=True)
    await store.cursors.record_error(
        "Acme", "reddit", "SourceUnavailable: read after all", gap_since=now - timedelta(hours=5)
    )
    await store.cursors.record_success("Acme", "reddit", {"n": 2}, 1, caught_up=True)  # reads it
    await store.cursors.record_error(
        "Acme",
        "reddit",
        "RateLimited: https://oauth.reddit.com/search?access_token=abc123 still missing",
        gap_since=now - timedelta(hours=1),
    )
    app = _go(_open(dashboard), "sources")
    assert not app.exception
    [row] = app.dataframe[0].value.to_dict("records")
    assert row["Windows not read"] == 1
    assert [expander.label for expander in app.expander] == ["1 window not read"]
    listed = [text.value for text in app.text]
    assert len(listed) == 1 and listed[0].startswith("Acme · reddit: ")
    assert "still missing" in listed[0] and "abc123" not in listed[0]
    assert not any("read after all" in text for text in listed)


async def _kept_on_the_dashboard(store: Database) -> str:
    """A complaint raised by the engine and an older tier change, delivered to the dashboard
    destination by the real deliverer (no Slack); the complaint's mention id."""
    mention_id = await scored(
        store, "Acme [click me](http://evil.test) *lost* my bag # twice", followers=1200
    )
    await store.outbox.raise_alert(
        dedupe_key="tier:p1|Acme:advocate",
        rule="new-advocates",
        brand="Acme",
        destination="dashboard",
        payload={
            "kind": "tier_change",
            "brand": "Acme",
            "profile_id": "p1",
            "tier": "advocate",
            "previous_tier": "neutral",
            "score": 31.0,
            "mentions": 4,
            "who": {"name": "Dana Fan", "advocacy_tier": "advocate", "advocacy_score": 31.0},
            "url": "",
            "dashboard_url": "http://gw.test/?profile=p1",
            "summary": "New advocate of Acme: Dana Fan (score +31)",
        },
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    complaints = rule(rule="complaint", name="complaints", destination="dashboard")
    engine = AlertEngine(
        store.outbox, [complaints], brands=["Acme"], dashboard_link="http://gw.test"
    )
    assert await engine.run_once() == 1
    destinations = resolve_destinations(
        {}, Settings(slack_webhook_url=None, slack_bot_token=None), environ={}
    )
    async with aiohttp.ClientSession() as session:
        assert await Deliverer(store.outbox, destinations, session).deliver_once() == 2
    return str(mention_id)


async def test_dashboard_alerts_read_as_slack_shows_them_newest_first(
    store: Database, dashboard: Open
) -> None:
    """The dashboard destination's alerts: title, rule, brand, who, the post (its own Markdown
    inert) and a link into Goodwill, newest first; their delivery reads as sent."""
    mention_id = await _kept_on_the_dashboard(store)
    app = _go(_open(dashboard), "sources")
    _no_failure(app)
    shown = [element.value for element in app.markdown]
    titles = [
        text for text in shown if text in ("**Complaint about Acme**", "**New advocate of Acme**")
    ]
    assert titles == ["**Complaint about Acme**", "**New advocate of Acme**"]
    assert any(text.startswith("**On the dashboard** (2)") for text in shown)
    assert any("**Reach**" in text and "1,200 followers" in text for text in shown)
    quote = next(text for text in shown if text.startswith("> "))
    # The post's link stays text; its *bold* is bold, as in Slack.
    assert quote.startswith("> Acme \\[click me\\]\\(http") and "**lost**" in quote
    captions = [element.value for element in app.caption]
    assert any(caption.startswith("complaints · Acme · ") for caption in captions)
    links = app.get("page_link")
    assert [link.proto.label for link in links] == ["Open the mention", "Open the profile"]
    assert (links[0].proto.page, links[0].proto.query_string) == (
        "mentions",
        f"mention={mention_id}",
    )
    assert (links[1].proto.page, links[1].proto.query_string) == ("profile", "profile=p1")
    table = app.dataframe[-1].value  # no source has run: the delivery table is the only one
    assert list(table["Destination"]) == ["dashboard", "dashboard"]
    assert list(table["Delivery"]) == ["✅ sent", "✅ sent"]


async def test_dashboard_alerts_can_be_read_one_rule_at_a_time(
    store: Database, dashboard: Open
) -> None:
    """The rule picker lists each rule with its count; picking one shows only its alerts."""
    await _kept_on_the_dashboard(store)
    app = _go(_open(dashboard), "sources")
    picker = app.selectbox(key="kept_alerts_rule")
    assert list(picker.options) == ["All rules", "complaints (1)", "new-advocates (1)"]
    picker.select("new-advocates").run()
    _no_failure(app)
    shown = [element.value for element in app.markdown]
    assert "**New advocate of Acme**" in shown and "**Complaint about Acme**" not in shown
