"""The scoring worker: claims unscored mentions in batches, scores them, writes them back.

Any number of workers, on any number of machines, can run against one database: a
batch is claimed atomically with a lease (``store.queue.claim``), and the scores
of a batch whose lease ran out (and which another worker took) are not written.
Texts already scored by the same model version (identical reposts) are not run
through the model again.

Before writing a batch's scores, the worker ties each mention's author to a customer
profile; after, it recomputes, exactly, the advocacy of every (profile, brand) the batch
touched (``customers/profiles.py``, formula in ``customers/advocacy.py``). Re-scoring with
another model goes through the same path, so advocacy follows the new scores. Once a day
(the first pass after UTC midnight, one worker of however many) the running worker
recomputes every score, so that recency weights age for people who said nothing new.

Nothing is lost when a worker dies at any point:

* its claim is renewed while it works and runs out when it dies; another worker (or the
  same one restarted) takes the batch again. A worker asked to stop gives its claim back.
* the scores and the daily roll-ups are two writes; a batch marks the roll-ups it will
  touch first, and a worker that died between the two writes leaves marks that the next
  pass of any worker repairs by recounting (``store/rollups.py``).
* the advocacy refresh a batch owes is noted before its scores are written and the note
  removed after; notes of dead workers are done by the next pass of any worker.
* the day's full recompute is a renewed lease, taken again when its holder died.

Complaint themes (``scoring/theme_jobs.py``): the batch's complaints and negative posts are
written with their embedding (from the model's same forward pass) and the nearest theme
of their brand; a brand's themes are re-clustered nightly, under a lease, by one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from customers.advocacy import AdvocacyParams, as_of_for
from customers.profiles import ProfileStore, RecomputeStats, TierChange
from goodwill.errors import StoreError
from goodwill.language import is_english, language_of
from goodwill.models import Sentiment, utcnow
from goodwill.retry import run_passes
from scoring.complaints import detect
from scoring.theme_jobs import ThemeKeeper
from scoring.themes import decode
from store import Claim, Database

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
        store: Database,
        model: Predictor,
        *,
        batch_size: int = 32,
        claim_size: int = 256,
        lease: timedelta = timedelta(minutes=5),
        owner: str | None = None,
        profiles: ProfileStore | None = None,
        params: AdvocacyParams | None = None,
        themes: ThemeKeeper | None = None,
    ) -> None:
        """``params`` (the advocacy formula's, from ``AdvocacyParams.from_settings``) is used
        when no ``profiles`` is given; by default the formula's documented defaults.
        ``themes`` keeps complaint themes (``scoring/theme_jobs.py``); by default one with
        its documented defaults."""
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
        # The day whose full advocacy recompute is known done, and when to ask again about
        # a day another worker holds (see daily_recompute).
        self._recompute_done: datetime | None = None
        self._recompute_retry: datetime | None = None
        self.themes = themes or ThemeKeeper(store, owner=self.owner)

    async def score_batch(self) -> BatchResult:
        """Claim one batch, score it and write the scores. Claimed 0 means nothing was waiting.

        The claim is renewed while the batch is worked on; if the worker is cancelled (asked
        to stop), what it had not written goes back to the queue at once.
        """
        claim = await self.store.queue.claim(self.owner, limit=self.claim_size, lease=self.lease)
        if not claim.mentions:
            return BatchResult(0, 0, 0, 0)
        try:
            async with _renewing(lambda: self.store.queue.renew(claim, self.lease), self.lease / 3):
                return await self._score_claimed(claim)
        except asyncio.CancelledError:
            with contextlib.suppress(StoreError):
                released = await self.store.queue.release(claim)
                log.info("stopping: gave %d claimed mentions back to the queue", released)
            raise

    async def _score_claimed(self, claim: Claim) -> BatchResult:
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
        skipped = await self.store.queue.skip(claim, foreign)
        known = await self.store.queue.known_scores(
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
        # A model that gives embeddings (the bundled one) gives them from the same pass.
        embed = getattr(self.model, "predict_with_embeddings", None)
        vectors: list[Any] = [None] * len(texts)
        if texts and embed is not None:
            predictions, vectors = await asyncio.to_thread(embed, texts, self.batch_size)
        elif texts:
            predictions = await asyncio.to_thread(self.model.predict, texts, self.batch_size)
        else:
            predictions = []
        embeddings: dict[Any, Any] = {}
        for docs, sentiment, vector in zip(unknown.values(), predictions, vectors, strict=True):
            for doc in docs:
                scores[doc["_id"]] = sentiment
                if vector is not None:
                    embeddings[doc["_id"]] = vector
        # Complaint verdicts are cheap (rules over the text and the sentiment): never reused.
        complaints = {
            doc["_id"]: detect(doc["text"], scores[doc["_id"]]).to_document() for doc in mentions
        }
        themed = await self._theme_fields(mentions, scores, complaints, embeddings)
        # Authors are tied to profiles before the scores land, so whoever reads a freshly
        # scored mention (the alert engine) already finds its profile; advocacy follows.
        profile_of = await self.profiles.resolve(claim.mentions)
        pairs = _pairs(claim.mentions, profile_of)
        if pairs:
            await self.store.profiles.journal_refresh(claim.token, pairs, utcnow() + self.lease)
        written = await self.store.queue.save(
            claim, scores, complaints, lease=self.lease, extra=themed
        )
        changes = await self.profiles.refresh(pairs) if pairs else []
        if pairs:
            await self.store.profiles.end_refresh(claim.token)
        resolved = len(profile_of)
        reused = len(mentions) - sum(len(docs) for docs in unknown.values())
        return BatchResult(
            len(claim.mentions), len(texts), reused, written, skipped, resolved, tuple(changes)
        )

    async def _theme_fields(
        self,
        mentions: list[dict[str, Any]],
        scores: dict[Any, Sentiment],
        complaints: dict[Any, dict[str, Any]],
        embeddings: dict[Any, Any],
    ) -> dict[Any, dict[str, Any]]:
        """Embeddings and theme ids to write with a batch (``ThemeKeeper.fields``).

        A text scored before (an identical repost) takes the embedding stored with it.
        """
        if hasattr(self.model, "predict_with_embeddings"):
            reused = [doc for doc in mentions if doc["_id"] not in embeddings]
            if reused:
                stored = await self.store.themes.embeddings_of(doc["fingerprint"] for doc in reused)
                for doc in reused:
                    if doc["fingerprint"] in stored:
                        embeddings[doc["_id"]] = decode(stored[doc["fingerprint"]])
        return await self.themes.fields(mentions, scores, complaints, embeddings)

    async def drain(self, progress: Callable[[BatchResult], None] | None = None) -> int:
        """Repair what dead workers left, then score until nothing is waiting.

        Returns how many mentions were written.
        """
        await self.repair()
        total = 0
        while True:
            result = await self.score_batch()
            if result.claimed == 0:
                return total
            total += result.written
            if progress is not None:
                progress(result)

    async def repair(self, now: datetime | None = None) -> None:
        """Finish what workers that died left half done: roll-up counts, advocacy refreshes."""
        rollups = await self.store.rollups.repair(now)
        if rollups.fixed:
            log.warning(
                "recounted %d daily roll-ups that a stopped scorer left half-written",
                rollups.fixed,
            )
        refreshed = await self.profiles.repair_refreshes(now)
        if refreshed:
            log.warning(
                "refreshed the advocacy of %d batches that a stopped scorer left undone", refreshed
            )

    async def daily_recompute(self) -> RecomputeStats | None:
        """Recompute every advocacy score if this worker is the first to ask today; else None.

        A day another worker holds is asked about again a minute later, so that the day
        is still recomputed if that worker dies before it is done.
        """
        now = utcnow()
        as_of = as_of_for(now)
        if as_of == self._recompute_done or (self._recompute_retry and now < self._recompute_retry):
            return None
        state = await self.store.profiles.claim_daily_recompute(as_of, self.owner, self.lease)
        if state != "claimed":
            if state == "done":
                self._recompute_done = as_of
            else:
                self._recompute_retry = now + timedelta(minutes=1)
            return None
        async with _renewing(
            lambda: self.store.profiles.renew_daily_recompute(as_of, self.owner, self.lease),
            self.lease / 3,
        ):
            stats = await self.profiles.recompute_all(as_of)
        await self.store.profiles.finish_daily_recompute(as_of, self.owner)
        self._recompute_done = as_of
        log.info(
            "recomputed advocacy as of %s: %d profiles, %d scores, %d tier changes",
            as_of.date(),
            stats.profiles,
            stats.advocacy,
            stats.tier_changes,
        )
        return stats

    async def run_forever(self, *, idle_seconds: float = 2.0, max_backoff: float = 60.0) -> None:
        """Score as mentions arrive; when the database is unreachable, retry with back-off.

        A pass the database fails is tried again after 1 s, 2 s, 4 s ... up to
        ``max_backoff``, for as long as it takes; the next pass starts the waits over.
        """
        await run_passes(self._pass, every=idle_seconds, log=log, max_backoff=max_backoff)

    async def _pass(self) -> None:
        """Score what is waiting, then the day's advocacy recompute and themes if due."""
        written = await self.drain()
        if written:
            log.info("scored %d mentions with %s", written, self.model.version)
        await self.daily_recompute()
        await self.themes.run_due()


def _pairs(mentions: list[dict[str, Any]], profile_of: dict[Any, str]) -> set[tuple[str, str]]:
    """The (profile, brand) pairs whose advocacy a batch changes."""
    brands = {doc["_id"]: doc["brand"] for doc in mentions}
    return {(profile_id, brands[mention_id]) for mention_id, profile_id in profile_of.items()}


@contextlib.asynccontextmanager
async def _renewing(
    renew: Callable[[], Awaitable[object]], every: timedelta
) -> AsyncIterator[None]:
    """Call ``renew`` every ``every`` while the block runs (a lease kept alive while working).

    A renewal the database refuses is logged and tried again at the next tick: the work
    itself finds out soon enough if the lease was lost.
    """

    async def keep_renewing() -> None:
        while True:
            await asyncio.sleep(every.total_seconds())
            try:
                await renew()
            except StoreError as error:
                log.warning("could not renew a lease (%s); trying again", error)

    task = asyncio.create_task(keep_renewing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
