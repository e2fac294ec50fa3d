"""The kernel's typed models read back what the store holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from goodwill.models import COUNT_NAMES, Profile, SentimentLabel, StoredMention

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def stored(**extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "_id": "656565656565656565656565",
        "source": "reddit",
        "external_id": "t3_1",
        "brand": "Acme",
        "text": "The anvil broke",
        "created_at": NOW,
        "author": {"handle": "wile", "followers": 3},
        "fingerprint": "f",
        "collected_at": NOW,
        "score_state": "pending",
        "raw": {"kind": "t3"},
    }
    doc.update(extra)
    return doc


def sentiment(label: str = "negative") -> dict[str, object]:
    return {
        "label": label,
        "score": 0.9,
        "probabilities": {"negative": 0.9, "neutral": 0.05, "positive": 0.05},
        "model_version": "m1",
    }


def test_a_scored_mention_reads_back_with_its_verdicts() -> None:
    mention = StoredMention.from_document(
        stored(
            score_state="scored",
            sentiment=sentiment(),
            complaint={"is_complaint": True, "score": 0.8, "kind": "complaint", "reasons": ["r"]},
            correction={
                "sentiment": "neutral",
                "complaint": False,
                "kind": "other",
                "by": "ann",
                "at": NOW,
            },
            profile_id="p1",
        )
    )
    assert mention.id == "656565656565656565656565"
    assert mention.scored is not None and mention.scored.label is SentimentLabel.NEGATIVE
    assert mention.complaint is not None and mention.complaint.is_complaint
    assert mention.correction is not None and mention.correction.sentiment is SentimentLabel.NEUTRAL
    assert mention.author.handle == "wile" and mention.profile_id == "p1"
    assert mention.raw == {}  # the raw payload is not part of what is read back


def test_a_requeued_mention_has_no_current_score_and_a_skipped_one_says_its_language() -> None:
    requeued = StoredMention.from_document(stored(sentiment=sentiment()))
    assert requeued.sentiment is not None and requeued.scored is None
    skipped = StoredMention.from_document(
        stored(score_state="skipped", skipped={"language": "fr", "reason": "not English"})
    )
    assert skipped.skipped_language == "fr"


def test_an_erased_mention_reads_back_without_author() -> None:
    doc = stored(erased=True, text="")
    del doc["author"]
    mention = StoredMention.from_document(doc)
    assert mention.erased and mention.author.handle is None and mention.text == ""


def test_a_bad_document_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="score_state"):
        StoredMention.from_document(stored(score_state="lost"))


def test_a_profile_document_has_every_field_and_round_trips() -> None:
    profile = Profile(_id="p1", origin="crm", created_at=NOW, updated_at=NOW, emails=["a@b.co"])
    doc = profile.to_document()
    assert next(iter(doc)) == "_id" and doc["_id"] == "p1"
    assert doc["counts"] == dict.fromkeys(COUNT_NAMES, 0)
    assert doc["do_not_contact"] is False and doc["identities"] == []
    assert Profile.model_validate(doc) == profile


def test_a_profile_needs_a_known_origin() -> None:
    with pytest.raises(ValidationError, match="origin"):
        Profile(_id="p1", origin="guessed", created_at=NOW, updated_at=NOW)  # type: ignore[arg-type]
