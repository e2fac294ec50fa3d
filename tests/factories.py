"""Factories for test data: mentions, sentiments, and a store seeded with both."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from goodwill.models import Author, Mention, Sentiment, SentimentLabel
from goodwill.store import Store

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


async def seed(store: Store, items: Iterable[tuple[Mention, SentimentLabel | str | None]]) -> None:
    """Store mentions, scoring each with its label through a claim (``None``: left unscored).

    The scored ones go in and are scored first, so the claim never takes the unscored ones.
    """
    pairs = list(items)
    labels = {m.external_id: label for m, label in pairs if label is not None}
    await store.upsert_mentions([m for m, label in pairs if label is not None])
    if labels:
        claim = await store.claim_unscored("factory", limit=100_000, lease=timedelta(minutes=5))
        scores = {
            doc["_id"]: sentiment(labels[doc["external_id"]])
            for doc in claim.mentions
            if doc["external_id"] in labels
        }
        await store.save_scores(claim, scores)
    await store.upsert_mentions([m for m, label in pairs if label is None])
