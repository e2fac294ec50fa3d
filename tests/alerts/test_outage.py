"""Slack down through a burst of complaints: every alert still arrives once, in order, linked.

The receiver is held down (answering 500, answering 429, or not listening at all) while
complaint alerts are raised and a deliverer keeps trying; then Slack comes back and the
outbox is drained. Each test then counts, message by message, which alerts reached Slack.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from bson import ObjectId
from pydantic import SecretStr

from alerts.deliver import Deliverer
from alerts.messages import validate_message
from config.alerting import Destination
from goodwill.models import utcnow
from store import Database
from store.outbox import Outbox
from tests.alerts.conftest import Receiver
from tests.conftest import free_port

RAISED = 180  # complaint alerts raised while Slack is down
OUTAGE = 2.0  # seconds the outage lasts (the burst is spread over it)
_MENTION = re.compile(r"mention=(m\d+)\b")
_NESTED = re.compile(r"• \d+ alerts\b")


@dataclass
class Slack:
    """A Slack-compatible webhook on a fixed port that can start after the deliverer does."""

    receiver: Receiver
    runner: web.AppRunner
    port: int
    site: web.TCPSite | None = None

    @property
    def destination(self) -> Destination:
        return Destination("slack", webhook_url=SecretStr(f"http://127.0.0.1:{self.port}/hook"))

    async def listen(self) -> None:
        """Start accepting connections on ``port``."""
        self.site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await self.site.start()


@pytest.fixture
async def slack() -> AsyncIterator[Slack]:
    """A receiver that listens only once ``listen()`` is called (nothing on its port before)."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    yield Slack(receiver, runner, free_port())
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def raise_complaint(alerts: Outbox, i: int, **extra: Any) -> None:
    """A complaint alert as the engine raises it (summary, post link, dashboard link)."""
    payload = {
        "kind": "complaint",
        "brand": "Acme",
        "mention_id": f"m{i}",
        "text": f"My order {i} never arrived and support ignores me",
        "url": f"https://example.com/post/{i}",
        "dashboard_url": f"http://goodwill.test/?mention=m{i}",
        "summary": f"Complaint about Acme from Customer {i}: my order {i} never arrived",
        "who": {"name": f"Customer {i}", "customer_tier": "enterprise", "value": 1000},
        "sentiment": {"label": "negative", "score": 0.9},
        "complaint": {"score": 0.8},
        **extra,
    }
    assert await alerts.raise_alert(
        dedupe_key=f"complaint:m{i}:vip", rule="vip", brand="Acme", destination="slack",
        payload=payload,
    )  # fmt: skip


def listed(body: dict[str, Any]) -> list[str]:
    """The alerts (mention ids) a received message links to, in the order it lists them."""
    seen: dict[str, None] = {}
    for mention in _MENTION.findall(json.dumps(body.get("blocks", []))):
        seen.setdefault(mention)
    return list(seen)


@dataclass(frozen=True)
class Count:
    """What reached Slack of the alerts raised."""

    raised: int
    received: int
    lost: list[str]
    doubled: list[str]
    messages: int

    def __str__(self) -> str:
        return (
            f"raised {self.raised}, received {self.received}, lost {len(self.lost)}, "
            f"doubled {len(self.doubled)}, in {self.messages} messages"
        )


async def count_and_check(store: Database, receiver: Receiver, raised: list[str]) -> Count:
    """Count every alert in the messages received, and hold the database to the same account."""
    messages = [listed(body) for body in receiver.received]
    seen = Counter(mention for message in messages for mention in message)
    count = Count(
        raised=len(raised),
        received=len(set(raised) & set(seen)),
        lost=[mention for mention in raised if mention not in seen],
        doubled=sorted(mention for mention, times in seen.items() if times > 1),
        messages=len(messages),
    )
    print(count)  # the README's fault table is made of these lines (pytest -s)
    assert not count.lost and not count.doubled, str(count)
    first_seen = [mention for message in messages for mention in message]
    assert first_seen == raised, "alerts arrived out of the order they were raised"
    for body in receiver.received:
        assert validate_message(body) == [], body.get("text")
        sections = [
            b["text"]["text"] for b in body["blocks"] if b["type"] == "section" and "text" in b
        ]
        assert not any(_NESTED.search(text) for text in sections), "a group inside a group"
    docs = [doc async for doc in store.collection("alerts").find({})]
    assert len(docs) == len(raised), "the outbox holds documents besides the alerts raised"
    by_mention = {doc["payload"]["mention_id"]: doc for doc in docs}
    assert {m: d["state"] for m, d in by_mention.items()} == dict.fromkeys(raised, "sent")
    assert all(doc["sent_at"] is not None for doc in docs)
    # The members of one message share its id, and only they do.
    message_ids = [{by_mention[m]["message_id"] for m in message} for message in messages]
    assert all(len(ids) == 1 for ids in message_ids)
    assert len({next(iter(ids)) for ids in message_ids}) == len(messages)
    return count


def worker(alerts: Outbox, session: aiohttp.ClientSession, slack: Slack) -> Deliverer:
    """A deliverer with test-sized back-off (Slack's real pauses would take minutes)."""
    return Deliverer(
        alerts, {"slack": slack.destination}, session,
        rate=200.0, backoff=0.05, max_backoff=0.2, timeout=1.0,
    )  # fmt: skip


async def drain(deliverer: Deliverer, alerts: Outbox, *, seconds: float = 30.0) -> None:
    """Deliver until nothing is open (or fail after ``seconds``)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while await alerts.count({"state": {"$in": ["pending", "sending"]}}):
        assert asyncio.get_running_loop().time() < deadline, "alerts still open"
        await deliverer.deliver_once()
        await asyncio.sleep(0.02)


async def through_an_outage(
    alerts: Outbox, session: aiohttp.ClientSession, slack: Slack, recover: Any
) -> list[str]:
    """Raise ``RAISED`` complaints over ``OUTAGE`` seconds while a deliverer keeps trying;
    then ``recover()`` Slack and drain the outbox. The mention ids, in the order raised."""
    deliverer = worker(alerts, session, slack)
    stop = asyncio.Event()

    async def keep_delivering() -> None:
        while not stop.is_set():
            await deliverer.deliver_once()
            await asyncio.sleep(0.02)

    task = asyncio.create_task(keep_delivering())
    raised = []
    for i in range(RAISED):
        await raise_complaint(alerts, i)
        raised.append(f"m{i}")
        await asyncio.sleep(OUTAGE / RAISED)
    assert slack.receiver.received == [] and not task.done()
    await recover()
    # A few more while the backlog is going out: they queue behind it.
    for i in range(RAISED, RAISED + 10):
        await raise_complaint(alerts, i)
        raised.append(f"m{i}")
    stop.set()
    await task
    await drain(deliverer, alerts)
    return raised


async def test_an_outage_of_500s_loses_no_alert_and_doubles_none(
    store: Database, alert_store: Outbox, slack: Slack, session: aiohttp.ClientSession
) -> None:
    """Slack answering 500 through a burst: afterwards each alert is in exactly one message, in order."""
    await slack.listen()
    slack.receiver.default = "error"

    async def recover() -> None:
        slack.receiver.default = "ok"

    raised = await through_an_outage(alert_store, session, slack, recover)
    assert len(slack.receiver.attempts) > len(slack.receiver.received)
    await count_and_check(store, slack.receiver, raised)


async def test_an_outage_of_429s_loses_no_alert_and_doubles_none(
    store: Database, alert_store: Outbox, slack: Slack, session: aiohttp.ClientSession
) -> None:
    """Slack answering 429 with Retry-After through a burst: each alert in exactly one message, in order."""
    await slack.listen()
    slack.receiver.default = "rate_limited"
    slack.receiver.retry_after = 0.2

    async def recover() -> None:
        slack.receiver.default = "ok"

    raised = await through_an_outage(alert_store, session, slack, recover)
    assert any(mode == "rate_limited" for _, _, mode in slack.receiver.attempts)
    await count_and_check(store, slack.receiver, raised)


async def test_slack_not_listening_through_a_burst_loses_no_alert_and_doubles_none(
    store: Database, alert_store: Outbox, slack: Slack, session: aiohttp.ClientSession
) -> None:
    """Nothing listening on the webhook's port (connection refused), then Slack starts: each alert once, in order."""
    raised = await through_an_outage(alert_store, session, slack, slack.listen)
    await count_and_check(store, slack.receiver, raised)


async def test_a_group_too_big_for_one_message_is_split_and_no_link_is_dropped(
    store: Database, alert_store: Outbox, slack: Slack, session: aiohttp.ClientSession
) -> None:
    """A backlog whose links overflow Slack's 50 blocks goes as the largest prefix that fits, then the rest."""
    await slack.listen()
    for i in range(100):
        # Long (but valid) dashboard links: a few to a section, so 100 need more than 50 blocks.
        await raise_complaint(
            alert_store, i, dashboard_url=f"http://goodwill.test/?mention=m{i}&pad={'x' * 900}"
        )
    deliverer = Deliverer(
        alert_store, {"slack": slack.destination}, session, rate=200.0, group_max=100
    )
    await drain(deliverer, alert_store)
    assert len(slack.receiver.received) >= 2
    await count_and_check(store, slack.receiver, [f"m{i}" for i in range(100)])


async def test_legacy_group_documents_are_repaired_and_their_members_delivered_once(
    store: Database, alert_store: Outbox, slack: Slack, session: aiohttp.ClientSession
) -> None:
    """An older Goodwill's unsent (and nested) groups are undone: each member is sent once, in order;
    members of a group that was sent stay delivered."""
    await slack.listen()
    for i in range(30):
        await raise_complaint(alert_store, i)
    collection = store.collection("alerts")
    docs = {doc["payload"]["mention_id"]: doc async for doc in collection.find({})}
    now = utcnow()

    def group(members: list[str], state: str, **extra: Any) -> dict[str, Any]:
        first = docs[members[0]]
        doc = {
            "_id": ObjectId(), "dedupe_key": f"group:slack:{first['_id']}:{len(members)}",
            "rule": "group", "brand": None, "destination": "slack",
            "created_at": first["created_at"], "members": [docs[m]["_id"] for m in members],
            "payload": {"kind": "group", "summary": f"{len(members)} alerts", "items": []},
            "state": state, "attempts": 3, "next_attempt_at": now, "sent_at": None,
            "last_error": None, "group_id": None, **extra,
        }  # fmt: skip
        docs[str(doc["_id"])] = doc
        return doc

    async def put(doc: dict[str, Any]) -> None:
        await collection.insert_one(doc)
        await collection.update_many(
            {"_id": {"$in": doc["members"]}},
            {"$set": {"state": "grouped", "group_id": doc["_id"]}},
        )

    # m0..m4 went out in a group message that Slack took.
    delivered = group([f"m{i}" for i in range(5)], "sent", sent_at=now)
    # m5..m16 were grouped; that group failed and was grouped again with m17..m24 (nested),
    # and the outer group waits for a retry; m25..m29 are plain pending alerts.
    inner = group([f"m{i}" for i in range(5, 17)], "pending")
    outer = group([str(inner["_id"]), *[f"m{i}" for i in range(17, 25)]], "pending")
    for doc in (delivered, inner, outer):
        await put(doc)

    deliverer = worker(alert_store, session, slack)
    await drain(deliverer, alert_store)
    messages = [listed(body) for body in slack.receiver.received]
    seen = Counter(mention for message in messages for mention in message)
    expected = [f"m{i}" for i in range(5, 30)]
    assert [m for message in messages for m in message] == expected
    assert set(seen.values()) == {1}
    assert not any(_NESTED.search(json.dumps(body)) for body in slack.receiver.received)
    states = {
        doc["payload"].get("mention_id", str(doc["_id"])): doc["state"]
        async for doc in collection.find({})
    }
    assert {m: states[m] for m in expected} == dict.fromkeys(expected, "sent")
    assert {states[f"m{i}"] for i in range(5)} == {"grouped"}
    assert states[str(delivered["_id"])] == "sent"
    assert str(inner["_id"]) not in states and str(outer["_id"]) not in states
    # Nothing is left to repair: another pass sends nothing.
    assert await deliverer.deliver_once() == 0


async def test_a_live_legacy_group_lease_is_left_to_its_deliverer_until_it_expires(
    store: Database, alert_store: Outbox, slack: Slack, session: aiohttp.ClientSession
) -> None:
    """A group an older deliverer is sending right now is not undone until its lease has expired."""
    await slack.listen()
    for i in range(3):
        await raise_complaint(alert_store, i)
    collection = store.collection("alerts")
    ids = [doc["_id"] async for doc in collection.find({}).sort("created_at", 1)]
    first = await collection.find_one({"_id": ids[0]})
    assert first is not None
    group_id, expires = ObjectId(), utcnow() + timedelta(seconds=1.5)
    await collection.insert_one(
        {
            "_id": group_id, "dedupe_key": "group:slack:legacy", "rule": "group", "brand": None,
            "destination": "slack", "created_at": first["created_at"], "members": ids,
            "payload": {"kind": "group", "summary": "3 alerts", "items": []}, "state": "sending",
            "attempts": 0, "next_attempt_at": utcnow(), "sent_at": None, "last_error": None,
            "group_id": None, "lease": "old:1", "lease_expires": expires,
        }
    )  # fmt: skip
    await collection.update_many(
        {"_id": {"$in": ids}}, {"$set": {"state": "grouped", "group_id": group_id}}
    )
    deliverer = worker(alert_store, session, slack)
    assert await deliverer.deliver_once() == 0
    assert await alert_store.count({"state": "grouped"}) == 3
    await asyncio.sleep((expires - utcnow()).total_seconds() + 0.05)
    await drain(deliverer, alert_store)
    assert [m for body in slack.receiver.received for m in listed(body)] == ["m0", "m1", "m2"]
    assert await alert_store.count({"rule": "group"}) == 0
