"""The scoring worker: claims unscored mentions in batches, scores them, writes them back.

Any number of workers, on any number of machines, can run against one database: a
batch is claimed atomically with a lease (``Store.claim_unscored``), and the scores
of a batch whose lease ran out (and which another worker took) are not written.
Texts already scored by the same model version (identical reposts) are not run
through the model again.

After writing a batch's scores, the worker ties each mention's author to a customer
profile and recomputes, exactly, the advocacy of every (profile, brand) the batch
touched (``goodwill/profiles.py``, formula in ``scoring/advocacy.py``). Re-scoring with
another model goes through the same path, so advocacy follows the new scores. Should a
worker die between the two steps, ``goodwill profiles recompute`` brings advocacy back
in line. Once a day (the first pass after UTC midnight, one worker of however many) the
running worker recomputes every score, so that recency weights age for people who said
nothing new.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from goodwill.errors import StoreError
from goodwill.models import Sentiment, utcnow
from goodwill.profiles import ProfileStore, RecomputeStats, TierChange
from goodwill.store import Store
from scoring.advocacy import AdvocacyParams, as_of_for
from scoring.complaints import detect
from scoring.language import is_english, language_of

__all__ = ["BatchResult", "Predictor", "ScoringWorker"]

log = logging.getLogger(__name__)


class Predictor(Protocol):
    """What the worker needs of a model."""

    @property
    def version(self) -> str:
        """Names the model and its weights; stored with every score."""
        ...

    def predict(self, texts: list[str], batch_size: int = 32) -> list[Sentiment]:
        """One sentiment per text, in order."""
        ...


@dataclass(frozen=True)
class BatchResult:
    """What scoring one claimed batch did."""

    claimed: int
    inferred: int  # texts that went through the model
    reused: int  # texts whose score was known from an identical text
    written: int
    skipped: int = 0  # not scored on purpose (another language)
    resolved: int = 0  # mentions whose author was tied to a profile
    tier_changes: tuple[TierChange, ...] = ()  # advocacy tiers this batch changed


class ScoringWorker:
    """Scores what the collectors stored, batch by batch."""

    def __init__(
        self,
        store: Store,
        model: Predictor,
        *,
        batch_size: int = 32,
        claim_size: int = 256,
        lease: timedelta = timedelta(minutes=5),
        owner: str | None = None,
        profiles: ProfileStore | None = None,
        params: AdvocacyParams | None = None,
    ) -> None:
        """``params`` (the advocacy formula's, from ``AdvocacyParams.from_settings``) is used
        when no ``profiles`` is given; by default the formula's documented defaults."""
        self.store = store
        self.profiles = profiles or ProfileStore(store, params)
        self.model = model
        self.batch_size = batch_size
        # Claims are larger than inference batches: each claim costs a query whose price
        # grows with the backlog on the embedded server (it does not push limits into
        # index scans), while the model's batch size is what keeps inference fast.
        self.claim_size = claim_size
        self.lease = lease
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        # The day whose full advocacy recompute this worker last asked for (see daily_recompute).
        self._recompute_checked: datetime | None = None

    async def score_batch(self) -> BatchResult:
        """Claim one batch, score it and write the scores. Claimed 0 means nothing was waiting."""
        claim = await self.store.claim_unscored(self.owner, limit=self.claim_size, lease=self.lease)
        if not claim.mentions:
            return BatchResult(0, 0, 0, 0)
        # The model reads English: other languages are marked as such, not guessed at.
        languages = {
            doc["_id"]: language_of(doc["text"], doc.get("lang")) for doc in claim.mentions
        }
        foreign = {
            doc["_id"]: {"reason": "not English", "language": languages[doc["_id"]]}
            for doc in claim.mentions
            if not is_english(languages[doc["_id"]])
        }
        mentions = [doc for doc in claim.mentions if doc["_id"] not in foreign]
        skipped = await self.store.skip_unscorable(claim, foreign)
        known = await self.store.known_scores(
            (doc["fingerprint"] for doc in mentions), self.model.version
        )
        scores: dict[Any, Sentiment] = {}
        unknown: dict[str, list[Any]] = {}
        for doc in mentions:
            if doc["fingerprint"] in known:
                scores[doc["_id"]] = Sentiment.model_validate(known[doc["fingerprint"]])
            else:
                unknown.setdefault(doc["fingerprint"], []).append(doc)
        texts = [docs[0]["text"] for docs in unknown.values()]
        # The model is CPU-bound: run it in a thread so the event loop keeps its leases alive.
        predictions = (
            await asyncio.to_thread(self.model.predict, texts, self.batch_size) if texts else []
        )
        for docs, sentiment in zip(unknown.values(), predictions, strict=True):
            for doc in docs:
                scores[doc["_id"]] = sentiment
        # Complaint verdicts are cheap (rules over the text and the sentiment): never reused.
        complaints = {
            doc["_id"]: detect(doc["text"], scores[doc["_id"]]).to_document() for doc in mentions
        }
        # Authors are tied to profiles before the scores land, so whoever reads a freshly
        # scored mention (the alert engine) already finds its profile; advocacy follows.
        profile_of = await self.profiles.resolve(claim.mentions)
        written = await self.store.save_scores(claim, scores, complaints)
        changes = await self._refresh_advocacy(claim.mentions, profile_of)
        resolved = len(profile_of)
        reused = len(mentions) - sum(len(docs) for docs in unknown.values())
        return BatchResult(
            len(claim.mentions), len(texts), reused, written, skipped, resolved, tuple(changes)
        )

    async def _refresh_advocacy(
        self, mentions: list[dict[str, Any]], profile_of: dict[Any, str]
    ) -> list[TierChange]:
        """Recompute the advocacy of every (profile, brand) the batch touched."""
        brands = {doc["_id"]: doc["brand"] for doc in mentions}
        pairs = {(profile_id, brands[mention_id]) for mention_id, profile_id in profile_of.items()}
        return await self.profiles.refresh(pairs) if pairs else []

    async def drain(self, progress: Callable[[BatchResult], None] | None = None) -> int:
        """Score until nothing is waiting; returns how many mentions were written."""
        total = 0
        while True:
            result = await self.score_batch()
            if result.claimed == 0:
                return total
            total += result.written
            if progress is not None:
                progress(result)

    async def daily_recompute(self) -> RecomputeStats | None:
        """Recompute every advocacy score if this worker is the first to ask today; else None."""
        as_of = as_of_for(utcnow())
        if as_of == self._recompute_checked:
            return None  # this day was claimed already, by this worker or another
        if not await self.profiles.claim_daily_recompute(as_of):
            self._recompute_checked = as_of
            return None
        self._recompute_checked = as_of
        stats = await self.profiles.recompute_all(as_of)
        log.info(
            "recomputed advocacy as of %s: %d profiles, %d scores, %d tier changes",
            as_of.date(),
            stats.profiles,
            stats.advocacy,
            stats.tier_changes,
        )
        return stats

    async def run_forever(self, *, idle_seconds: float = 2.0, max_backoff: float = 60.0) -> None:
        """Score as mentions arrive; when the database is unreachable, retry with back-off."""
        backoff = 1.0
        while True:
            try:
                written = await self.drain()
                if written:
                    log.info("scored %d mentions with %s", written, self.model.version)
                await self.daily_recompute()
                backoff = 1.0
                await asyncio.sleep(idle_seconds)
            except StoreError as error:
                log.warning("database unreachable (%s); retrying in %.0f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)
