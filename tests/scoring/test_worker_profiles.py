"""The scoring worker keeps customer profiles and advocacy up to date (real model, real database)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from customers.advocacy import AdvocacyParams
from customers.profiles import ProfileStore
from goodwill.models import Author, Mention, utcnow
from scoring.sentiment import SentimentModel
from scoring.worker import ScoringWorker
from store import Database
from tests.factories import seed

_numbers = itertools.count(1)
LOVE = "@acme thank you so much, the crew was wonderful and we landed early!"
HATE = "@acme lost my bag for the third time, worst airline ever"


def post(text: str, who: str, *, days: int = 1, followers: int | None = None) -> Mention:
    number = next(_numbers)
    return Mention(
        source="replay",
        external_id=f"w{number}",
        brand="Acme",
        text=f"{text} ({number})",
        author=Author(id=f"id-{who}", handle=who, followers=followers),
        created_at=utcnow() - timedelta(days=days),
    )


async def advocacy_numbers(store: Database) -> dict[str, tuple[Any, ...]]:
    return {
        doc["_id"]: (doc["score"], doc["tier"], doc["love"], doc["mentions"], doc["negative"])
        async for doc in store.collection("advocacy").find({})
    }


async def test_scored_mentions_from_collected_authors_become_profiles_with_advocacy(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """Draining the queue creates a profile per author, with counts and an advocacy per brand."""
    await store.mentions.upsert(
        [post(LOVE, "fan", followers=5000) for _ in range(4)]
        + [post(HATE, "critic") for _ in range(3)]
    )
    worker = ScoringWorker(store, sentiment_model)
    result = await worker.score_batch()
    assert (result.claimed, result.resolved) == (7, 7)
    assert {(c.new, c.old) for c in result.tier_changes} == {
        ("advocate", None),
        ("detractor", None),
    }
    fan = await store.collection("profiles").find_one({"identities.handle_key": "replay:fan"})
    assert fan is not None
    assert (
        fan["counts"]["mentions"] == 4 and fan["counts"]["positive"] == 4 and fan["reach"] == 5000
    )
    board = await ProfileStore(store).leaderboard("Acme")
    assert (board[0]["profile_id"], board[0]["tier"]) == (fan["_id"], "advocate")
    assert board[-1]["tier"] == "detractor" and board[-1]["complaints"] >= 1


async def test_a_new_mention_updates_the_score(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """One more angry post by a fan lowers their score in the next batch."""
    worker = ScoringWorker(store, sentiment_model)
    await store.mentions.upsert([post(LOVE, "fan") for _ in range(3)])
    await worker.drain()
    [before] = (await advocacy_numbers(store)).values()
    await store.mentions.upsert([post(HATE, "fan")])
    await worker.drain()
    [after] = (await advocacy_numbers(store)).values()
    assert after[0] < before[0] and after[3] == before[3] + 1 and after[4] == 1


async def test_recompute_all_equals_what_the_worker_computed(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """After the worker's incremental updates, a full recompute changes no number."""
    texts = itertools.cycle([LOVE, HATE, "@acme what time is the first flight tomorrow?"])
    await store.mentions.upsert(
        [post(next(texts), f"user{i % 5}", days=i * 7, followers=i * 30) for i in range(30)]
    )
    worker = ScoringWorker(store, sentiment_model, claim_size=8)
    await worker.drain()
    incremental = await advocacy_numbers(store)
    assert len(incremental) == 5
    stats = await ProfileStore(store).recompute_all()
    assert await advocacy_numbers(store) == incremental
    assert stats.mentions == 30 and stats.tier_changes == 0


async def test_rescoring_with_another_model_version_recomputes_advocacy(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """Mentions first scored (wrongly) by another version get the model's scores, and advocacy follows."""
    profiles = ProfileStore(store)
    await seed(store, [(post(LOVE, "fan"), "negative") for _ in range(4)])
    docs = [doc async for doc in store.collection("mentions").find({})]
    resolved = await profiles.resolve(docs)
    await profiles.refresh({(pid, "Acme") for pid in resolved.values()})
    [old] = (await advocacy_numbers(store)).values()
    assert old[1] == "detractor"
    assert await store.queue.requeue(sentiment_model.version) == 4
    await ScoringWorker(store, sentiment_model).drain()
    [new] = (await advocacy_numbers(store)).values()
    assert new[1] == "advocate" and new[4] == 0
    change = await store.collection("advocacy").find_one({})
    assert change is not None and change["previous_tier"] == "detractor"


async def test_the_worker_uses_the_configured_thresholds(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """With an advocate threshold of 90, four happy posts leave a person neutral."""
    await store.mentions.upsert([post(LOVE, "fan") for _ in range(4)])
    params = AdvocacyParams(advocate_threshold=90)
    await ScoringWorker(store, sentiment_model, params=params).drain()
    [numbers] = (await advocacy_numbers(store)).values()
    assert numbers[1] == "neutral"


async def test_one_worker_a_day_recomputes_so_quiet_people_age(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """The day's full recompute runs once however many workers ask; it ages quiet people's scores."""
    await store.mentions.upsert([post(LOVE, "fan", days=60) for _ in range(3)])
    first = ScoringWorker(store, sentiment_model)
    await first.drain()
    # Pretend the scores were computed long ago: yesterday's marker, an older as_of.
    await store.collection("maintenance").insert_one(
        {"_id": "advocacy-recompute", "as_of": utcnow() - timedelta(days=400)}
    )
    await store.collection("advocacy").update_many({}, {"$set": {"score": 99.0}})
    stats = await first.daily_recompute()
    assert stats is not None and stats.advocacy == 1
    [numbers] = (await advocacy_numbers(store)).values()
    assert numbers[0] < 99.0
    second = ScoringWorker(store, sentiment_model)
    assert await second.daily_recompute() is None
    assert await first.daily_recompute() is None
