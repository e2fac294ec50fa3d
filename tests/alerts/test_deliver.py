"""Delivery to a real Slack-compatible receiver: once, in order, through outages, 429s and bursts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from alerts.deliver import Deliverer
from alerts.engine import AlertEngine
from alerts.messages import render, validate_message
from config.alerting import Destination, QuietHours, resolve_destinations
from config.settings import Settings
from store import Database
from store.outbox import Outbox
from tests.alerts.conftest import Receiver, rule, scored, webhook


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def deliverer(alerts: Outbox, session, *destinations: Destination, **options) -> Deliverer:
    options = {"rate": 100.0, "backoff": 0.05, "max_backoff": 0.2, "timeout": 1.0, **options}
    return Deliverer(alerts, {d.name: d for d in destinations}, session, **options)


async def raise_many(
    alerts: Outbox, count: int, destination: str = "slack", start: int = 0
) -> None:
    for i in range(start, start + count):
        await alerts.raise_alert(
            dedupe_key=f"complaint:m{i}:vip",
            rule="vip",
            brand="Acme",
            destination=destination,
            payload={
                "kind": "complaint",
                "brand": "Acme",
                "mention_id": f"m{i}",
                "text": f"complaint number {i}",
                "url": f"https://example.com/{i}",
                "dashboard_url": f"http://goodwill.test/?mention=m{i}",
                "summary": f"alert {i}",
                "who": {"name": f"Customer {i}", "customer_tier": "enterprise", "value": 1000},
                "sentiment": {"label": "negative", "score": 0.9},
                "complaint": {"score": 0.8},
            },
        )


async def drain(worker: Deliverer, alerts: Outbox, *, seconds: float = 10.0) -> None:
    """Deliver until nothing is open (or ``seconds`` pass)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while await alerts.count({"state": {"$in": ["pending", "sending"]}}):
        assert asyncio.get_running_loop().time() < deadline, "alerts still open"
        await worker.deliver_once()
        await asyncio.sleep(0.02)


async def test_alerts_arrive_once_in_the_order_raised(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """Each alert arrives exactly once, oldest first, with valid blocks; all end ``sent``."""
    await raise_many(alert_store, 5)
    worker = deliverer(alert_store, session, webhook(receiver))
    await drain(worker, alert_store)
    await worker.deliver_once()
    assert receiver.texts() == [f"alert {i}" for i in range(5)]
    assert all(validate_message(body) == [] for body in receiver.received)
    assert await alert_store.count({"state": "sent"}) == 5


async def test_an_outage_of_500s_and_dropped_connections_delays_but_loses_nothing(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """5xx, closed connections and timeouts are retried with back-off; each alert then arrives once, in order."""
    receiver.hang_seconds = 2.0
    receiver.answer("error", "unavailable", "close", "hang", "error")
    await raise_many(alert_store, 3)
    worker = deliverer(alert_store, session, webhook(receiver), timeout=0.3)
    await drain(worker, alert_store)
    assert receiver.texts() == ["alert 0", "alert 1", "alert 2"]
    first = (await alert_store.recent(limit=10))[-1]
    assert first["attempts"] == 6 and first["state"] == "sent"


async def test_the_outbox_survives_a_restart_while_slack_is_down(
    store: Database, alert_store: Outbox, receiver: Receiver, session
) -> None:
    """Alerts raised while Slack answers 500 wait in MongoDB; a new deliverer sends each once."""
    receiver.default = "error"
    await raise_many(alert_store, 3)
    down = deliverer(alert_store, session, webhook(receiver))
    for _ in range(4):
        await down.deliver_once()
        await asyncio.sleep(0.1)
    assert receiver.received == [] and len(receiver.attempts) >= 2
    receiver.default = "ok"
    await asyncio.sleep(0.25)
    restarted = deliverer(store.outbox, session, webhook(receiver))
    await drain(restarted, alert_store)
    assert receiver.texts() == ["alert 0", "alert 1", "alert 2"]


async def test_a_dead_deliverers_lease_expires_and_its_alerts_are_sent(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """A deliverer that claimed alerts and died leaves a lease; when it expires another sends them."""
    await raise_many(alert_store, 2)
    lease = await alert_store.claim_due("slack", "dead", lease=timedelta(seconds=0.3))
    assert lease is not None and len(lease.alerts) == 2
    worker = deliverer(alert_store, session, webhook(receiver))
    assert await worker.deliver_once() == 0  # the lease is live
    await asyncio.sleep(0.4)
    await drain(worker, alert_store)
    assert receiver.texts() == ["alert 0", "alert 1"]


async def test_429_retry_after_is_honoured(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """After a 429 nothing goes to the destination before Retry-After has passed."""
    receiver.retry_after = 1.0
    receiver.answer("rate_limited")
    await raise_many(alert_store, 2)
    worker = deliverer(alert_store, session, webhook(receiver))
    await drain(worker, alert_store)
    limited_at = receiver.attempts[0][0]
    assert receiver.attempts[0][2] == "rate_limited"
    assert receiver.received_at[0] - limited_at >= 0.95
    assert receiver.texts() == ["alert 0", "alert 1"]


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("invalid_payload", "400 invalid_payload"),
        ("no_service", "404 no_service"),
        ("forbidden", "403"),
    ],
)
async def test_refusals_fail_for_good_with_the_error(
    alert_store: Outbox, receiver: Receiver, session, mode: str, error: str
) -> None:
    """400 invalid_payload, 404 no_service and 403 are not retried; the error is kept; the queue moves on."""
    receiver.answer(mode)
    await raise_many(alert_store, 2)
    worker = deliverer(alert_store, session, webhook(receiver))
    await drain(worker, alert_store)
    docs = sorted(await alert_store.recent(), key=lambda d: d["created_at"])
    assert docs[0]["state"] == "failed" and docs[0]["last_error"].startswith(error)
    assert docs[1]["state"] == "sent" and len(receiver.attempts) == 2


async def test_a_burst_is_grouped_into_one_message_not_dropped(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """More than K due at once for a destination: one message lists each, in order, with its links;
    every alert is ``sent`` with the message's id, and no group document is written."""
    await raise_many(alert_store, 30)
    worker = deliverer(alert_store, session, webhook(receiver), group_above=5)
    await drain(worker, alert_store)
    assert len(receiver.received) == 1
    body = receiver.received[0]
    assert validate_message(body) == []
    listed = "\n".join(
        block["text"]["text"] for block in body["blocks"] if block["type"] == "section"
    )
    positions = [listed.index(f"alert {i} ") for i in range(30)]
    assert positions == sorted(positions)
    for i in range(30):
        assert f"http://goodwill.test/?mention=m{i}|" in listed
        assert f"https://example.com/{i}|post" in listed
    members = await alert_store.recent(limit=100, state="sent")
    assert len(members) == 30 and len({m["message_id"] for m in members}) == 1
    assert all(m["sent_at"] is not None and m["attempts"] == 1 for m in members)
    assert await alert_store.count() == 30


async def test_a_group_that_slack_cannot_take_now_goes_back_whole_to_the_head_of_the_queue(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """A 500 for a group message: every member pending again, one retry time, one more attempt."""
    receiver.answer("error")
    await raise_many(alert_store, 10)
    worker = deliverer(alert_store, session, webhook(receiver), group_above=5, backoff=0.3)
    assert await worker.deliver_once() == 0
    docs = await alert_store.recent(limit=100)
    assert {d["state"] for d in docs} == {"pending"} and {d["attempts"] for d in docs} == {1}
    assert len({d["next_attempt_at"] for d in docs}) == 1
    assert await worker.deliver_once() == 0  # not due yet: nothing overtakes them
    await drain(worker, alert_store)
    assert len(receiver.received) == 1 and receiver.texts()[0].startswith("10 alerts: alert 0;")
    assert await alert_store.count({"state": "sent"}) == 10


async def test_a_group_that_slack_refuses_fails_every_member_with_the_reason(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """A 404 no_service for a group message: every member ``failed`` with the error, none retried."""
    receiver.answer("no_service")
    await raise_many(alert_store, 8)
    worker = deliverer(alert_store, session, webhook(receiver), group_above=5)
    await drain(worker, alert_store)
    docs = await alert_store.recent(limit=100)
    assert {d["state"] for d in docs} == {"failed"}
    assert {d["last_error"] for d in docs} == {"404 no_service"}
    assert len(receiver.attempts) == 1


async def test_one_message_a_second_per_destination(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """The rate limit spaces messages to one destination (here 5 a second) without dropping any."""
    await raise_many(alert_store, 3)
    worker = deliverer(alert_store, session, webhook(receiver), rate=5.0)
    await drain(worker, alert_store)
    gaps = [b - a for a, b in zip(receiver.received_at, receiver.received_at[1:], strict=False)]
    assert len(receiver.received) == 3 and all(gap >= 0.18 for gap in gaps)


async def test_quiet_hours_delay_delivery_until_they_end(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """Inside a destination's quiet hours alerts wait (pending until the end); they are not dropped."""
    now = datetime.now(UTC) + timedelta(seconds=1)
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=2)).time()
    quiet = QuietHours(
        start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0), "UTC"
    )
    await raise_many(alert_store, 1)
    worker = deliverer(alert_store, session, webhook(receiver, quiet=quiet), clock=lambda: now)
    assert await worker.deliver_once() == 0
    (doc,) = await alert_store.recent()
    assert doc["state"] == "pending" and doc["next_attempt_at"] == quiet.until(now)
    assert doc["next_attempt_at"] > now + timedelta(hours=1)
    assert receiver.attempts == []
    morning = deliverer(
        alert_store, session, webhook(receiver, quiet=quiet), clock=lambda: now + timedelta(hours=3)
    )
    await morning.deliver_once()
    assert receiver.texts() == ["alert 0"]


async def test_a_bot_token_destination_posts_to_chat_post_message(
    alert_store: Outbox, receiver: Receiver, session
) -> None:
    """A channel destination posts with the bot token to the Web API (base URL is a parameter)."""
    bot = Destination("ops", channel="#ops", token=SecretStr("xoxb-test"), api_url=receiver.api_url)
    await raise_many(alert_store, 1, destination="ops")
    await drain(deliverer(alert_store, session, bot), alert_store)
    assert receiver.received[0]["channel"] == "#ops" and receiver.texts() == ["alert 0"]


# -- the built-in dashboard destination ---------------------------------------------------


@pytest.fixture
async def traced() -> AsyncIterator[tuple[aiohttp.ClientSession, list[str]]]:
    """A session that records every request it starts (to show that none is made)."""
    requests: list[str] = []

    async def on_start(session: object, context: object, params: Any) -> None:
        requests.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as opened:
        yield opened, requests


def _no_slack() -> dict[str, Destination]:
    """The destinations of a watch list with no Slack destination and no Slack secret set."""
    return resolve_destinations(
        {}, Settings(slack_webhook_url=None, slack_bot_token=None), environ={}
    )


async def test_dashboard_alerts_are_kept_with_their_message_and_sent_without_any_http(
    alert_store: Outbox, traced: tuple[aiohttp.ClientSession, list[str]]
) -> None:
    """No webhook set, no request made: each alert is ``sent`` at once, its Slack message kept."""
    session, requests = traced
    await raise_many(alert_store, 7, destination="dashboard")  # a burst: still one message each
    worker = deliverer(alert_store, session, *_no_slack().values())
    assert await worker.deliver_once() == 7
    assert requests == []
    docs = await alert_store.recent(limit=10)
    assert [doc["state"] for doc in docs] == ["sent"] * 7
    for doc in docs:
        assert doc["message"] == render(doc["payload"]) and validate_message(doc["message"]) == []
        assert doc["attempts"] == 1 and doc["last_error"] is None and doc["sent_at"] is not None
    assert len({doc["message_id"] for doc in docs}) == 7
    assert await worker.deliver_once() == 0 and requests == []


async def test_a_rule_to_slack_and_the_dashboard_delivers_the_same_message_to_both_once(
    store: Database, alert_store: Outbox, receiver: Receiver, session
) -> None:
    """One complaint, a rule with two destinations: the dashboard keeps it even while Slack fails,
    Slack gets the same message once it is back, and a restarted engine raises neither again."""
    mention_id = await scored(store)
    both = rule(rule="complaint", name="vip", destination=["slack", "dashboard"])

    def fresh_engine() -> AlertEngine:
        return AlertEngine(alert_store, [both], brands=["Acme"], dashboard_link="http://gw.test")

    assert await fresh_engine().run_once() == 1
    receiver.answer("error")
    worker = deliverer(alert_store, session, webhook(receiver), *_no_slack().values())
    await worker.deliver_once()
    kept = {doc["destination"]: doc for doc in await alert_store.recent()}
    assert kept["dashboard"]["state"] == "sent" and kept["slack"]["state"] == "pending"
    await drain(worker, alert_store)
    docs = {doc["destination"]: doc for doc in await alert_store.recent()}
    assert {name: doc["state"] for name, doc in docs.items()} == {
        "slack": "sent",
        "dashboard": "sent",
    }
    assert docs["slack"]["dedupe_key"] == f"complaint:{mention_id}:vip"
    assert docs["dashboard"]["dedupe_key"] == f"complaint:{mention_id}:vip@dashboard"
    assert len(receiver.received) == 1
    assert docs["dashboard"]["message"] == receiver.received[0]
    assert await fresh_engine().run_once() == 0
    assert await alert_store.count() == 2
