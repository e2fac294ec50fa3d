"""Dead letters: kept for a retention (a TTL index, set idempotently), with their authors' keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from config.settings import Settings
from goodwill.identity import erasure_hash
from service.processes import open_store
from store import Database


async def received_at_indexes(store: Database) -> dict[str, Any]:
    """The dead letters' indexes on ``received_at`` alone: name -> expiry (None: no TTL)."""
    found = await store.collection("dead_letters").index_information()
    return {
        name: spec.get("expireAfterSeconds")
        for name, spec in found.items()
        if [key for key, _ in spec["key"]] == ["received_at"]
    }


async def test_dead_letters_expire_after_thirty_days_by_default(store: Database) -> None:
    """A store opened without a retention gives dead letters a 30-day TTL index."""
    assert await received_at_indexes(store) == {"expire": 30 * 86_400}
    assert await store.cursors.dead_letter_retention() == timedelta(days=30)


async def test_the_retention_replaces_an_older_index_and_is_idempotent(store: Database) -> None:
    """A plain index on received_at is replaced; a new retention is applied; None keeps it."""
    letters = store.collection("dead_letters")
    await letters.drop_index("expire")
    await letters.create_index([("received_at", 1)], name="received_at_1")
    await store.ensure_indexes(timedelta(days=7))
    assert await received_at_indexes(store) == {"expire": 7 * 86_400}
    await store.ensure_indexes()  # a dashboard opening the store keeps the service's setting
    await store.ensure_indexes(timedelta(days=7))
    assert await received_at_indexes(store) == {"expire": 7 * 86_400}
    await store.ensure_indexes(timedelta(days=2))
    assert await received_at_indexes(store) == {"expire": 2 * 86_400}
    await letters.drop_index("expire")
    await letters.create_index([("received_at", 1)], name="expire")  # same name, no TTL
    await store.ensure_indexes()
    assert await received_at_indexes(store) == {"expire": 30 * 86_400}


async def test_the_service_opens_the_store_with_the_configured_retention(
    mongodb_uri: str, database_name: str, store: Database
) -> None:
    """GOODWILL_DEAD_LETTER_RETENTION_DAYS reaches the TTL index through open_store."""
    settings = Settings(
        mongodb_uri=SecretStr(mongodb_uri), database=database_name, dead_letter_retention_days=3
    )
    async with open_store(settings) as opened:
        assert await opened.cursors.dead_letter_retention() == timedelta(days=3)
    assert await received_at_indexes(store) == {"expire": 3 * 86_400}


async def test_a_dead_letter_of_an_erased_person_keeps_its_reason_not_its_payload(
    store: Database,
) -> None:
    """Author keys are kept with the payload; an erased author's payload is not stored."""
    await store.cursors.dead_letter("reddit", "bad", {"x": 1}, authors=["reddit:id:t2_a"])
    await store.collection("erasures").insert_one(
        {"identity_hashes": [erasure_hash("reddit:gone")], "by": "dpo", "mentions": 0}
    )
    await store.cursors.dead_letter("reddit", "bad", {"x": 2}, authors=["reddit:gone", "r:x"])
    await store.cursors.dead_letter("rss", "bad", {"x": 3})
    kept = [doc async for doc in store.collection("dead_letters").find({}).sort("payload.x", 1)]
    by_payload = {str(doc["payload"]): doc for doc in kept}
    assert by_payload[str({"x": 1})]["authors"] == ["reddit:id:t2_a"]
    assert by_payload[str({"x": 3})]["authors"] is None
    erased = by_payload["None"]
    assert erased["erased"] is True and erased["authors"] is None and erased["reason"] == "bad"
