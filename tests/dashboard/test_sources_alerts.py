"""The Sources and alerts page: recent alerts and their delivery, secrets masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest

from store import Database
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
