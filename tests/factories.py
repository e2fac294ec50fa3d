"""Factories for test data: mentions, sentiments, and a store seeded with both."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from goodwill.models import Author, Mention, Sentiment, SentimentLabel
from store import Database
from store.rollups import CATEGORY_FIELDS

_ids = itertools.count(1)


def mention(
    text: str = "Lost my bag again, thanks Acme",
    *,
    brand: str = "Acme",
    source: str = "replay",
    created_at: datetime | None = None,
    age: timedelta = timedelta(hours=1),
    handle: str | None = "someone",
    external_id: str | None = None,
    **extra: Any,
) -> Mention:
    """A mention with a fresh external id, created ``age`` ago unless ``created_at`` is given."""
    number = next(_ids)
    return Mention(
        source=source,
        external_id=external_id or f"m{number}",
        brand=brand,
        text=text,
        author=Author(id=f"u{number}", handle=handle),
        created_at=created_at or datetime.now(UTC) - age,
        **extra,
    )


def sentiment(label: SentimentLabel | str, score: float = 0.9) -> Sentiment:
    """A model's verdict with ``score`` for ``label``."""
    chosen = SentimentLabel(label)
    rest = (1.0 - score) / 2
    return Sentiment(
        label=chosen,
        score=score,
        probabilities={name: score if name is chosen else rest for name in SentimentLabel},
        model_version="test-1",
    )


async def seed(
    store: Database, items: Iterable[tuple[Mention, SentimentLabel | str | None]]
) -> None:
    """Store mentions, scoring each with its label through a claim (``None``: left unscored).

    The scored ones go in and are scored first, so the claim never takes the unscored ones.
    """
    pairs = list(items)
    labels = {m.external_id: label for m, label in pairs if label is not None}
    await store.mentions.upsert([m for m, label in pairs if label is not None])
    if labels:
        claim = await store.queue.claim("factory", limit=100_000, lease=timedelta(minutes=5))
        scores = {
            doc["_id"]: sentiment(labels[doc["external_id"]])
            for doc in claim.mentions
            if doc["external_id"] in labels
        }
        await store.queue.save(claim, scores)
    await store.mentions.upsert([m for m, label in pairs if label is None])


def profile_doc(
    handle: str | None = "bob",
    *,
    source: str = "reddit",
    author_id: str | None = None,
    emails: Iterable[str] = (),
    display_name: str | None = None,
    do_not_contact: bool | None = False,
    **extra: Any,
) -> dict[str, Any]:
    """A ``profiles`` document as the data contract shapes it, with one identity (``handle`` on ``source``)."""
    from goodwill.identity import handle_key, identity_key, new_profile_id
    from goodwill.models import Identity, Profile

    now = datetime.now(UTC)
    identities = []
    if handle is not None or author_id is not None:
        key = identity_key(source, {"id": author_id, "handle": handle})
        assert key is not None
        identities.append(
            Identity(
                key=key,
                handle_key=handle_key(source, handle) if handle else None,
                source=source,
                id=author_id,
                handle=handle,
                url=f"https://{source}.example/{handle}" if handle else None,
                display_name=display_name,
                followers=10,
                first_seen=now,
                last_seen=now,
            )
        )
    doc = Profile(
        _id=new_profile_id(),
        display_name=display_name,
        identities=identities,
        emails=[e.lower() for e in emails],
        do_not_contact=bool(do_not_contact),
        reach=10,
        origin="collected",
        created_at=now,
        updated_at=now,
    ).to_document()
    doc.update(extra)
    if do_not_contact is None:
        del doc["do_not_contact"]
    return doc


def advocacy_doc(
    profile_id: str,
    *,
    brand: str = "Acme",
    score: float = 50.0,
    tier: str = "advocate",
    mentions: int = 3,
    last_mention_at: datetime | None = None,
    last_mention_url: str | None = "https://example.com/post/1",
    **extra: Any,
) -> dict[str, Any]:
    """An ``advocacy`` document (one profile x brand) as the data contract shapes it."""
    from bson import ObjectId

    now = datetime.now(UTC)
    doc: dict[str, Any] = {
        "_id": f"{profile_id}|{brand}",
        "profile_id": profile_id,
        "brand": brand,
        "score": score,
        "tier": tier,
        "love": score / 100,
        "reach_factor": 1.0,
        "mentions": mentions,
        "positive": mentions,
        "neutral": 0,
        "negative": 0,
        "complaints": 0,
        "last_mention_at": last_mention_at or now - timedelta(days=1),
        "last_mention_id": ObjectId(),
        "last_mention_url": last_mention_url,
        "as_of": now,
        "previous_tier": None,
        "tier_changed_at": now,
        "updated_at": now,
    }
    doc.update(extra)
    return doc


_ROLLUP_COUNTS = (
    "total",
    "positive",
    "neutral",
    "negative",
    "complaints",
    "unscored",
    "rated",
    "stars",
    "rated_scored",
    "stars_agree",
    "stars_clash",
    *CATEGORY_FIELDS.values(),
)
RollupCounts = dict[tuple[str, datetime, str], dict[str, int]]


async def rollup_truth(store: Database) -> RollupCounts:
    """The daily roll-ups as they should be, counted here from the mentions one by one.

    The rule: a person's correction, where it judged, else the model's verdict; a mention
    skipped as another language counts in ``unscored`` only. A rated mention (1-5 stars)
    counts in ``rated`` and its stars in ``stars``; with a verdict also in ``rated_scored``,
    ``stars_agree`` (1-2 stars negative, 3 neutral, 4-5 positive) or ``stars_clash``.
    A complaint counts in ``complaints`` and in its category's field: the model's category
    whatever the correction (a category the roll-ups do not list, or none, as ``other``).
    """
    counts: dict[tuple[str, datetime, str], Counter[str]] = {}
    async for doc in store.collection("mentions").find(
        {"$or": [{"sentiment": {"$exists": True}}, {"score_state": "skipped"}]}
    ):
        day = doc["created_at"].replace(hour=0, minute=0, second=0, microsecond=0)
        tally = counts.setdefault((doc["brand"], day, doc["source"]), Counter())
        correction = doc.get("correction") or {}
        rating = doc.get("rating")
        stars = round(rating) if isinstance(rating, int | float) and 1 <= rating <= 5 else None
        if stars is not None:
            tally["rated"] += 1
            tally["stars"] += stars
        if doc.get("score_state") == "skipped" and not correction.get("sentiment"):
            tally["unscored"] += 1
            continue
        tally["total"] += 1
        label = correction.get("sentiment") or doc["sentiment"]["label"]
        tally[label] += 1
        if stars is not None:
            said = {1: "negative", 2: "negative", 3: "neutral"}.get(stars, "positive")
            tally["rated_scored"] += 1
            tally["stars_agree"] += int(said == label)
            tally["stars_clash"] += int({said, label} == {"negative", "positive"})
        flag = correction.get("complaint")
        if flag is None:
            flag = (doc.get("complaint") or {}).get("is_complaint")
        tally["complaints"] += int(bool(flag))
        if flag:
            category = (doc.get("complaint") or {}).get("category")
            if not (isinstance(category, str) and category in CATEGORY_FIELDS):
                category = "other"
            tally[CATEGORY_FIELDS[category]] += 1
    return {key: {name: tally[name] for name in _ROLLUP_COUNTS} for key, tally in counts.items()}


async def stored_rollups(store: Database) -> RollupCounts:
    """The daily roll-ups as stored (documents with no count left out)."""
    return {
        (doc["brand"], doc["day"], doc["source"]): {
            name: int(doc.get(name, 0)) for name in _ROLLUP_COUNTS
        }
        async for doc in store.collection("rollups").find({})
        if any(doc.get(name) for name in _ROLLUP_COUNTS)
    }
