"""Goodwill's domain models: a mention, its author and scores, and a customer profile.

These are the shapes every stage agrees on; the store turns them into MongoDB
documents and back. ``Mention`` is what a source collects; ``StoredMention`` is a
mention read back with what the stages added (scores, complaint verdict, correction,
profile). ``Profile`` is one person: identities across networks, CRM fields, counts.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "COUNT_NAMES",
    "Author",
    "ComplaintVerdict",
    "Correction",
    "Identity",
    "Mention",
    "Profile",
    "Sentiment",
    "SentimentLabel",
    "StoredMention",
    "normalise_text",
    "text_fingerprint",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC, truncated to milliseconds as MongoDB stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Text as compared for "same text": NFKC, case-folded, whitespace collapsed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def text_fingerprint(text: str) -> str:
    """A stable hash of the normalised text (identical reposts share it)."""
    return hashlib.sha1(normalise_text(text).encode("utf-8")).hexdigest()


class SentimentLabel(StrEnum):
    """The three sentiment classes."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class Author(BaseModel):
    """Who wrote a mention, as the source names them (any part may be unknown)."""

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    handle: str | None = None
    display_name: str | None = None
    followers: int | None = Field(default=None, ge=0)
    url: str | None = None


class Sentiment(BaseModel):
    """A model's verdict on one mention."""

    label: SentimentLabel
    score: float = Field(ge=0.0, le=1.0, description="probability of the label")
    probabilities: dict[SentimentLabel, float]
    model_version: str
    # The model's second head, where it has one: the probability of each kind of post
    # (complaint, negative_opinion, question, other), from the same forward pass.
    kinds: dict[str, float] | None = None


class Mention(BaseModel):
    """One thing someone said about a brand, normalised from any source.

    ``(source, external_id)`` is its natural key: collecting it again updates it.
    """

    source: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    brand: str = Field(min_length=1)
    text: str
    url: str | None = None
    title: str | None = None
    author: Author = Field(default_factory=Author)
    lang: str | None = None
    created_at: datetime
    rating: float | None = None
    # Said on the brand's own channel (its subreddit, YouTube channel, app page): about the
    # brand whatever its words, so the brand's query does not filter it.
    owned: bool = False
    engagement: dict[str, int] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def fingerprint(self) -> str:
        """Hash of the normalised text, used to skip re-scoring identical text."""
        return text_fingerprint(self.text)


class ComplaintVerdict(BaseModel):
    """The complaint detector's verdict on a mention (the scorer writes it)."""

    model_config = ConfigDict(extra="allow")

    is_complaint: bool = False
    score: float = 0.0
    kind: str | None = None
    category: str | None = None
    reasons: list[str] = Field(default_factory=list)


class Correction(BaseModel):
    """A person's latest correction of a mention's labels (``None``: not judged)."""

    sentiment: SentimentLabel | None = None
    complaint: bool | None = None
    kind: str | None = None
    by: str
    at: datetime


class StoredMention(Mention):
    """A mention as the store holds it, read back with what the stages added.

    ``sentiment`` is the model's verdict once scored; a mention another language kept
    from the model has ``skipped_language``. ``author`` is empty for an erased person.
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    score_state: Literal["pending", "claimed", "scored", "skipped"] = "pending"
    sentiment: Sentiment | None = None
    complaint: ComplaintVerdict | None = None
    correction: Correction | None = None
    skipped_language: str | None = None
    profile_id: str | None = None
    erased: bool = False

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> StoredMention:
        """A ``mentions`` document (raw payload or not) as a typed mention."""
        fields = {key: value for key, value in doc.items() if key not in ("_id", "skipped", "raw")}
        fields["id"] = str(doc["_id"])
        fields["skipped_language"] = (doc.get("skipped") or {}).get("language")
        fields["author"] = doc.get("author") or {}
        fields["engagement"] = doc.get("engagement") or {}
        return cls.model_validate(fields)

    @property
    def scored(self) -> Sentiment | None:
        """The sentiment when the mention is scored now (a re-queued one is not)."""
        return self.sentiment if self.score_state == "scored" else None


#: The counts every profile keeps of its mentions.
COUNT_NAMES: tuple[str, ...] = (
    "mentions",
    "scored",
    "positive",
    "neutral",
    "negative",
    "complaints",
)


class Identity(BaseModel):
    """One account of a person on one network, as last seen."""

    key: str
    handle_key: str | None = None
    source: str
    id: str | None = None
    handle: str | None = None
    url: str | None = None
    display_name: str | None = None
    followers: int | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class Profile(BaseModel):
    """One person: their identities across networks, CRM record, consent and counts.

    ``origin`` says how the profile began: ``collected`` (an author first seen in a
    mention) or ``crm`` (a CRM import). ``to_document`` gives the ``profiles`` document.
    """

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    display_name: str | None = None
    identities: list[Identity] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    crm_id: str | None = None
    crm_system: str | None = None
    crm_fields: dict[str, Any] = Field(default_factory=dict)
    value: float | None = None
    tier: str | None = None
    tags: list[str] = Field(default_factory=list)
    do_not_contact: bool = False
    reach: int = 0
    counts: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    origin: Literal["collected", "crm"]
    created_at: datetime
    updated_at: datetime

    def to_document(self) -> dict[str, Any]:
        """The ``profiles`` document (``_id`` first, every field present)."""
        return self.model_dump(mode="python", by_alias=True)
