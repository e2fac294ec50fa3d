"""The scoring worker with the real model against a real MongoDB-protocol server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from goodwill.models import Mention
from scoring.sentiment import SentimentModel
from scoring.worker import ScoringWorker
from store import Database

TEXTS = [
    "@united thank you so much, the crew was wonderful and we landed early!",
    "@united lost my bag for the third time, worst airline ever",
    "@united what time does the first flight to Denver leave tomorrow?",
]


def _mentions(texts: list[str], start: int = 0) -> list[Mention]:
    return [
        Mention(
            source="replay",
            external_id=str(start + i),
            brand="United Airlines",
            text=text,
            created_at=datetime(2026, 11, 20, 12, tzinfo=UTC) + timedelta(minutes=i),
        )
        for i, text in enumerate(texts)
    ]


async def test_drain_scores_every_mention_and_rolls_up_the_day(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """Every waiting mention gets a sentiment with the model version, and the day's roll-up counts it."""
    await store.mentions.upsert(_mentions(TEXTS))
    written = await ScoringWorker(store, sentiment_model).drain()
    assert written == 3
    docs = {doc["text"]: doc async for doc in store.collection("mentions").find({})}
    labels = [docs[text]["sentiment"]["label"] for text in TEXTS]
    assert labels == ["positive", "negative", "neutral"]
    assert all(
        doc["sentiment"]["model_version"] == sentiment_model.version for doc in docs.values()
    )
    [rollup] = await store.rollups.window(
        "United Airlines", datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert (rollup["total"], rollup["positive"], rollup["negative"], rollup["neutral"]) == (
        3,
        1,
        1,
        1,
    )


async def test_identical_texts_are_scored_once_per_model_version(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """A repost of text the model already scored reuses that score instead of running the model."""
    worker = ScoringWorker(store, sentiment_model)
    await store.mentions.upsert(_mentions(TEXTS[:1]))
    await worker.drain()
    reposts = _mentions([TEXTS[0], TEXTS[0].upper(), TEXTS[1]], start=100)
    await store.mentions.upsert(reposts)
    result = await worker.score_batch()
    assert (result.claimed, result.inferred, result.reused, result.written) == (3, 1, 2, 3)


async def test_two_workers_racing_never_score_a_mention_twice(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """Two workers draining one queue together score each mention exactly once."""
    texts = [f"@united flight {i} was {'great' if i % 2 else 'late again'}" for i in range(120)]
    await store.mentions.upsert(_mentions(texts))
    first = ScoringWorker(store, sentiment_model, claim_size=16, owner="a")
    second = ScoringWorker(store, sentiment_model, claim_size=16, owner="b")
    written = await asyncio.gather(first.drain(), second.drain())
    assert sum(written) == 120
    assert await store.mentions.count({"score_state": "scored"}) == 120
    [rollup] = await store.rollups.window(
        "United Airlines", datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert rollup["total"] == 120


async def test_rescoring_moves_each_mention_to_its_new_label_in_the_rollups(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """Mentions an older model scored are re-scored once; roll-ups move labels, totals stay."""
    await store.mentions.upsert(_mentions(TEXTS))
    await ScoringWorker(store, sentiment_model).drain()
    # Pretend an older model scored them all as neutral.
    mentions = store.collection("mentions")
    await mentions.update_many(
        {},
        {
            "$set": {
                "sentiment.model_version": "old-1",
                "sentiment.label": "neutral",
                "counted.label": "neutral",
            }
        },
    )
    await store.collection("rollups").update_many(
        {}, {"$set": {"negative": 0, "positive": 0, "neutral": 3}}
    )
    assert await store.queue.requeue(sentiment_model.version) == 3
    assert await store.queue.requeue(sentiment_model.version) == 0
    assert await ScoringWorker(store, sentiment_model).drain() == 3
    [rollup] = await store.rollups.window(
        "United Airlines", datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert (rollup["total"], rollup["positive"], rollup["negative"], rollup["neutral"]) == (
        3,
        1,
        1,
        1,
    )
    assert await store.queue.requeue(sentiment_model.version) == 0


async def test_complaints_are_flagged_with_reasons_and_counted_per_day(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """A complaint gets its verdict, category and reasons; a question not; roll-ups count it by category."""
    await store.mentions.upsert(_mentions(TEXTS))
    await ScoringWorker(store, sentiment_model).drain()
    docs = {doc["text"]: doc async for doc in store.collection("mentions").find({})}
    lost_bag = docs[TEXTS[1]]["complaint"]
    assert lost_bag["is_complaint"] and lost_bag["kind"] == "complaint"
    assert lost_bag["category"] == "delivery" and lost_bag["reasons"]
    assert docs[TEXTS[2]]["complaint"]["kind"] == "question"
    assert not docs[TEXTS[0]]["complaint"]["is_complaint"]
    [rollup] = await store.rollups.window(
        "United Airlines", datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert rollup["complaints"] == 1 and rollup["complaints_delivery"] == 1
    assert docs[TEXTS[1]]["counted"]["category"] == "delivery"


async def test_mentions_in_other_languages_are_marked_not_guessed(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """A French post (detected) and a post the source tagged German are skipped with their language."""
    texts = [
        TEXTS[0],
        "@united le vol a été annulé et personne ne nous a prévenus, c'est inadmissible",
        "@united short text",
    ]
    mentions = _mentions(texts)
    mentions[2] = mentions[2].model_copy(update={"lang": "de"})
    await store.mentions.upsert(mentions)
    result = await ScoringWorker(store, sentiment_model).score_batch()
    assert (result.claimed, result.written, result.skipped) == (3, 1, 2)
    docs = {doc["text"]: doc async for doc in store.collection("mentions").find({})}
    assert (
        docs[texts[1]]["score_state"] == "skipped" and docs[texts[1]]["skipped"]["language"] == "fr"
    )
    assert docs[texts[2]]["skipped"] == {"reason": "not English", "language": "de"}
    assert "sentiment" not in docs[texts[1]]
    [rollup] = await store.rollups.window(
        "United Airlines", datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert rollup["total"] == 1
