"""Themes kept by the scorer: embeddings written, themes joined while scoring, re-clustering."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from goodwill.models import Mention, utcnow
from scoring.sentiment import SentimentModel
from scoring.theme_jobs import ThemeKeeper
from scoring.worker import ScoringWorker
from store import Database
from tests.factories import mention
from tests.scoring.theme_texts import TOPICS

PRAISE = "@acme thank you, the crew was wonderful and we landed early!"


def _topic_mentions(suffix: str = "", hours: int = 30) -> list[Mention]:
    return [
        mention(text + suffix, age=timedelta(hours=hours, minutes=i))
        for i, text in enumerate(t for texts in TOPICS.values() for t in texts)
    ]


def _topic_of(text: str) -> str:
    return next(topic for topic, texts in TOPICS.items() if any(text.startswith(t) for t in texts))


async def _themes_by_topic(store: Database) -> dict[str, Counter[str]]:
    found: dict[str, Counter[str]] = {}
    async for doc in store.collection("mentions").find({"theme_id": {"$exists": True}}):
        found.setdefault(_topic_of(doc["text"]), Counter())[doc["theme_id"]] += 1
    return found


async def test_scoring_keeps_float16_embeddings_of_complaints_and_negatives_only(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """A complaint gets 768 bytes of embedding; praise none; the feed's pages never carry it."""
    await store.mentions.upsert([mention(TOPICS["luggage"][0]), mention(PRAISE)])
    await ScoringWorker(store, sentiment_model).drain()
    docs = {doc["text"]: doc async for doc in store.collection("mentions").find({})}
    assert len(docs[TOPICS["luggage"][0]]["embedding"]) == 768
    assert "embedding" not in docs[PRAISE]
    page = await store.feed.page(brand="Acme")
    assert len(page) == 2 and all("embedding" not in doc for doc in page)


async def test_reclustering_themes_then_new_complaints_join_them_while_scored(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """After a re-clustering, a new complaint about lost luggage is scored into the luggage theme."""
    await store.mentions.upsert(_topic_mentions())
    worker = ScoringWorker(store, sentiment_model, themes=None)
    keeper = ThemeKeeper(store, owner="test", min_size=3)
    worker.themes = keeper
    await worker.drain()
    result = await keeper.recluster("Acme")
    assert result.posts == 30 and result.themes >= 3 and result.new == result.themes
    by_topic = await _themes_by_topic(store)
    luggage_theme = by_topic["luggage"].most_common(1)[0][0]
    assert luggage_theme not in by_topic["refund"] and luggage_theme not in by_topic["app"]
    late = mention("@acme lost my suitcase and the baggage claim has no idea where my bag is")
    await store.mentions.upsert([late])
    await worker.drain()
    doc = await store.collection("mentions").find_one({"external_id": late.external_id})
    assert doc is not None and doc["theme_id"] == luggage_theme


async def test_theme_ids_survive_a_reclustering_with_more_data(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """Re-clustering after more complaints of the same topics keeps every theme's id."""
    await store.mentions.upsert(_topic_mentions())
    keeper = ThemeKeeper(store, owner="test", min_size=3)
    worker = ScoringWorker(store, sentiment_model, themes=keeper)
    await worker.drain()
    await keeper.recluster("Acme")
    before = {doc["theme_id"]: doc["name"] for doc in await store.themes.active("Acme")}
    topic_before = await _themes_by_topic(store)
    await store.mentions.upsert(_topic_mentions(" Please help.", hours=5))
    await worker.drain()
    second = await keeper.recluster("Acme")
    after = {doc["theme_id"] for doc in await store.themes.active("Acme")}
    assert second.posts == 60
    assert set(before) <= after, (before, after)
    topic_after = await _themes_by_topic(store)
    for topic, themes in topic_before.items():
        assert themes.most_common(1)[0][0] == topic_after[topic].most_common(1)[0][0]


async def test_run_due_clusters_a_fresh_brand_once_under_a_lease(
    store: Database, sentiment_model: SentimentModel
) -> None:
    """A brand with enough embedded complaints and no theme is clustered soon; not again the same day."""
    await store.mentions.upsert(_topic_mentions())
    first = ThemeKeeper(store, owner="a", min_size=3, bootstrap_min=20, check_every=timedelta(0))
    await ScoringWorker(store, sentiment_model, themes=first).drain()
    other = ThemeKeeper(store, owner="b", min_size=3, bootstrap_min=20, check_every=timedelta(0))
    assert await store.themes.claim_recluster(
        "Acme", "b", timedelta(minutes=5), finished_before=utcnow()
    )
    assert await first.run_due() == []  # b holds the lease
    await store.themes.finish_recluster("Acme", "b")
    # b finished a moment ago without themes: not again for 15 minutes...
    assert await first.run_due() == []
    await store.collection("maintenance").update_one(
        {"_id": "themes|Acme"}, {"$set": {"finished_at": utcnow() - timedelta(hours=1)}}
    )
    [done] = await first.run_due()
    assert done.brand == "Acme" and done.themes >= 3
    assert await other.run_due() == []  # themes now exist: the next run is after midnight
