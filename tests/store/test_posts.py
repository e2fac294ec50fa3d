"""A post as the store keeps it: once per brand it names, gone when deleted, new when edited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from customers.rights import erase
from goodwill.models import Mention, SentimentLabel, utcnow
from store import Database
from store.rollups import INFLIGHT_LEASE
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


# -- an edited review: new text and new stars, counted from the old to the new -------------

DAY = datetime(2026, 11, 20, tzinfo=UTC)
RATED = ("total", "positive", "negative", "rated", "stars", "stars_agree", "stars_clash")


def five_stars() -> Mention:
    return mention(
        "Love the new Acme app",
        source="appstore",
        external_id="r1",
        handle="skater",
        created_at=DAY + timedelta(hours=3),
        rating=5.0,
        title="Great",
    )


def one_star(review: Mention) -> Mention:
    """The same review after its author edited it (Apple gives it a newer time)."""
    return review.model_copy(
        update={
            "text": "Crashes since the update, refund me",
            "title": "Broken",
            "rating": 1.0,
            "created_at": review.created_at + timedelta(days=2),
        }
    )


async def score_all(store: Database, label: str) -> int:
    claim = await store.queue.claim("w", limit=10, lease=LEASE)
    return await store.queue.save(claim, {doc["_id"]: sentiment(label) for doc in claim.mentions})


async def rated(store: Database) -> dict[str, int]:
    [counts] = (await stored_rollups(store)).values()
    return {name: counts[name] for name in RATED}


async def edited_doc(store: Database) -> dict[str, Any]:
    doc = await store.collection("mentions").find_one({"external_id": "r1"})
    assert doc is not None
    return doc


NEGATIVE_ONE_STAR = {
    "total": 1,
    "positive": 0,
    "negative": 1,
    "rated": 1,
    "stars": 1,
    "stars_agree": 1,
    "stars_clash": 0,
}


@pytest.mark.parametrize("state", ["pending", "claimed", "scored", "rescoring", "skipped"])
async def test_an_edit_that_changes_the_stars_moves_the_counts_from_old_to_new(
    store: Database, state: str
) -> None:
    """Whatever the scoring state when the edit lands, the roll-ups end as a recount says."""
    review = five_stars()
    await store.mentions.upsert([review])
    stale = None  # a claim taken before the edit, its scorer holding the old text and stars
    if state == "claimed":
        stale = await store.queue.claim("w", limit=10, lease=LEASE)
    if state in ("scored", "rescoring"):
        assert await score_all(store, "positive") == 1
        assert (await rated(store))["stars"] == 5
    if state == "rescoring":  # a new model's re-scoring has it claimed
        assert await store.queue.requeue("test-2") == 1
        stale = await store.queue.claim("w", limit=10, lease=LEASE)
    if state == "skipped":
        claim = await store.queue.claim("w", limit=10, lease=LEASE)
        await store.queue.skip(claim, {doc["_id"]: {"language": "fr"} for doc in claim.mentions})
        assert (await stored_rollups(store)) == await rollup_truth(store)
    before = await stored_rollups(store)

    edit = one_star(review)
    await store.mentions.upsert([edit])  # the runner stores the page, then applies its edits
    assert await store.mentions.replace_text([edit]) == 1
    doc = await edited_doc(store)
    assert (doc["text"], doc["title"], doc["rating"]) == (edit.text, "Broken", 1.0)
    assert doc["score_state"] == "pending" and "claim" not in doc and "skipped" not in doc
    assert doc["created_at"] == review.created_at  # still counted on its first day
    # Until it is scored again it counts as before, and a recount agrees.
    assert await stored_rollups(store) == before
    await store.rollups.rebuild()
    assert await stored_rollups(store) == before

    if stale is not None:  # the scorer that held the old version writes nothing
        old = {item["_id"]: sentiment("positive") for item in stale.mentions}
        assert await store.queue.save(stale, old) == 0
    assert await score_all(store, "negative") == 1
    assert await rated(store) == NEGATIVE_ONE_STAR
    assert await stored_rollups(store) == await rollup_truth(store)


async def test_a_change_of_stars_alone_is_an_edit_and_the_same_review_again_is_not(
    store: Database,
) -> None:
    """Stars changed, words not: scored again (the text's score is reused) with its new stars."""
    review = five_stars()
    await seed(store, [(review, "positive")])
    assert await store.mentions.replace_text([review]) == 0
    fewer = review.model_copy(update={"rating": 3.0})
    assert await store.mentions.replace_text([fewer]) == 1
    assert await store.mentions.replace_text([fewer]) == 0
    assert (await edited_doc(store))["score_state"] == "pending"
    await score_all(store, "positive")
    counts = await rated(store)
    assert (counts["stars"], counts["stars_agree"], counts["positive"]) == (3, 0, 1)
    assert await stored_rollups(store) == await rollup_truth(store)


async def test_a_scorer_dying_after_scoring_an_edit_leaves_counts_a_repair_makes_exact(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between writing the new verdict and moving the counts: the repair recounts."""
    review = five_stars()
    await seed(store, [(review, "positive")])
    edit = one_star(review)
    await store.mentions.replace_text([edit])

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr(store.rollups, "commit", killed)
    with pytest.raises(RuntimeError):
        await score_all(store, "negative")
    monkeypatch.undo()
    assert (await edited_doc(store))["score_state"] == "scored"
    assert (await rated(store))["stars"] == 5  # the counts did not move yet
    assert (await store.rollups.repair()).fixed == 0  # the batch's lease has not run out
    assert (await store.rollups.repair(utcnow() + INFLIGHT_LEASE * 2)).fixed == 1
    assert await rated(store) == NEGATIVE_ONE_STAR
    assert await stored_rollups(store) == await rollup_truth(store)


async def test_an_edit_between_a_scorer_s_write_and_its_count_is_recounted_not_lost(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edited and scored again by a second scorer before the first reads back what it wrote."""
    review = five_stars()
    await store.mentions.upsert([review])
    first = await store.queue.claim("first", limit=10, lease=LEASE)
    write = AsyncCollection.bulk_write
    armed = True

    async def then_edited(self: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal armed
        result = await write(self, *args, **kwargs)
        if armed and self.name == "mentions":  # the first scorer's write has landed
            armed = False
            edit = one_star(review)
            await store.mentions.upsert([edit])
            await store.mentions.replace_text([edit])
            assert await score_all(store, "negative") == 1
        return result

    monkeypatch.setattr(AsyncCollection, "bulk_write", then_edited)
    scores = {doc["_id"]: sentiment("positive") for doc in first.mentions}
    assert await store.queue.save(first, scores) == 0  # the second scorer's verdict stands
    monkeypatch.undo()
    # The first scorer could not tell what it moved: its documents wait for a repair.
    assert (await store.rollups.repair(utcnow() + INFLIGHT_LEASE * 2)).fixed == 1
    assert await rated(store) == NEGATIVE_ONE_STAR
    assert await stored_rollups(store) == await rollup_truth(store)


@pytest.mark.parametrize("keep_text", [False, True])
async def test_an_edited_review_of_an_erased_author_stays_erased(
    store: Database, keep_text: bool
) -> None:
    """The edit brings back no text, title, author or payload, and changes no count."""
    review = five_stars()
    await seed(store, [(review, "positive")])
    await erase(store, "appstore:skater", by="dpo", keep_text=keep_text)
    before = await edited_doc(store)
    counts = await stored_rollups(store)

    edit = one_star(review)
    await store.mentions.upsert([edit])
    assert await store.mentions.replace_text([edit]) == 0
    doc = await edited_doc(store)
    assert doc == before
    assert doc["erased"] is True and "author" not in doc and "raw" not in doc
    assert doc["text"] == (review.text if keep_text else "")
    assert await stored_rollups(store) == counts == await rollup_truth(store)
