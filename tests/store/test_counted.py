"""What a mention counts as: a person's correction over the model, every language in volume."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from customers.advocacy import signal_of
from goodwill.models import SentimentLabel
from store import Database
from tests.factories import mention, rollup_truth, seed, sentiment, stored_rollups

LEASE = timedelta(minutes=5)
COMPLAINT = {"is_complaint": True, "score": 0.9, "kind": "complaint", "reasons": []}


async def _scored(store: Database, text: str, label: str, complaint: bool = False) -> str:
    await store.mentions.upsert([mention(text)])
    claim = await store.queue.claim("w", limit=10, lease=LEASE)
    verdict = COMPLAINT if complaint else {**COMPLAINT, "is_complaint": False, "kind": "other"}
    await store.queue.save(
        claim,
        {doc["_id"]: sentiment(label) for doc in claim.mentions},
        {doc["_id"]: verdict for doc in claim.mentions},
    )
    return str(claim.mentions[0]["_id"])


async def _totals(store: Database) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in (await stored_rollups(store)).values():
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + value
    return totals


async def test_not_a_complaint_leaves_the_queue_the_counts_and_the_feed_filter(
    store: Database,
) -> None:
    wrong = await _scored(store, "Acme, where is my parcel??", "negative", complaint=True)
    right = await _scored(store, "Acme lost my bag and will not refund", "negative", complaint=True)
    assert (await _totals(store))["complaints"] == 2

    await store.complaints.correct(wrong, complaint=False, kind="question", by="ann")

    assert [str(doc["_id"]) for doc in await store.complaints.queue()] == [right]
    assert [str(doc["_id"]) for doc in await store.feed.page(complaint=True)] == [right]
    assert (await _totals(store))["complaints"] == 1
    assert await stored_rollups(store) == await rollup_truth(store)
    doc = await store.collection("mentions").find_one({"text": "Acme, where is my parcel??"})
    assert doc is not None and doc["complaint"]["is_complaint"] is True  # the model's verdict stays


async def test_a_corrected_sentiment_moves_the_counts_and_survives_a_new_model(
    store: Database,
) -> None:
    wrong = await _scored(store, "Acme, you never disappoint", "negative")
    await store.complaints.correct(wrong, sentiment="positive", by="ann")
    totals = await _totals(store)
    assert (totals["negative"], totals["positive"], totals["total"]) == (0, 1, 1)
    # A newer model re-scores it as negative again: the person's label still counts.
    assert await store.queue.requeue("model-2") == 1
    claim = await store.queue.claim("w", limit=10, lease=LEASE)
    await store.queue.save(claim, {doc["_id"]: sentiment("negative") for doc in claim.mentions})
    totals = await _totals(store)
    assert (totals["negative"], totals["positive"], totals["total"]) == (0, 1, 1)
    assert await stored_rollups(store) == await rollup_truth(store)


async def test_a_post_corrected_to_a_complaint_joins_the_queue(store: Database) -> None:
    missed = await _scored(store, "Acme app deleted all my photos", "neutral")
    assert await store.complaints.queue() == []
    await store.complaints.correct(missed, complaint=True, by="ann")
    assert [str(doc["_id"]) for doc in await store.complaints.queue()] == [missed]
    assert (await _totals(store))["complaints"] == 1


async def test_a_correction_made_while_the_post_is_being_scored_counts(store: Database) -> None:
    await store.mentions.upsert([mention("Acme is the worst")])
    claim = await store.queue.claim("w", limit=10, lease=LEASE)
    [doc] = claim.mentions
    await store.complaints.correct(str(doc["_id"]), sentiment="neutral", by="ann")
    await store.queue.save(claim, {doc["_id"]: sentiment("negative")})
    totals = await _totals(store)
    assert (totals["neutral"], totals["negative"]) == (1, 0)


async def test_mentions_in_other_languages_count_in_volume_not_in_sentiment(
    store: Database,
) -> None:
    await seed(store, [(mention("Acme is great"), SentimentLabel.POSITIVE)])
    await store.mentions.upsert([mention("Acme est nul"), mention("Acme ist toll")])
    claim = await store.queue.claim("w", limit=10, lease=LEASE)
    languages = {"Acme est nul": "fr", "Acme ist toll": "de"}
    await store.queue.skip(
        claim,
        {
            doc["_id"]: {"language": languages[doc["text"]], "reason": "not English"}
            for doc in claim.mentions
        },
    )
    [doc] = [
        d async for d in store.collection("rollups").find({}, {"_id": 0, "inflight": 0, "v": 0})
    ]
    assert (doc["total"], doc["positive"], doc["unscored"]) == (1, 1, 2)
    assert (doc["unscored_fr"], doc["unscored_de"]) == (1, 1)
    assert await stored_rollups(store) == await rollup_truth(store)
    # A recount from the mentions agrees with what the scorer wrote.
    await store.collection("rollups").update_many({}, {"$set": {"unscored": 0, "unscored_fr": 0}})
    await store.rollups.rebuild()
    [doc] = [d async for d in store.collection("rollups").find({})]
    assert (doc["unscored"], doc["unscored_fr"], doc["unscored_de"]) == (2, 1, 1)


def test_advocacy_reads_the_corrected_sentiment_and_complaint() -> None:
    scored = {
        "sentiment": {
            "label": "negative",
            "probabilities": {"negative": 0.9, "neutral": 0.05, "positive": 0.05},
        },
        "complaint": {"is_complaint": True},
    }
    as_model = signal_of(scored)
    corrected = signal_of({**scored, "counted": {"label": "positive", "complaint": False}})
    assert as_model is not None and corrected is not None and corrected > 0 > as_model
    assert signal_of({**scored, "counted": {"label": "unscored", "complaint": False}}) is None


async def test_an_older_database_gets_its_counted_verdicts_at_open(
    mongodb_uri: str, database_name: str
) -> None:
    """Mentions scored before ``counted`` existed get it once, corrections included."""
    store = await Database.open(mongodb_uri, database_name)
    try:
        raw = store.collection("mentions")
        await raw.insert_one(
            {
                "source": "old", "external_id": "1", "brand": "Acme", "text": "meh",
                "created_at": datetime(2026, 11, 1, tzinfo=UTC), "score_state": "scored",
                "sentiment": {"label": "negative"}, "complaint": {"is_complaint": True},
                "correction": {"sentiment": None, "complaint": False, "by": "ann"},
            }
        )  # fmt: skip
        await store.collection("maintenance").delete_many({})
        await store.close()
        store = await Database.open(mongodb_uri, database_name)
        doc = await store.collection("mentions").find_one({"external_id": "1"})
        assert doc is not None and doc["counted"] == {"label": "negative", "complaint": False}
    finally:
        await store._client.drop_database(database_name)
        await store.close()


async def test_two_people_correcting_one_post_at_once_leave_it_counted_as_the_one_that_stands(
    store: Database,
) -> None:
    """Whichever correction is written last, the mention's counts follow it, not the other."""
    ids = [await _scored(store, f"Acme, post {n}", "negative") for n in range(4)]
    for mention_id in ids:
        await asyncio.gather(
            store.complaints.correct(mention_id, sentiment="positive", by="ann"),
            store.complaints.correct(mention_id, complaint=True, by="bo"),
        )
    async for doc in store.collection("mentions").find({}):
        fix = doc["correction"]
        label = fix["sentiment"] or doc["sentiment"]["label"]
        flag = doc["complaint"]["is_complaint"] if fix["complaint"] is None else fix["complaint"]
        # A complaint counts under the model's category: none given here, so "other".
        category = {"category": "other"} if flag else {}
        assert doc["counted"] == {"label": label, "complaint": flag, **category}
    assert await stored_rollups(store) == await rollup_truth(store)


async def test_a_correction_made_after_the_claim_is_not_overwritten_by_the_skip(
    store: Database,
) -> None:
    """The scorer skips what it claimed as it read it; a person's later word stops that write."""
    await store.mentions.upsert([mention("Acme est vraiment nul")])
    claim = await store.queue.claim("w", limit=10, lease=timedelta(seconds=1))
    [doc] = claim.mentions
    await store.complaints.correct(str(doc["_id"]), sentiment="negative", complaint=True, by="ann")
    assert await store.queue.skip(claim, {doc["_id"]: {"language": "fr"}}) == 0
    assert await stored_rollups(store) == await rollup_truth(store)
    await asyncio.sleep(1.1)  # the claim runs out; the next scorer reads the correction
    again = await store.queue.claim("w", limit=10, lease=LEASE)
    assert await store.queue.skip(again, {doc["_id"]: {"language": "fr"}}) == 1
    totals = await _totals(store)
    assert (totals["total"], totals["negative"], totals["complaints"]) == (1, 1, 1)
    assert totals.get("unscored", 0) == 0
    assert await stored_rollups(store) == await rollup_truth(store)
