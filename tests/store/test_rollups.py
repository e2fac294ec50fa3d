"""Roll-ups stay exact: a recount never races a live batch, a repaired batch adds nothing twice."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from goodwill.models import Mention, utcnow
from scoring import categories as categories_v2
from scoring import complaints as rule
from store import Database
from store.insights import brand_rollups, complaint_categories
from store.rollups import (
    CATEGORY_FIELDS,
    UNSCORED,
    bucket,
    counted_of,
    moved,
    stars_label,
    stars_of,
)
from tests.factories import mention, rollup_truth, seed, sentiment, stored_rollups

DAY = datetime(2026, 11, 20, tzinfo=UTC)
KEY = ("Acme", DAY, "replay")
KEY_FIELDS = {"brand": "Acme", "day": DAY, "source": "replay"}


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


# -- complaints per category ----------------------------------------------------------------


def verdict(category: str | None, complaint: bool = True) -> dict[str, object]:
    """A complaint verdict as the scorer stores it (``complaint=False``: not a complaint)."""
    kind = "complaint" if complaint else "negative_opinion"
    return {"is_complaint": complaint, "score": 0.9, "kind": kind, "category": category}


async def scored_complaints(
    store: Database, items: list[tuple[str, int, dict[str, object]]]
) -> dict[str, str]:
    """Store and score ``(text, hour of DAY, verdict)`` as negative mentions; their ids by text."""
    await store.mentions.upsert(
        [mention(text, created_at=DAY + timedelta(hours=hour)) for text, hour, _ in items]
    )
    claim = await store.queue.claim("w", limit=100, lease=timedelta(minutes=5))
    verdicts = {text: one for text, _, one in items}
    await store.queue.save(
        claim,
        {doc["_id"]: sentiment("negative") for doc in claim.mentions},
        {doc["_id"]: verdicts[doc["text"]] for doc in claim.mentions},
    )
    return {doc["text"]: str(doc["_id"]) for doc in claim.mentions}


async def categories(store: Database) -> dict[str, int]:
    """The categories of the day's complaints, as ``complaint_categories`` reads them."""
    rows = await complaint_categories(store, "Acme", DAY, DAY + timedelta(days=1))
    assert all(row["day"] == DAY for row in rows)
    return {str(row["category"]): int(row["complaints"]) for row in rows}


async def test_complaints_count_per_category_through_scoring_and_corrections(
    store: Database,
) -> None:
    """Each complaint in its category's field; corrections out of and back into a complaint move it."""
    ids = await scored_complaints(
        store,
        [
            ("parcel lost", 1, verdict("delivery")),
            ("parcel late", 2, verdict("delivery")),
            ("charged twice", 3, verdict("billing_refund_pricing")),
            ("odd name", 4, verdict("baggage")),  # not a category the roll-ups list
            ("no category", 5, verdict(None)),
            ("meh", 6, verdict(None, complaint=False)),
            ("old rule", 7, verdict("lost or damaged baggage")),
        ],
    )
    expected = {
        "delivery": 2,
        "billing_refund_pricing": 1,
        "other": 2,
        "lost or damaged baggage": 1,
    }
    assert await categories(store) == expected
    doc = await store.collection("mentions").find_one({"text": "odd name"})
    assert doc is not None and doc["counted"]["category"] == "other"
    assert await stored_rollups(store) == await rollup_truth(store)
    await store.complaints.correct(ids["parcel lost"], complaint=False, by="ann")
    assert await categories(store) == {**expected, "delivery": 1}
    doc = await store.collection("mentions").find_one({"text": "parcel lost"})
    assert doc is not None and "category" not in doc["counted"]
    assert await stored_rollups(store) == await rollup_truth(store)
    await store.complaints.correct(ids["parcel lost"], complaint=True, by="ann")
    await store.complaints.correct(ids["meh"], complaint=True, by="bo")  # the model gave none
    assert await categories(store) == {**expected, "other": 3}
    assert await stored_rollups(store) == await rollup_truth(store)
    doc = await store.collection("rollups").find_one({"day": DAY})
    assert doc is not None and doc["complaints"] == 7
    # A sentiment correction leaves the complaint in its category.
    await store.complaints.correct(ids["charged twice"], sentiment="neutral", by="ann")
    assert (await categories(store))["billing_refund_pricing"] == 1
    assert await stored_rollups(store) == await rollup_truth(store)


async def test_a_repair_and_a_rebuild_recount_the_categories(store: Database) -> None:
    """Category counts lost or wrong are recounted by a dead batch's repair and by a rebuild."""
    ids = await scored_complaints(
        store,
        [
            ("parcel lost", 1, verdict("delivery")),
            ("charged twice", 3, verdict("billing_refund_pricing")),
            ("fine", 4, verdict(None, complaint=False)),
        ],
    )
    await store.complaints.correct(ids["fine"], complaint=True, by="ann")
    truth = await rollup_truth(store)
    fields = {"complaints_delivery": 9, "complaints_other": 0, "complaints_safety": 4}
    await store.collection("rollups").update_many({}, {"$set": fields})
    await store.rollups.begin("dead", [KEY], utcnow() - timedelta(seconds=1))
    assert (await store.rollups.repair()).fixed == 1
    assert await stored_rollups(store) == truth
    assert await categories(store) == {"delivery": 1, "billing_refund_pricing": 1, "other": 1}
    await store.collection("rollups").update_many({}, {"$set": fields})
    assert (await store.rollups.rebuild()).fixed == 1
    assert await stored_rollups(store) == truth
    doc = await store.collection("rollups").find_one({"day": DAY})
    assert doc is not None and doc["complaints_safety"] == 0


async def test_an_older_database_gains_its_complaint_categories_at_open(
    mongodb_uri: str, database_name: str
) -> None:
    """Complaints counted without a category get the model's (or other) and their days recounted once."""
    store = await Database.open(mongodb_uri, database_name)
    try:
        base = {"source": "replay", "brand": "Acme", "score_state": "scored"}
        await store.collection("mentions").insert_many(
            [
                {
                    **base, "external_id": "old-1", "text": "lost", "created_at": DAY,
                    "sentiment": {"label": "negative"},
                    "complaint": {"is_complaint": True, "category": "delivery"},
                    "counted": {"label": "negative", "complaint": True},
                },
                {
                    **base, "external_id": "old-2", "text": "odd", "created_at": DAY,
                    "sentiment": {"label": "negative"},
                    "complaint": {"is_complaint": True, "category": "$where"},
                    "counted": {"label": "negative", "complaint": True},
                },
                {
                    **base, "external_id": "old-3", "text": "ok", "created_at": DAY,
                    "sentiment": {"label": "neutral"},
                    "complaint": {"is_complaint": False, "category": None},
                    "counted": {"label": "neutral", "complaint": False},
                },
            ]
        )  # fmt: skip
        await store.collection("rollups").insert_one(
            {**KEY_FIELDS, "total": 3, "negative": 2, "neutral": 1, "complaints": 2}
        )
        assert await categories(store) == {}  # fields missing read as none
        await store.collection("maintenance").delete_many({})
        await store.close()
        store = await Database.open(mongodb_uri, database_name)
        counted = {
            doc["external_id"]: doc["counted"]
            async for doc in store.collection("mentions").find({})
        }
        assert counted["old-1"]["category"] == "delivery"
        assert counted["old-2"]["category"] == "other"
        assert "category" not in counted["old-3"]
        assert await categories(store) == {"delivery": 1, "other": 1}
        assert await stored_rollups(store) == await rollup_truth(store)
        # Done once: a later open leaves what it finds.
        await store.collection("rollups").update_many({}, {"$set": {"complaints_other": 5}})
        await store.close()
        store = await Database.open(mongodb_uri, database_name)
        assert (await categories(store))["other"] == 5
    finally:
        await store._client.drop_database(database_name)
        await store.close()


def test_category_fields_follow_the_detectors_lists_and_never_a_mentions_text() -> None:
    """Every category either detector gives has its own field; any other name counts as other."""
    assert set(CATEGORY_FIELDS) == set(categories_v2.CATEGORIES) | set(rule.CATEGORIES)
    assert len(set(CATEGORY_FIELDS.values())) == len(CATEGORY_FIELDS)
    assert all(re.fullmatch(r"complaints_[a-z_]+", field) for field in CATEGORY_FIELDS.values())
    for name in ("$where", "a.b", "", "Delivery", None, 3, {"$gt": ""}):
        counted = counted_of("negative", True, category=name)
        assert counted["category"] == "other"
        assert bucket(counted) == {
            "total": 1,
            "negative": 1,
            "complaints": 1,
            "complaints_other": 1,
        }
    assert "category" not in counted_of("negative", False, category="delivery")
    assert bucket(counted_of(UNSCORED, True, category="delivery")) == {
        "unscored": 1,
        "unscored_und": 1,
    }
    old = counted_of("negative", True, category="delivery")
    new = counted_of("negative", False, {"complaint": False}, category="delivery")
    assert moved(old, new) == {"complaints": -1, "complaints_delivery": -1}
