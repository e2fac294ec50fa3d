"""Goodwill's domain models: what a mention, its author and its scores are.

These are the shapes every stage agrees on; the store turns them into MongoDB
documents and back.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Author",
    "Mention",
    "Sentiment",
    "SentimentLabel",
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
