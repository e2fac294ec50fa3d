"""A scorer that dies or stops at any point loses no count, no advocacy and no time.

The deaths here are in-process: an exception out of the step after which the scorer
"dies" leaves the database exactly as a killed process would (nothing after that step
runs, no claim is given back). ``test_scorer_kill.py`` kills real processes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from goodwill.models import Author, Mention, Sentiment, utcnow
from scoring.sentiment import SentimentModel
from scoring.worker import ScoringWorker
from store import Database
from tests.factories import rollup_truth as truth
from tests.factories import stored_rollups as rollups

_numbers = itertools.count(1)
TEXTS = [
    "@acme thank you so much, the crew was wonderful and we landed early!",
    "@acme lost my bag for the third time, worst airline ever",
    "@acme what time does the first flight to Denver leave tomorrow?",
    "@acme the refund never came and nobody answers the phone",
]


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the step that raises it runs."""


def posts(count: int, *, days: int = 3, people: int = 7) -> list[Mention]:
    """``count`` mentions over ``days`` UTC days and two sources, by ``people`` authors."""
    items = []
    for i in range(count):
        number = next(_numbers)
        items.append(
            Mention(
                source="replay" if i % 3 else "rss",
                external_id=f"f{number}",
                brand="Acme",
                text=f"{TEXTS[i % len(TEXTS)]} ({number})",
                author=Author(id=f"person-{i % people}", handle=f"person{i % people}"),
                created_at=datetime(2026, 11, 20, 10, tzinfo=UTC) + timedelta(days=i % days),
            )
        )
    return items


async def advocacy(store: Database) -> dict[str, tuple[Any, ...]]:
    return {
        doc["_id"]: (doc["score"], doc["tier"], doc["mentions"], doc["negative"])
        async for doc in store.collection("advocacy").find({})
    }


def later() -> datetime:
    """A moment after every lease of these tests has run out."""
    return utcnow() + timedelta(minutes=30)


async def test_a_scorer_killed_between_scores_and_roll_ups_is_recounted_by_the_next_pass(
    store: Database, sentiment_model: SentimentModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scores written, roll-ups not: the counts are short until any worker's next pass repairs them."""
    await store.mentions.upsert(posts(40))
    dying = ScoringWorker(store, sentiment_model, claim_size=25)
    await dying.drain()  # a first batch lands whole
    await store.mentions.upsert(posts(30))

    async def die(*args: object, **kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(store.rollups, "commit", die)
    with pytest.raises(Killed):
        await dying.score_batch()
    monkeypatch.undo()
    assert await store.mentions.count({"sentiment": {"$exists": True}}) == 65
    short = sum(counts["total"] for counts in (await rollups(store)).values())
    assert short == 40  # the 25 written by the dead batch are not counted

    survivor = ScoringWorker(store, sentiment_model)
    await survivor.repair(now=later())
    await survivor.drain()
    assert await rollups(store) == await truth(store)
    assert sum(counts["total"] for counts in (await rollups(store)).values()) == 70


async def test_a_scorer_killed_before_refreshing_advocacy_is_refreshed_by_the_next_pass(
    store: Database, sentiment_model: SentimentModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scores written, advocacy not: the next pass refreshes the people the dead batch touched."""
    await store.mentions.upsert(posts(30, people=5))
    dying = ScoringWorker(store, sentiment_model)

    async def die(*args: object, **kwargs: object) -> list[Any]:
        raise Killed

    monkeypatch.setattr(dying.profiles, "refresh", die)
    with pytest.raises(Killed):
        await dying.score_batch()
    monkeypatch.undo()
    assert await advocacy(store) == {}

    survivor = ScoringWorker(store, sentiment_model)
    await survivor.repair(now=later())
    repaired = await advocacy(store)
    assert len(repaired) == 10  # 5 authors on each of 2 sources
    await survivor.profiles.recompute_all()
    assert await advocacy(store) == repaired
    assert await store.collection("refresh_journal").count_documents({}) == 0


async def test_the_days_recompute_is_taken_again_when_its_holder_dies(
    store: Database, sentiment_model: SentimentModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies in the day's recompute does not keep the day: another takes it after the lease."""
    await store.mentions.upsert(posts(12, people=3))
    lease = timedelta(seconds=1)
    first = ScoringWorker(store, sentiment_model, lease=lease, owner="first")
    await first.drain()
    await store.collection("advocacy").update_many({}, {"$set": {"score": 99.0}})

    async def die(*args: object, **kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(first.profiles, "recompute_all", die)
    with pytest.raises(Killed):
        await first.daily_recompute()
    monkeypatch.undo()
    second = ScoringWorker(store, sentiment_model, lease=lease, owner="second")
    assert await second.daily_recompute() is None  # the dead holder's lease still runs
    await asyncio.sleep(1.2)
    second._recompute_retry = None  # do not wait the minute between asks in a test
    stats = await second.daily_recompute()
    assert stats is not None and stats.advocacy == 3
    assert all(numbers[0] != 99.0 for numbers in (await advocacy(store)).values())
    third = ScoringWorker(store, sentiment_model, lease=lease, owner="third")
    assert await third.daily_recompute() is None  # done for the day


class SlowModel:
    """The real model, slowed down: a batch takes ``seconds`` longer."""

    def __init__(self, model: SentimentModel, seconds: float) -> None:
        self.model = model
        self.seconds = seconds

    @property
    def version(self) -> str:
        return self.model.version

    def predict(self, texts: list[str], batch_size: int = 32) -> list[Sentiment]:
        time.sleep(self.seconds)
        return self.model.predict(texts, batch_size)


async def test_a_batch_longer_than_its_lease_keeps_its_claim(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """A worker renews its claim while it works, so a slow batch is neither taken nor lost."""
    await store.mentions.upsert(posts(20))
    lease = timedelta(seconds=1)
    slow = ScoringWorker(store, SlowModel(sentiment_model, 3.0), lease=lease, owner="slow")
    other = ScoringWorker(store, sentiment_model, lease=lease, owner="other")
    task = asyncio.create_task(slow.score_batch())
    taken = 0
    for _ in range(5):  # try to take the batch for about 2.5 s, well past the lease
        await asyncio.sleep(0.5)
        taken += (await other.score_batch()).claimed
    result = await task
    assert taken == 0
    assert result.written == 20
    assert await store.mentions.count({"scored_by": {"$regex": "^slow:"}}) == 20


async def test_a_worker_asked_to_stop_gives_its_batch_back_at_once(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """Cancelled mid-batch (SIGTERM), a worker releases its claim: the next worker need not wait the lease."""
    await store.mentions.upsert(posts(20))
    stopping = ScoringWorker(store, SlowModel(sentiment_model, 2.0), owner="stopping")
    task = asyncio.create_task(stopping.score_batch())
    for _ in range(200):  # until the batch is claimed (the model then takes 2 s)
        if await store.mentions.count({"score_state": "claimed"}):
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.mentions.count({"score_state": "claimed"}) == 0
    result = await ScoringWorker(store, sentiment_model, owner="next").score_batch()
    assert (result.claimed, result.written) == (20, 20)
    assert await rollups(store) == await truth(store)
