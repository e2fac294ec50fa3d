"""People's corrections of mention labels, against a real MongoDB-protocol server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from store import Database
from tests.factories import mention, sentiment


async def _scored(store: Database, text: str, label: str, complaint: dict[str, Any] | None) -> str:
    """Store one mention scored ``label`` (with a complaint verdict); its id as the dashboard has it."""
    item = mention(text)
    await store.mentions.upsert([item])
    claim = await store.queue.claim("test", limit=10, lease=timedelta(minutes=5))
    [doc] = [doc for doc in claim.mentions if doc["external_id"] == item.external_id]
    verdicts = {doc["_id"]: complaint} if complaint is not None else None
    await store.queue.save(claim, {doc["_id"]: sentiment(label)}, verdicts)
    return str(doc["_id"])


_NOT_A_COMPLAINT: dict[str, Any] = {
    "is_complaint": False,
    "score": 0.1,
    "category": None,
    "reasons": [],
    "kind": "other",
}


async def test_a_correction_is_kept_in_history_and_shown_on_the_mention(store: Database) -> None:
    """The corrections document carries the text and the model's verdict; the mention its summary."""
    mention_id = await _scored(store, "Bag lost for 3 days", "neutral", _NOT_A_COMPLAINT)
    await store.complaints.correct(
        mention_id, sentiment="negative", complaint=True, kind=None, by="Ana", note="lost bag"
    )
    [history] = await store.complaints.corrections()
    assert history["mention_id"] == ObjectId(mention_id)
    assert (history["text"], history["brand"], history["source"]) == (
        "Bag lost for 3 days",
        "Acme",
        "replay",
    )
    assert (history["model_version"], history["model_label"], history["model_complaint"]) == (
        "test-1",
        "neutral",
        False,
    )
    assert (history["sentiment"], history["complaint"], history["kind"]) == (
        "negative",
        True,
        "complaint",
    )
    assert (history["by"], history["note"]) == ("Ana", "lost bag")
    doc = await store.collection("mentions").find_one({"_id": ObjectId(mention_id)})
    assert doc is not None
    assert doc["correction"] == {
        "sentiment": "negative",
        "complaint": True,
        "kind": "complaint",
        "by": "Ana",
        "at": history["at"],
    }
    assert doc["sentiment"]["label"] == "neutral", "the model's verdict stays as it was"


async def test_a_second_correction_replaces_the_first_and_history_keeps_both(
    store: Database,
) -> None:
    """The mention shows the latest correction; ``corrections`` lists both, newest first."""
    mention_id = await _scored(store, "meh flight", "positive", None)
    await store.complaints.correct(
        mention_id, sentiment="negative", complaint=None, kind=None, by="Ana", note=None
    )
    await store.complaints.correct(
        mention_id, sentiment="neutral", complaint=None, kind=None, by="Bo", note=None
    )
    doc = await store.collection("mentions").find_one({"_id": ObjectId(mention_id)})
    assert doc is not None
    assert (doc["correction"]["sentiment"], doc["correction"]["by"]) == ("neutral", "Bo")
    history = await store.complaints.corrections()
    assert [(c["sentiment"], c["by"]) for c in history] == [("neutral", "Bo"), ("negative", "Ana")]
    assert [c["sentiment"] for c in await store.complaints.latest_corrections()] == ["neutral"]


async def test_latest_corrections_gives_one_per_mention_newest_first(store: Database) -> None:
    """Each corrected mention appears once, with its latest correction; uncorrected ones not at all."""
    first = await _scored(store, "first", "positive", None)
    second = await _scored(store, "second", "positive", None)
    await _scored(store, "never corrected", "positive", None)
    await store.complaints.correct(
        first, sentiment="negative", complaint=None, kind=None, by="a", note=None
    )
    await store.complaints.correct(
        second, sentiment="neutral", complaint=None, kind=None, by="a", note=None
    )
    await store.complaints.correct(
        first, sentiment="neutral", complaint=None, kind=None, by="b", note=None
    )
    latest = await store.complaints.latest_corrections()
    assert [(c["text"], c["sentiment"], c["by"]) for c in latest] == [
        ("first", "neutral", "b"),
        ("second", "neutral", "a"),
    ]
    assert all("_id" not in c for c in latest)


async def test_corrections_honours_limit_and_since(store: Database) -> None:
    """``limit`` caps the newest corrections returned; ``since`` leaves out older ones."""
    mention_id = await _scored(store, "text", "positive", None)
    for label in ("negative", "neutral", "positive"):
        await store.complaints.correct(
            mention_id, sentiment=label, complaint=None, kind=None, by="a", note=None
        )
    history = await store.complaints.corrections()
    assert [c["sentiment"] for c in await store.complaints.corrections(limit=2)] == [
        c["sentiment"] for c in history[:2]
    ]
    assert await store.complaints.corrections(limit=0) == []
    newest = history[0]["at"]
    assert all(c["at"] >= newest for c in await store.complaints.corrections(since=newest))
    assert await store.complaints.corrections(since=newest + timedelta(seconds=1)) == []


async def test_the_complaint_flag_and_kind_follow_each_other(store: Database) -> None:
    """A kind sets the flag, a complaint flag alone means kind ``complaint``; disagreement is refused."""
    mention_id = await _scored(store, "why is boarding at 6?", "neutral", _NOT_A_COMPLAINT)
    await store.complaints.correct(
        mention_id, sentiment=None, complaint=None, kind="question", by="a", note=None
    )
    [latest] = await store.complaints.latest_corrections()
    assert (latest["sentiment"], latest["complaint"], latest["kind"]) == (None, False, "question")
    with pytest.raises(ValueError, match="agrees with the complaint flag"):
        await store.complaints.correct(
            mention_id, sentiment=None, complaint=True, kind="question", by="a", note=None
        )
    await store.complaints.correct(
        mention_id, sentiment=None, complaint=False, kind=None, by="a", note=None
    )
    [latest] = await store.complaints.latest_corrections()
    assert (latest["complaint"], latest["kind"]) == (False, None)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sentiment": "angry"}, "Sentiment must be one of negative, neutral, positive"),
        ({"sentiment": {"$ne": None}}, "Sentiment must be one of"),
        ({"kind": "rant"}, "Kind must be one of complaint, negative_opinion, question, other"),
        ({"complaint": "yes"}, "Complaint must be true or false"),
        ({}, "needs a sentiment, a complaint verdict or a kind"),
        ({"sentiment": "negative", "by": "   "}, "needs the name of who made it"),
        ({"sentiment": "negative", "note": "x" * 2001}, "at most 2000 characters"),
    ],
)
async def test_bad_values_are_refused_and_nothing_is_written(
    store: Database, values: dict[str, Any], message: str
) -> None:
    """A value outside its set, an operator, nothing to correct or no name: ValueError, no write."""
    mention_id = await _scored(store, "text", "positive", None)
    arguments: dict[str, Any] = {
        "sentiment": None,
        "complaint": None,
        "kind": None,
        "by": "Ana",
        "note": None,
    }
    with pytest.raises(ValueError, match=message):
        await store.complaints.correct(mention_id, **{**arguments, **values})
    assert await store.complaints.corrections() == []
    doc = await store.collection("mentions").find_one({"_id": ObjectId(mention_id)})
    assert doc is not None and "correction" not in doc


@pytest.mark.parametrize("bad_id", ["not-an-id", "", "0" * 23, {"$ne": None}, 42])
async def test_a_malformed_mention_id_is_refused(store: Database, bad_id: Any) -> None:
    """Ids must be 24 hex digits (or an ObjectId); anything else, operators included, is refused."""
    with pytest.raises(ValueError, match="is not a mention id"):
        await store.complaints.correct(
            bad_id, sentiment="negative", complaint=None, kind=None, by="a", note=None
        )
    assert await store.complaints.corrections() == []


async def test_an_unknown_mention_id_is_refused(store: Database) -> None:
    """A well-formed id of no mention (erased, say) is refused with a message saying so."""
    with pytest.raises(ValueError, match="No mention has the id"):
        await store.complaints.correct(
            str(ObjectId()), sentiment="negative", complaint=None, kind=None, by="a", note=None
        )
    assert await store.complaints.corrections() == []


async def test_rescoring_keeps_the_correction(store: Database) -> None:
    """A new model's scores replace the model's verdict, never a person's correction."""
    mention_id = await _scored(store, "fine I guess", "positive", None)
    await store.complaints.correct(
        mention_id, sentiment="neutral", complaint=None, kind=None, by="a", note=None
    )
    assert await store.queue.requeue("test-2") == 1
    claim = await store.queue.claim("test", limit=10, lease=timedelta(minutes=5))
    await store.queue.save(claim, {doc["_id"]: sentiment("negative") for doc in claim.mentions})
    doc = await store.collection("mentions").find_one({"_id": ObjectId(mention_id)})
    assert doc is not None
    assert (doc["sentiment"]["label"], doc["correction"]["sentiment"]) == ("negative", "neutral")


async def test_the_corrections_indexes_are_created(store: Database) -> None:
    """Corrections are indexed by mention and time (history look-ups) and by time."""
    indexes = {
        index["name"]: list(index["key"].items())
        async for index in await store.collection("corrections").list_indexes()
    }
    assert indexes["mention_time"] == [("mention_id", 1), ("at", -1)]
    assert indexes["at"] == [("at", -1)]
