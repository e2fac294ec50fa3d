"""The scorer's side of complaint themes: keeping embeddings, joining themes, re-clustering.

The scoring worker (``scoring/worker.py``) holds one :class:`ThemeKeeper`:

* **while scoring**, :meth:`ThemeKeeper.fields` gives each complaint and negative post of a
  batch its embedding (float16) and the nearest theme of its brand it is close enough to
  (``scoring/themes.py``); the brands' centroids are cached, read again every few minutes.
* **nightly** (the first pass after UTC midnight) and **soon after start** (a brand with
  no theme but at least ``bootstrap_min`` embedded posts, so a fresh demo shows themes
  within minutes), :meth:`ThemeKeeper.run_due` re-clusters each brand's last
  ``window`` of embedded posts under a lease in MongoDB (one process of however many),
  matches the new themes to the current ones (stable ids) and saves them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from goodwill.models import Sentiment, SentimentLabel, utcnow
from scoring.themes import encode, find_themes, match_themes, nearest_theme, stack
from store import Database, ThemeWrite

__all__ = ["ReclusterResult", "ThemeKeeper", "wants_embedding"]

log = logging.getLogger(__name__)


def wants_embedding(sentiment: Sentiment, complaint: Mapping[str, Any] | None) -> bool:
    """Whether a scored mention keeps its embedding: a complaint or a negative post."""
    return bool((complaint or {}).get("is_complaint")) or sentiment.label is SentimentLabel.NEGATIVE


@dataclass(frozen=True)
class ReclusterResult:
    """What one re-clustering of a brand did."""

    brand: str
    posts: int
    themes: int
    kept: int  # themes that kept an existing id
    new: int
    retired: int
    themed: int  # posts in a theme
    seconds: float


@dataclass
class _Centroids:
    ids: list[str]
    matrix: np.ndarray
    thresholds: np.ndarray
    loaded: float


class ThemeKeeper:
    """Embeddings and theme ids during scoring; the re-clustering of each brand when due."""

    def __init__(
        self,
        store: Database,
        *,
        owner: str,
        lease: timedelta = timedelta(minutes=30),
        window: timedelta = timedelta(days=30),
        min_size: int = 5,
        bootstrap_min: int = 50,
        refresh_seconds: float = 300.0,
        check_every: timedelta = timedelta(minutes=1),
    ) -> None:
        """``window``: how far back a re-clustering reads; ``min_size``: a theme's fewest posts;
        ``lease``: how long a re-clustering may take before another process may take it over."""
        self.store = store
        self.owner = owner
        self.lease = lease
        self.window = window
        self.min_size = min_size
        self.bootstrap_min = bootstrap_min
        self.refresh_seconds = refresh_seconds
        self.check_every = check_every
        self._cache: dict[str, _Centroids] = {}
        self._next_check: datetime | None = None

    # -- during scoring ----------------------------------------------------------------------

    async def centroids(self, brand: str) -> _Centroids:
        """The brand's active themes' centroids, cached for ``refresh_seconds``."""
        cached = self._cache.get(brand)
        if cached is not None and time.monotonic() - cached.loaded < self.refresh_seconds:
            return cached
        themes = await self.store.themes.active(brand)
        if themes:
            matrix = stack([bytes(doc["centroid"]) for doc in themes])
            thresholds = np.array([float(doc["threshold"]) for doc in themes], dtype=np.float32)
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
            thresholds = np.zeros(0, dtype=np.float32)
        fresh = _Centroids(
            [str(d["theme_id"]) for d in themes], matrix, thresholds, time.monotonic()
        )
        self._cache[brand] = fresh
        return fresh

    async def fields(
        self,
        mentions: Iterable[Mapping[str, Any]],
        scores: Mapping[Any, Sentiment],
        complaints: Mapping[Any, Mapping[str, Any]],
        embeddings: Mapping[Any, np.ndarray],
    ) -> dict[Any, dict[str, Any]]:
        """The theme fields to write with each scored mention of a batch.

        A complaint or negative post with an embedding gets ``embedding`` (float16 bytes)
        and, when it is close enough to one of its brand's themes, ``theme_id``. A mention
        that no longer qualifies (re-scored) loses both.
        """
        fields: dict[Any, dict[str, Any]] = {}
        by_brand: dict[str, list[tuple[Any, np.ndarray]]] = {}
        for doc in mentions:
            mention_id = doc["_id"]
            sentiment = scores.get(mention_id)
            if sentiment is None:
                continue
            vector = embeddings.get(mention_id)
            if vector is not None and wants_embedding(sentiment, complaints.get(mention_id)):
                fields[mention_id] = {"embedding": encode(vector), "theme_id": None}
                by_brand.setdefault(doc["brand"], []).append((mention_id, vector))
            elif "embedding" in doc or "theme_id" in doc:
                fields[mention_id] = {"embedding": None, "theme_id": None}
        for brand, items in by_brand.items():
            known = await self.centroids(brand)
            if not known.ids:
                continue
            vectors = np.stack([vector for _, vector in items]).astype(np.float32)
            nearest = nearest_theme(vectors, known.matrix, known.thresholds)
            for (mention_id, _), row in zip(items, nearest, strict=True):
                if row >= 0:
                    fields[mention_id]["theme_id"] = known.ids[row]
        return fields

    # -- re-clustering -----------------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> list[ReclusterResult]:
        """Re-cluster every brand that is due and not held by another process (at most once a minute)."""
        now = now or utcnow()
        if self._next_check is not None and now < self._next_check:
            return []
        self._next_check = now + self.check_every
        done = []
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for brand in await self.store.mentions.brands():
            has_themes = bool(await self.store.themes.active(brand))
            if has_themes:
                due_before = midnight
            elif await self.store.themes.count_embedded(brand, now - self.window) >= max(
                self.bootstrap_min, self.min_size
            ):
                # No theme yet: cluster now, then again every 15 minutes while there is none.
                due_before = now - timedelta(minutes=15)
            else:
                continue
            if not await self.store.themes.claim_recluster(
                brand, self.owner, self.lease, finished_before=due_before
            ):
                continue
            try:
                done.append(await self.recluster(brand, now))
            finally:
                await self.store.themes.finish_recluster(brand, self.owner)
        return done

    async def recluster(self, brand: str, now: datetime | None = None) -> ReclusterResult:
        """Cluster the brand's embedded posts of the last ``window`` and save the themes.

        New clusters close to a current theme keep its id; current themes matched by none
        are retired. Runs without a lease: :meth:`run_due` takes one first.
        """
        now = now or utcnow()
        started = time.monotonic()
        since = now - self.window
        docs = await self.store.themes.embedded(brand, since, now)
        log.info("themes of %s: re-clustering %d posts since %s", brand, len(docs), since.date())
        matrix = stack([bytes(doc["embedding"]) for doc in docs])
        texts = [str(doc.get("text") or "") for doc in docs]
        found, theme_of = await asyncio.to_thread(
            find_themes, matrix, texts, min_size=self.min_size, exclude=[brand]
        )
        current = await self.store.themes.active(brand)
        old = stack([bytes(doc["centroid"]) for doc in current])
        matched = match_themes(np.stack([t.centroid for t in found]) if found else old[:0], old)
        ids = [doc["_id"] for doc in docs]
        writes = [
            ThemeWrite(
                theme_id=str(current[matched[i]]["theme_id"]) if i in matched else None,
                name=theme.name,
                phrases=theme.phrases,
                centroid=encode(theme.centroid),
                threshold=theme.threshold,
                members=[ids[m] for m in theme.members],
                representatives=[ids[m] for m in theme.representatives],
            )
            for i, theme in enumerate(found)
        ]
        unthemed = [ids[i] for i in np.flatnonzero(theme_of < 0)]
        await self.store.themes.save_clustering(
            brand, writes, unthemed=unthemed, window=(since, now), now=now
        )
        self._cache.pop(brand, None)
        result = ReclusterResult(
            brand=brand,
            posts=len(docs),
            themes=len(found),
            kept=len(matched),
            new=len(found) - len(matched),
            retired=len(current) - len(matched),
            themed=int(np.sum(theme_of >= 0)),
            seconds=round(time.monotonic() - started, 2),
        )
        log.info(
            "themes of %s: %d themes (%d kept their id, %d new, %d retired), %d of %d posts "
            "themed, in %.1f s",
            brand,
            result.themes,
            result.kept,
            result.new,
            result.retired,
            result.themed,
            result.posts,
            result.seconds,
        )
        return result
