"""A post as the store keeps it: once per brand it names, gone when deleted, new when edited."""

from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, AsyncMongoClient

from goodwill.models import SentimentLabel
from store import Database
from tests.factories import mention, rollup_truth, seed, sentiment, stored_rollups

LEASE = timedelta(minutes=5)


async def test_a_post_naming_two_brands_counts_for_each(store: Database) -> None:
    """Collected by Acme's job and by Globex's: one mention each, counted in each brand's roll-ups."""
    for_acme = mention(
        "Switched from Acme to Globex", brand="Acme", source="reddit", external_id="t3_x"
    )
    for_globex = for_acme.model_copy(update={"brand": "Globex"})
    assert (await store.mentions.upsert([for_acme])).inserted == 1
    assert (await store.mentions.upsert([for_globex])).inserted == 1
    assert (await store.mentions.upsert([for_acme, for_globex])).inserted == 0  # still no duplicate
    claim = await store.queue.claim("w", limit=10, lease=LEASE)
    await store.queue.save(claim, {doc["_id"]: sentiment("positive") for doc in claim.mentions})
    counts = await stored_rollups(store)
    assert sorted((brand, c["total"]) for (brand, _, _), c in counts.items()) == [
        ("Acme", 1),
        ("Globex", 1),
    ]
    assert counts == await rollup_truth(store)


async def test_an_older_database_moves_to_the_per_brand_key(
    mongodb_uri: str, database_name: str
) -> None:
    """A database whose mentions were keyed by (source, external id) only is migrated at open."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_uri)
    old = client[database_name].mentions
    await old.create_index(
        [("source", ASCENDING), ("external_id", ASCENDING)], unique=True, name="natural_key"
    )
    store = await Database.open(mongodb_uri, database_name)
    try:
        keys = (await store.collection("mentions").index_information())["natural_key"]["key"]
        assert [name for name, _ in keys] == ["source", "external_id", "brand"]
        post = mention(brand="Acme", external_id="p1")
        await store.mentions.upsert([post, post.model_copy(update={"brand": "Globex"})])
        assert await store.mentions.count({"external_id": "p1"}) == 2
    finally:
        await client.drop_database(database_name)
        await client.close()
        await store.close()


async def test_a_deleted_post_leaves_every_brand_and_its_counts_and_never_comes_back(
    store: Database,
) -> None:
    kept = mention("Acme is fine", source="bluesky", external_id="at://a/1")
    gone = mention("Acme broke", source="bluesky", external_id="at://a/2")
    await seed(store, [(kept, "positive"), (gone, "negative")])
    await store.mentions.upsert([gone.model_copy(update={"brand": "Globex"})])
    [scored] = [
        doc
        async for doc in store.collection("mentions").find(
            {"external_id": "at://a/2", "brand": "Acme"}
        )
    ]
    await store.complaints.correct(str(scored["_id"]), sentiment="neutral", by="ann")

    removed = await store.mentions.remove_deleted("bluesky", ["at://a/2"])
    await store.rollups.recount(removed)

    assert sorted(doc["brand"] for doc in removed) == ["Acme", "Globex"]
    assert await store.mentions.count({"external_id": "at://a/2"}) == 0
    assert await store.collection("corrections").count_documents({}) == 0
    assert await stored_rollups(store) == await rollup_truth(store)
    [counts] = (await stored_rollups(store)).values()
    assert counts["total"] == 1 and counts["negative"] == 0
    assert (await store.mentions.upsert([gone])).inserted == 0  # re-collected: still gone
    assert await store.mentions.count({"external_id": "at://a/2"}) == 0


async def test_an_edited_post_is_scored_again_and_its_counts_move(store: Database) -> None:
    post = mention("Acme is great", source="bluesky", external_id="at://a/3")
    await seed(store, [(post, "positive")])
    edited = post.model_copy(update={"text": "Acme is awful, refund me"})
    assert await store.mentions.replace_text([edited]) == 1
    assert await store.mentions.replace_text([edited]) == 0  # the same text again: no change
    [doc] = [d async for d in store.collection("mentions").find({})]
    assert doc["text"] == "Acme is awful, refund me" and doc["score_state"] == "pending"
    assert doc["fingerprint"] == edited.fingerprint
    claim = await store.queue.claim("w", limit=10, lease=LEASE)
    await store.queue.save(claim, {doc["_id"]: sentiment(SentimentLabel.NEGATIVE)})
    [counts] = (await stored_rollups(store)).values()
    assert counts["total"] == 1 and counts["positive"] == 0 and counts["negative"] == 1


async def test_a_source_without_engagement_never_blanks_another_s(store: Database) -> None:
    seen = mention(source="bluesky", external_id="at://a/4", engagement={"likes": 5})
    await store.mentions.upsert([seen])
    await store.mentions.upsert([seen.model_copy(update={"engagement": {}})])
    [doc] = [d async for d in store.collection("mentions").find({})]
    assert doc["engagement"] == {"likes": 5}
    await store.mentions.upsert([seen.model_copy(update={"engagement": {"likes": 7}})])
    [doc] = [d async for d in store.collection("mentions").find({})]
    assert doc["engagement"] == {"likes": 7}


async def test_a_17_mb_item_is_stored_cut_down_and_says_so(store: Database) -> None:
    """An item MongoDB would refuse (over 16 MB) is stored without its payload, text cut."""
    huge = mention("acme " * 3_500_000, external_id="big", raw={"blob": "x" * 17_000_000})
    small = mention("acme is fine", external_id="small")
    result = await store.mentions.upsert([huge, small])
    assert result.inserted == 2  # the page is stored, the big item with it
    doc = await store.collection("mentions").find_one({"external_id": "big"})
    assert doc is not None and doc["raw"] == {} and len(doc["text"]) == 100_000
    assert doc["oversize"] == ["raw payload", "text after 100,000 characters"]
