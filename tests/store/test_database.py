"""The store against a real MongoDB-protocol server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from goodwill.models import Author, Mention, Sentiment, SentimentLabel
from store import Database
from tests import factories


def _mention(external_id: str, text: str = "Lost my bag again @united", **extra: object) -> Mention:
    return Mention(
        source="replay",
        external_id=external_id,
        brand="United Airlines",
        text=text,
        author=Author(id="u1", handle="someone"),
        created_at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        **extra,  # type: ignore[arg-type]
    )


def _sentiment(label: SentimentLabel) -> Sentiment:
    return Sentiment(label=label, score=0.9, probabilities={label: 0.9}, model_version="test-1")


async def test_upserting_the_same_mentions_twice_never_duplicates(store: Database) -> None:
    first = await store.mentions.upsert([_mention("1"), _mention("2")])
    second = await store.mentions.upsert([_mention("1", engagement={"likes": 3}), _mention("2")])
    assert (first.inserted, first.updated) == (2, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 1, 1)
    assert await store.mentions.count() == 2
    doc = await store.collection("mentions").find_one({"external_id": "1"})
    assert doc is not None and doc["engagement"] == {"likes": 3}


async def test_indexes_are_created_idempotently(store: Database) -> None:
    await store.ensure_indexes()
    await store.ensure_indexes()
    names = {index["name"] async for index in await store.collection("mentions").list_indexes()}
    assert {"natural_key", "brand_time", "score_queue"} <= names


async def test_two_claims_never_share_a_mention_and_expired_claims_are_retaken(
    store: Database,
) -> None:
    await store.mentions.upsert([_mention(str(i)) for i in range(10)])
    a = await store.queue.claim("a", limit=6, lease=timedelta(minutes=5))
    b = await store.queue.claim("b", limit=6, lease=timedelta(minutes=5))
    ids_a = {doc["_id"] for doc in a.mentions}
    ids_b = {doc["_id"] for doc in b.mentions}
    assert len(ids_a) == 6 and len(ids_b) == 4 and not ids_a & ids_b
    # A worker that crashed: its lease is already over, so the next claim takes its batch.
    crashed = await store.queue.claim("c", limit=10, lease=timedelta(seconds=-1))
    assert crashed.mentions == []
    await store.collection("mentions").update_many(
        {"claim.token": a.token},
        {"$set": {"claim.expires": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    retaken = await store.queue.claim("d", limit=10, lease=timedelta(minutes=5))
    assert {doc["_id"] for doc in retaken.mentions} == ids_a


async def test_scores_of_a_stolen_claim_are_not_written_twice(store: Database) -> None:
    await store.mentions.upsert([_mention("1")])
    slow = await store.queue.claim("slow", limit=1, lease=timedelta(seconds=-1))
    fast = await store.queue.claim("fast", limit=1, lease=timedelta(minutes=5))
    assert [d["_id"] for d in slow.mentions] == [d["_id"] for d in fast.mentions]
    mention_id = fast.mentions[0]["_id"]
    assert await store.queue.save(fast, {mention_id: _sentiment(SentimentLabel.NEGATIVE)}) == 1
    assert await store.queue.save(slow, {mention_id: _sentiment(SentimentLabel.POSITIVE)}) == 0
    rollups = await store.rollups.window(
        "United Airlines", datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert [(r["total"], r.get("negative"), r.get("positive")) for r in rollups] == [(1, 1, None)]


async def test_feed_treats_filter_values_as_literals(store: Database) -> None:
    await store.mentions.upsert([_mention("1")])
    assert await store.feed.page(brand='{"$ne": null}') == []
    assert len(await store.feed.page(brand="United Airlines")) == 1


async def test_cursor_survives_and_counts(store: Database) -> None:
    assert (await store.cursors.get("b", "replay")).cursor is None
    await store.cursors.record_success("b", "replay", {"offset": 5}, 5)
    await store.cursors.record_error("b", "replay", "boom")
    await store.cursors.record_success("b", "replay", {"offset": 9}, 4)
    state = await store.cursors.get("b", "replay")
    assert state.cursor == {"offset": 9} and state.collected == 9 and state.last_error is None


async def test_one_mention_by_id_literal_and_without_raw(store: Database) -> None:
    """A mention is read by its id or its hex; a malformed or operator-shaped id finds nothing."""
    await store.mentions.upsert([factories.mention("Where is my bag?")])
    stored = await store.collection("mentions").find_one({})
    assert stored is not None
    by_oid = await store.mentions.get(stored["_id"])
    by_hex = await store.mentions.get(str(stored["_id"]))
    assert by_oid is not None and by_hex == by_oid
    assert by_oid["text"] == "Where is my bag?" and "raw" not in by_oid
    assert await store.mentions.get("not-an-id") is None
    assert await store.mentions.get('{"$ne": null}') is None
    assert await store.mentions.get("0" * 24) is None


async def test_the_complaints_queue_refuses_an_unknown_order(store: Database) -> None:
    """An order other than newest or value is a clear error, not a silent default."""
    with pytest.raises(ValueError, match="Order must be one of newest, value"):
        await store.complaints.queue(order="$natural")
