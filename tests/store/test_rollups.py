"""Roll-ups stay exact: a recount never races a live batch, a repaired batch adds nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from goodwill.models import Mention, utcnow
from store import Database
from store.insights import brand_rollups
from store.rollups import stars_label, stars_of
from tests.factories import mention, rollup_truth, seed, stored_rollups

DAY = datetime(2026, 11, 20, tzinfo=UTC)
KEY = ("Acme", DAY, "replay")


async def counts(store: Database) -> dict[str, int]:
    doc = await store.collection("rollups").find_one(
        {"brand": "Acme", "day": DAY, "source": "replay"}
    )
    assert doc is not None
    return {name: int(doc.get(name, 0)) for name in ("total", "negative", "positive")}


async def seeded(store: Database) -> None:
    await seed(
        store,
        [(mention(created_at=DAY + timedelta(hours=h)), "negative") for h in range(3)]
        + [(mention(created_at=DAY + timedelta(hours=5)), "positive")],
    )


async def test_a_recount_waits_while_a_batch_is_in_flight(store: Database) -> None:
    """While a live batch has begun on a day, repair and rebuild leave its counts alone."""
    await seeded(store)
    rollups = store.rollups
    await rollups.begin("live-batch", [KEY], utcnow() + timedelta(minutes=5))
    await store.collection("rollups").update_one({"day": DAY}, {"$set": {"total": 99}})
    assert (await store.rollups.repair()).fixed == 0
    stats = await rollups.rebuild(attempts=1, pause=0.01)
    assert (stats.fixed, stats.busy) == (0, 1)
    assert (await counts(store))["total"] == 99
    await rollups.commit("live-batch", {KEY: {}})
    assert (await store.rollups.rebuild()).fixed == 1
    assert await counts(store) == {"total": 4, "negative": 3, "positive": 1}


async def test_a_dead_batch_is_recounted_once_and_its_late_commit_adds_nothing(
    store: Database,
) -> None:
    """After a repair took a dead batch's entry, that batch's commit (if it ever came) changes nothing."""
    await seeded(store)
    rollups = store.rollups
    await rollups.begin("dead-batch", [KEY], utcnow() - timedelta(seconds=1))
    await store.collection("rollups").update_one({"day": DAY}, {"$set": {"total": 1}})
    assert (await store.rollups.repair()).fixed == 1
    assert await counts(store) == {"total": 4, "negative": 3, "positive": 1}
    await rollups.commit("dead-batch", {KEY: {"total": 5, "negative": 5}})
    assert await counts(store) == {"total": 4, "negative": 3, "positive": 1}
    assert (await store.rollups.repair()).fixed == 0


async def test_rebuild_corrects_wrong_and_missing_days_and_reports_progress(
    store: Database,
) -> None:
    """A full rebuild recounts every day from the mentions, telling its progress day by day."""
    await seeded(store)
    await seed(store, [(mention(created_at=DAY + timedelta(days=1, hours=2)), "neutral")])
    await store.collection("rollups").update_one({"day": DAY}, {"$set": {"negative": 7}})
    await store.collection("rollups").delete_many({"day": DAY + timedelta(days=1)})
    seen: list[tuple[int, int]] = []
    stats = await store.rollups.rebuild(lambda done, total: seen.append((done, total)))
    assert (stats.days, stats.fixed, stats.busy) == (2, 2, 0)
    assert seen == [(1, 2), (2, 2)]
    assert await counts(store) == {"total": 4, "negative": 3, "positive": 1}
    again = await store.rollups.rebuild()
    assert (again.fixed, again.unchanged) == (0, 2)


# -- star ratings beside the model --------------------------------------------------------

RATED = ("rated", "stars", "rated_scored", "stars_agree", "stars_clash")


async def rated_counts(store: Database) -> dict[str, int]:
    doc = await store.collection("rollups").find_one(
        {"brand": "Acme", "day": DAY, "source": "appstore"}
    )
    assert doc is not None
    return {name: int(doc.get(name, 0)) for name in ("total", "positive", "negative", *RATED)}


def review(stars: float | None, hour: int, text: str = "review") -> Mention:
    return mention(text, source="appstore", created_at=DAY + timedelta(hours=hour), rating=stars)


async def seeded_reviews(store: Database) -> None:
    """1 star read positive (a clash), 5 stars positive (agree), 3 stars negative, no stars."""
    await seed(
        store,
        [
            (review(1.0, 1), "positive"),
            (review(5.0, 2), "positive"),
            (review(3.0, 3), "negative"),
            (review(None, 4), "negative"),
        ],
    )


async def test_rated_reviews_count_their_stars_and_agreement_beside_the_counted_verdict(
    store: Database,
) -> None:
    """Stars add to rated/stars/agree/clash; the sentiment counts stay the model's verdict."""
    await seeded_reviews(store)
    # A rated review the model does not read (another language) counts its stars only.
    await store.mentions.upsert([review(2.0, 5, "avis en français")])
    claim = await store.queue.claim("w", limit=10, lease=timedelta(minutes=5))
    await store.queue.skip(claim, {doc["_id"]: {"language": "fr"} for doc in claim.mentions})
    assert await rated_counts(store) == {
        "total": 4,
        "positive": 2,
        "negative": 2,
        "rated": 4,
        "stars": 11,
        "rated_scored": 3,
        "stars_agree": 1,
        "stars_clash": 1,
    }
    assert await stored_rollups(store) == await rollup_truth(store)


async def test_a_correction_moves_the_star_agreement_and_a_recount_restores_it(
    store: Database,
) -> None:
    """Correcting the 1-star review to negative makes it agree; a rebuild recounts the same."""
    await seeded_reviews(store)
    doc = await store.collection("mentions").find_one({"rating": 1.0})
    assert doc is not None
    await store.complaints.correct(str(doc["_id"]), sentiment="negative", by="ann")
    expected = {
        "total": 4,
        "positive": 1,
        "negative": 3,
        "rated": 3,
        "stars": 9,
        "rated_scored": 3,
        "stars_agree": 2,
        "stars_clash": 0,
    }
    assert await rated_counts(store) == expected
    await store.collection("rollups").update_many({}, {"$unset": dict.fromkeys(RATED, "")})
    stats = await store.rollups.rebuild()
    assert stats.fixed == 1
    assert await rated_counts(store) == expected
    # A dead batch's repair recounts the rating fields too.
    await store.collection("rollups").update_many({}, {"$set": {"stars": 40, "rated": 9}})
    await store.rollups.begin("dead", [("Acme", DAY, "appstore")], utcnow() - timedelta(seconds=1))
    assert (await store.rollups.repair()).fixed == 1
    assert await rated_counts(store) == expected
    assert await stored_rollups(store) == await rollup_truth(store)


async def test_an_older_database_reads_no_ratings_as_zero_and_gains_them_at_open(
    mongodb_uri: str, database_name: str
) -> None:
    """Roll-ups without the rating fields read as 0; rated mentions get their stars counted once."""
    store = await Database.open(mongodb_uri, database_name)
    try:
        await store.collection("mentions").insert_one(
            {
                "source": "appstore", "external_id": "old-1", "brand": "Acme", "text": "bad",
                "created_at": DAY + timedelta(hours=1), "score_state": "scored", "rating": 5.0,
                "sentiment": {"label": "negative"}, "complaint": {"is_complaint": False},
                "counted": {"label": "negative", "complaint": False},
            }
        )  # fmt: skip
        await store.collection("rollups").insert_one(
            {"brand": "Acme", "day": DAY, "source": "appstore", "total": 1, "negative": 1}
        )
        [row] = await brand_rollups(store, ["Acme"], DAY, DAY + timedelta(days=1))
        assert {name: row[name] for name in RATED} == dict.fromkeys(RATED, 0)
        await store.collection("maintenance").delete_many({})
        await store.close()
        store = await Database.open(mongodb_uri, database_name)
        doc = await store.collection("mentions").find_one({"external_id": "old-1"})
        assert doc is not None and doc["counted"]["stars"] == 5
        counts = await rated_counts(store)
        assert (counts["rated"], counts["stars"], counts["stars_clash"]) == (1, 5, 1)
        assert (counts["total"], counts["negative"]) == (1, 1)
    finally:
        await store._client.drop_database(database_name)
        await store.close()


def test_stars_map_to_sentiment_one_two_negative_three_neutral_four_five_positive() -> None:
    """The documented mapping, and ratings outside 1-5 (or none) are no stars."""
    assert [stars_label(n) for n in range(1, 6)] == [
        "negative",
        "negative",
        "neutral",
        "positive",
        "positive",
    ]
    assert [stars_of(value) for value in (None, 0, 6, True, "5", 4.4, 4.5, 1)] == [
        None, None, None, None, None, 4, 5, 1,
    ]  # fmt: skip
