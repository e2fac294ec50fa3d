"""The dashboard's queries: time-sliced newest-first paging, insights over roll-ups and mentions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from goodwill.models import Mention
from store import Database, insights
from tests.factories import mention, seed, sentiment


async def test_feed_pages_read_across_periods_in_one_order(store: Database) -> None:
    """Pages walk from the newest day back years, ties kept in _id order, nothing twice."""
    ages = [0, 0.5, 2, 2, 9, 40, 300, 900, 2000]
    now = datetime.now(UTC)
    same = now - timedelta(days=2)
    await seed(
        store,
        [
            (
                mention(
                    f"age {age} #{i}", created_at=same if age == 2 else now - timedelta(days=age)
                ),
                "neutral",
            )
            for i, age in enumerate(ages)
        ],
    )
    everything = await store.feed.page(limit=100)
    assert len(everything) == len(ages)
    assert everything[0]["text"] == "age 0 #0" and everything[-1]["text"] == "age 2000 #8"
    keys = [(doc["created_at"], doc["_id"]) for doc in everything]
    assert keys == sorted(keys, reverse=True)
    paged = []
    for page in range(5):
        paged += await store.feed.page(skip=page * 2, limit=2)
    assert [doc["_id"] for doc in paged] == [doc["_id"] for doc in everything]
    window = await store.feed.page(
        since=now - timedelta(days=50), until=now - timedelta(days=1), limit=10
    )
    assert {doc["text"] for doc in window} == {"age 2 #2", "age 2 #3", "age 9 #4", "age 40 #5"}


async def test_complaints_queue_reaches_old_open_complaints(store: Database) -> None:
    """An open complaint from long ago still shows, after the recent ones."""
    await seed(
        store,
        [(mention("new"), "negative"), (mention("ancient", age=timedelta(days=800)), "negative")],
    )
    await store.collection("mentions").update_many(
        {}, {"$set": {"complaint.is_complaint": True, "counted.complaint": True}}
    )
    queue = await store.complaints.queue(None, "all")
    assert [doc["text"] for doc in queue] == ["new", "ancient"]
    assert [doc["text"] for doc in await store.complaints.queue(None, "overdue")] == ["ancient"]


async def test_brand_names_come_from_rollups_and_cursors(store: Database) -> None:
    """Scored brands and collected brands are listed; mentions are read only when both are empty."""
    await seed(store, [(mention("x", brand="Waiting"), None)])
    assert await insights.brand_names(store) == ["Waiting"]
    await seed(store, [(mention("y", brand="Scored"), "positive")])
    await store.cursors.record_success("Collected", "replay", {"offset": 1}, 1)
    assert await insights.brand_names(store) == ["Collected", "Scored"]


async def test_brand_rollups_cover_several_brands_with_every_count(store: Database) -> None:
    """Each brand x day x source has all five counts, 0 where the scorer wrote none."""
    await seed(
        store,
        [
            (mention("a", brand="A"), "negative"),
            (mention("b", brand="B"), "positive"),
            (mention("c", brand="C"), "positive"),
        ],
    )
    now = datetime.now(UTC)
    docs = await insights.brand_rollups(store, ["A", "B"], now - timedelta(days=2), now)
    assert [(doc["brand"], doc["total"], doc["negative"], doc["positive"]) for doc in docs] == [
        ("A", 1, 1, 0),
        ("B", 1, 0, 1),
    ]
    assert all(doc["complaints"] == 0 for doc in docs)


async def test_negative_posts_rank_negativity_by_reach(store: Database) -> None:
    """A widely shared negative post outranks a lone one; positive posts stay out."""
    await seed(
        store,
        [
            (mention("lonely", engagement={"likes": 0}), "negative"),
            (mention("viral", engagement={"likes": 5000, "shares": 100}), "negative"),
            (mention("happy", engagement={"likes": 9000}), "positive"),
        ],
    )
    now = datetime.now(UTC)
    posts = await insights.negative_posts(store, "Acme", now - timedelta(days=1), now)
    assert [doc["text"] for doc in posts] == ["viral", "lonely"]
    assert posts[0]["engagement_total"] == 5100


async def test_top_terms_count_each_word_once_per_mention() -> None:
    """Stop-words, links, handles and brand names are left out; a repeated word counts once."""
    texts = [
        "@acme LOST LOST LOST my luggage https://t.co/x",
        "Acme Air lost the luggage again",
        "where is my luggage, Acme Air?",
    ]
    assert insights.count_terms(texts, exclude=["Acme Air"], top=2) == [
        ("luggage", 3),
        ("lost", 2),
    ]
    assert "air" not in dict(insights.count_terms(texts, exclude=["Acme Air"]))


async def test_recent_alerts_come_newest_first_without_payloads(store: Database) -> None:
    """The alerts list shows delivery state and leaves payloads out."""
    now = datetime.now(UTC)
    await store.collection("alerts").insert_many(
        [
            {"dedupe_key": "a", "rule": "spike", "brand": "Acme", "destination": "slack",
             "created_at": now - timedelta(hours=2), "state": "sent", "payload": {"x": 1}},
            {"dedupe_key": "b", "rule": "spike", "brand": "Acme", "destination": "slack",
             "created_at": now, "state": "failed", "last_error": "HTTP 500", "payload": {}},
        ]
    )  # fmt: skip
    alerts = await insights.recent_alerts(store)
    assert [doc["dedupe_key"] for doc in alerts] == ["b", "a"]
    assert all("payload" not in doc for doc in alerts)


async def test_the_feed_offers_the_sources_mentions_carry_not_job_names(store: Database) -> None:
    """A Jetstream job stores its posts as ``bluesky``: the picker offers what a filter can find."""
    await store.cursors.record_success("Acme", "jetstream", {"time_us": 1}, 1)
    await seed(store, [(mention("acme on bluesky", source="bluesky"), "neutral")])
    assert await store.feed.sources("Acme") == ["bluesky"]
    assert await store.feed.sources(None) == ["bluesky"]
    assert await store.feed.sources("Globex") == []


def test_rising_terms_rank_by_smoothed_lift_and_keep_only_risen_words() -> None:
    """Share now over share before, each count plus 2; words under 3 texts now or not risen stay out."""
    now = ["refund card"] * 4 + ["delay gate"] * 4 + ["rare word"] * 2
    before = ["delay gate"] * 8 + ["refund"] * 1 + ["other thing"] * 1
    rows = insights.rising_terms(now, before, exclude=["Acme"], top=10)
    assert [row[:3] for row in rows] == [("card", 4, 0), ("refund", 4, 1)]
    card, refund = rows[0][3], rows[1][3]
    assert card == ((4 + 2) / (10 + 2)) / ((0 + 2) / (10 + 2))  # 3.0
    assert refund == ((4 + 2) / (10 + 2)) / ((1 + 2) / (10 + 2))  # 2.0
    assert "delay" not in {row[0] for row in rows}  # used less than before
    assert "rare" not in {row[0] for row in rows}  # 2 texts: under the minimum


async def test_recent_texts_keep_only_the_label_asked_for(store: Database) -> None:
    """With a label, only the window's mentions counted with it; the limit counts those kept."""
    await seed(
        store,
        [(mention(f"bad {i}", age=timedelta(hours=i + 1)), "negative") for i in range(3)]
        + [(mention(f"fine {i}", age=timedelta(minutes=10 + i)), "neutral") for i in range(5)],
    )
    now = datetime.now(UTC)
    texts = await insights.recent_texts(
        store, "Acme", now - timedelta(days=3), now, limit=2, label="negative"
    )
    assert texts == ["bad 0", "bad 1"]
    assert len(await insights.recent_texts(store, "Acme", now - timedelta(days=3), now)) == 8


async def test_complaint_categories_count_per_day_from_the_rollups(store: Database) -> None:
    """A brand's complaints per UTC day and category (none: other), read from the roll-ups alone."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def at(days_ago: int, hour: int = 1) -> datetime:
        return today - timedelta(days=days_ago) + timedelta(hours=hour)

    delivery = {"is_complaint": True, "kind": "complaint", "category": "delivery"}
    items: list[tuple[Mention, dict[str, Any]]] = [
        (mention("c0", created_at=at(1)), delivery),
        (mention("c1", created_at=at(1, 2)), delivery),
        (mention("c2", created_at=at(2)), delivery),
        (mention("c3", created_at=at(2, 2)), {"is_complaint": True}),
        (mention("no", created_at=at(1, 3)), {"is_complaint": False}),
        (mention("gone", created_at=at(9)), delivery),  # before the window
        (mention("other brand", brand="Globex", created_at=at(1)), delivery),
    ]
    await store.mentions.upsert([item for item, _ in items])
    claim = await store.queue.claim("w", limit=100, lease=timedelta(minutes=5))
    verdicts = {item.text: verdict for item, verdict in items}
    await store.queue.save(
        claim,
        {doc["_id"]: sentiment("negative") for doc in claim.mentions},
        {doc["_id"]: verdicts[doc["text"]] for doc in claim.mentions},
    )
    # The mentions are no longer read: the answer is the same without them.
    await store.collection("mentions").delete_many({})
    until = datetime.now(UTC) + timedelta(minutes=1)
    rows = await insights.complaint_categories(store, "Acme", today - timedelta(days=5), until)
    assert rows == [
        {"day": today - timedelta(days=2), "category": "delivery", "complaints": 1},
        {"day": today - timedelta(days=2), "category": "other", "complaints": 1},
        {"day": today - timedelta(days=1), "category": "delivery", "complaints": 2},
    ]
