"""A Slack-compatible receiver on 127.0.0.1, and helpers that write what the scorer would."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from bson import ObjectId
from pydantic import SecretStr

from config.alerting import AlertRuleConfig, Destination
from goodwill.models import Author
from store import Database
from store.outbox import Outbox
from tests.conftest import free_port
from tests.factories import mention, sentiment

# What the receiver can answer, as Slack's incoming webhooks do.
ANSWERS = {
    "ok": (200, "ok"),
    "invalid_payload": (400, "invalid_payload"),
    "forbidden": (403, "action_prohibited"),
    "no_service": (404, "no_service"),
    "error": (500, "internal error"),
    "unavailable": (503, "service unavailable"),
}


@dataclass
class Receiver:
    """Records every request; answers from ``script`` (one per request), then ``default``."""

    url: str = ""
    api_url: str = ""
    default: str = "ok"
    retry_after: float = 1.0
    hang_seconds: float = 5.0
    script: list[str] = field(default_factory=list)
    attempts: list[tuple[float, dict[str, Any], str]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)

    def answer(self, *modes: str) -> None:
        """Answer the next requests with ``modes`` in turn."""
        self.script.extend(modes)

    def texts(self) -> list[str]:
        """The fallback text of each message received."""
        return [body.get("text", "") for body in self.received]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        mode = self.script.pop(0) if self.script else self.default
        self.attempts.append((time.monotonic(), body, mode))
        api = request.path.endswith("chat.postMessage")
        if mode == "hang":
            await asyncio.sleep(self.hang_seconds)
            return web.Response(text="late")
        if mode == "close":
            assert request.transport is not None
            request.transport.close()
            return web.Response(text="closed")
        if mode == "rate_limited":
            return web.Response(
                status=429, text="rate_limited", headers={"Retry-After": str(self.retry_after)}
            )
        status, text = ANSWERS[mode]
        if status == 200:
            self.received.append(body)
            self.received_at.append(time.monotonic())
            if api:
                return web.json_response({"ok": True, "channel": body.get("channel")})
        if api and status == 200:
            return web.json_response({"ok": True})
        return web.Response(status=status, text=text)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A Slack-compatible webhook (``/hook``) and Web API (``/api/chat.postMessage``) server."""
    state = Receiver()
    app = web.Application()
    app.router.add_post("/hook", state.handle)
    app.router.add_post("/api/chat.postMessage", state.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    state.url = f"http://127.0.0.1:{port}/hook"
    state.api_url = f"http://127.0.0.1:{port}/api"
    yield state
    await runner.cleanup()


@pytest.fixture
def alert_store(store: Database) -> Outbox:
    """The alerting side of the test store."""
    return store.outbox


def rule(**values: Any) -> AlertRuleConfig:
    """An alert rule as the watch list would give it (destination ``slack`` unless named)."""
    values.setdefault("destination", "slack")
    return AlertRuleConfig.model_validate(values)


def webhook(receiver: Receiver, name: str = "slack", **extra: Any) -> Destination:
    """A webhook destination pointed at the receiver."""
    return Destination(name, webhook_url=SecretStr(receiver.url), **extra)


_numbers = itertools.count(1)


async def scored(
    store: Database,
    text: str = "My order never arrived and support ignores me, Acme",
    *,
    label: str = "negative",
    complaint: bool = True,
    brand: str = "Acme",
    followers: int | None = None,
    profile_id: str | None = None,
    created_at: datetime | None = None,
    url: str | None = None,
) -> ObjectId:
    """A mention stored and scored as the scorer does (sentiment, complaint verdict, profile)."""
    number = next(_numbers)
    item = mention(
        text,
        brand=brand,
        created_at=created_at,
        url=url or f"https://example.com/post/{number}",
    )
    item = item.model_copy(
        update={"author": Author(id=f"a{number}", handle=f"user{number}", followers=followers)}
    )
    await store.mentions.upsert([item])
    claim = await store.queue.claim("test", limit=10, lease=timedelta(minutes=5))
    ids = {doc["external_id"]: doc["_id"] for doc in claim.mentions}
    mention_id = ids[item.external_id]
    verdict: dict[str, Any] = {
        "is_complaint": complaint,
        "score": 0.9 if complaint else 0.1,
        "category": "delivery" if complaint else None,
        "reasons": [],
        "kind": "complaint" if complaint else "other",
    }
    await store.queue.save(
        claim,
        {doc["_id"]: sentiment(label) for doc in claim.mentions},
        {mention_id: verdict},
    )
    if profile_id is not None:
        await store.collection("mentions").update_one(
            {"_id": mention_id}, {"$set": {"profile_id": profile_id}}
        )
    return mention_id


async def add_profile(
    store: Database,
    profile_id: str,
    *,
    name: str = "Dana Customer",
    value: float | None = None,
    tier: str | None = None,
    reach: int = 0,
) -> None:
    """A profile document as the contract shapes it."""
    now = datetime.now().astimezone()
    await store.collection("profiles").insert_one(
        {
            "_id": profile_id,
            "display_name": name,
            "identities": [],
            "emails": [],
            "crm_id": None,
            "crm_system": None,
            "crm_fields": {},
            "value": value,
            "tier": tier,
            "tags": [],
            "do_not_contact": False,
            "reach": reach,
            "counts": {},
            "first_seen": now,
            "last_seen": now,
            "origin": "crm",
            "created_at": now,
            "updated_at": now,
        }
    )


async def negatives(
    store: Database, brand: str, hour: datetime, count: int, *, label: str = "negative"
) -> None:
    """``count`` scored mentions of ``brand`` spread over ``hour`` (only what spikes read)."""
    if count <= 0:
        return
    docs = [
        {
            "source": "bulk",
            "external_id": f"{brand}-{hour.isoformat()}-{label}-{i}-{next(_numbers)}",
            "brand": brand,
            "text": f"bad experience number {i}",
            "created_at": hour + timedelta(seconds=(3599 * i) // max(count, 1)),
            "score_state": "scored",
            "sentiment": {"label": label, "score": 0.8 + (i % 10) / 100},
            "counted": {"label": label, "complaint": False},
            "engagement": {"likes": i % 7},
            "url": f"https://example.com/{brand}/{i}",
        }
        for i in range(count)
    ]
    await store.collection("mentions").insert_many(docs)


def dumps(value: Any) -> str:
    """JSON of a received body, for assertions on its content."""
    return json.dumps(value)
