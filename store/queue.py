"""The scoring queue: mentions claimed in batches under a lease, scored, written once.

A mention goes ``pending`` (collected) -> ``claimed`` (by one worker, until its lease
expires) -> ``scored``, or ``skipped`` (not scored on purpose, e.g. another language).
A crashed worker's claim expires and is taken again; a worker whose lease ran out
writes nothing. An edit (``Mentions.replace_text``) puts a mention back to ``pending``
from any state, dropping its claim; its ``counted`` verdict stays until it is scored again.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from goodwill.models import Sentiment, utcnow
from store._common import Document, translating_errors
from store.rollups import INFLIGHT_LEASE, UNSCORED, Key, Rollups, counted_of, key_of, moved

__all__ = ["CLAIMED", "PENDING", "SCORED", "SKIPPED", "Claim", "ScoringQueue"]

PENDING = "pending"
CLAIMED = "claimed"
SCORED = "scored"
SKIPPED = "skipped"  # not scored, on purpose (e.g. not English); the mention says why


@dataclass(frozen=True)
class Claim:
    """A batch of mentions claimed for scoring by one worker until ``expires``."""

    token: str
    expires: datetime
    mentions: list[Document]


def _as_corrected(correction: Document | None) -> Document:
    """A filter that holds while a mention's correction is still ``correction`` (None: none).

    A scorer counts a mention as the correction it read says; a person who corrects the
    mention after that read makes the scorer's write miss, not count the wrong verdict.
    """
    if not correction:
        return {"correction": None}
    return {"correction.at": correction.get("at")}


@translating_errors
class ScoringQueue:
    """Claims, lease renewals, score writes (with their roll-ups) and releases."""

    def __init__(self, db: AsyncDatabase[Document], rollups: Rollups) -> None:
        self._db = db
        self._rollups = rollups

    async def claim(self, owner: str, *, limit: int, lease: timedelta) -> Claim:
        """Atomically claim up to ``limit`` mentions that are unscored or whose lease expired.

        Each document is taken by a conditional update, so two workers racing for the
        same mention never both get it; a crashed worker's claim expires and is taken again.
        """
        now = utcnow()
        claimable: Document = {
            "$or": [
                {"score_state": PENDING},
                {"score_state": CLAIMED, "claim.expires": {"$lt": now}},
            ]
        }
        candidates = [
            doc["_id"] async for doc in self._db.mentions.find(claimable, {"_id": 1}).limit(limit)
        ]
        token = f"{owner}:{secrets.token_hex(6)}"
        expires = now + lease
        if candidates:
            await self._db.mentions.update_many(
                {"_id": {"$in": candidates}, **claimable},
                {"$set": {"score_state": CLAIMED, "claim": {"token": token, "expires": expires}}},
            )
        # Looked up by _id (indexed), not by token: the embedded server scans for the latter.
        claimed = [
            doc
            async for doc in self._db.mentions.find(
                {"_id": {"$in": candidates}, "claim.token": token}
            )
        ]
        return Claim(token=token, expires=expires, mentions=claimed)

    async def renew(self, claim: Claim, lease: timedelta) -> datetime:
        """Extend a claim that is still this worker's by ``lease`` from now; returns the new end."""
        expires = utcnow() + lease
        await self._db.mentions.update_many(
            {"_id": {"$in": [doc["_id"] for doc in claim.mentions]}, "claim.token": claim.token},
            {"$set": {"claim.expires": expires}},
        )
        return expires

    async def release(self, claim: Claim) -> int:
        """Give back what is left of a claim (a worker stopping): the mentions wait again."""
        result = await self._db.mentions.update_many(
            {"_id": {"$in": [doc["_id"] for doc in claim.mentions]}, "claim.token": claim.token},
            {"$set": {"score_state": PENDING}, "$unset": {"claim": ""}},
        )
        return result.modified_count

    async def known_scores(
        self, fingerprints: Iterable[str], model_version: str
    ) -> dict[str, Document]:
        """Sentiments already given by ``model_version`` to texts with these fingerprints."""
        found: dict[str, Document] = {}
        cursor = self._db.mentions.find(
            {
                "fingerprint": {"$in": list(set(fingerprints))},
                "sentiment.model_version": model_version,
            },
            {"fingerprint": 1, "sentiment": 1},
        )
        async for doc in cursor:
            found.setdefault(doc["fingerprint"], doc["sentiment"])
        return found

    async def save(
        self,
        claim: Claim,
        scores: dict[Any, Sentiment],
        complaints: dict[Any, Document] | None = None,
        *,
        lease: timedelta = INFLIGHT_LEASE,
        extra: dict[Any, Document] | None = None,
    ) -> int:
        """Write the sentiments (and complaint verdicts) of a claimed batch; update the roll-ups.

        ``extra`` holds more fields per mention, written with its scores (a value of
        None removes the field): the embedding and theme of a complaint (``store/themes.py``).

        Only mentions still held by this claim, with a lease that has not run out, are
        written, so a worker whose lease expired (and whose batch another worker took)
        writes nothing twice. The roll-ups are kept exact across a crash between the
        two writes (``goodwill/rollups.py``): ``lease`` is how long this batch may take
        before a repair recounts what it touched.
        """
        now = utcnow()
        complaints = complaints or {}
        by_id = {doc["_id"]: doc for doc in claim.mentions}
        ops = []
        # A correction made while the batch was claimed counts too (Complaints.correct
        # leaves a claimed mention's counts to its scorer); one made after this read
        # stops the write (``_as_corrected``): the mention is scored again once its claim
        # runs out, rather than counted as the model said over a person's word.
        corrections = {
            doc["_id"]: doc.get("correction")
            async for doc in self._db.mentions.find(
                {"_id": {"$in": list(scores)}}, {"correction": 1}
            )
        }
        counted: dict[Any, Document] = {}
        for mention_id, sentiment in scores.items():
            doc = by_id[mention_id]
            verdict = complaints.get(mention_id, doc.get("complaint")) or {}
            counted[mention_id] = counted_of(
                sentiment.label.value,
                bool(verdict.get("is_complaint")),
                corrections.get(mention_id),
                rating=doc.get("rating"),
                category=verdict.get("category"),
            )
            fields: Document = {
                "score_state": SCORED,
                "sentiment": sentiment.model_dump(mode="python"),
                "counted": counted[mention_id],
                "scored_at": now,
                "scored_by": claim.token,
            }
            if mention_id in complaints:
                fields["complaint"] = complaints[mention_id]
            more = (extra or {}).get(mention_id) or {}
            fields.update((name, value) for name, value in more.items() if value is not None)
            removed = {name: "" for name, value in more.items() if value is None}
            ops.append(
                UpdateOne(
                    {
                        "_id": mention_id,
                        "claim.token": claim.token,
                        "claim.expires": {"$gt": now},
                        **_as_corrected(corrections.get(mention_id)),
                    },
                    {"$set": fields, "$unset": {"claim": "", **removed}},
                )
            )
        if not ops:
            return 0
        keys = {key_of(by_id[mention_id]) for mention_id in scores}
        await self._rollups.begin(claim.token, keys, now + lease)
        result = await self._db.mentions.bulk_write(ops, ordered=False)
        written = [
            doc["_id"]
            async for doc in self._db.mentions.find(
                {"_id": {"$in": list(scores)}, "scored_by": claim.token}, {"_id": 1}
            )
        ]
        await self._commit(claim.token, by_id, counted, keys, written, result.matched_count)
        return len(written)

    async def skip(self, claim: Claim, reasons: dict[Any, Document]) -> int:
        """Mark claimed mentions that will not be scored (another language), with why.

        They leave the queue (state ``skipped``) without a sentiment; the roll-ups count
        them in ``unscored`` (and per language), so volume includes them, sentiment not.
        """
        if not reasons:
            return 0
        now = utcnow()
        by_id = {doc["_id"]: doc for doc in claim.mentions}
        counted = {
            mention_id: counted_of(
                UNSCORED,
                False,
                by_id[mention_id].get("correction"),
                language=str(reason.get("language") or "") or None,
                rating=by_id[mention_id].get("rating"),
            )
            for mention_id, reason in reasons.items()
            if mention_id in by_id
        }
        ops = [
            UpdateOne(
                {
                    "_id": mention_id,
                    "claim.token": claim.token,
                    "claim.expires": {"$gt": now},
                    **_as_corrected(by_id[mention_id].get("correction")),
                },
                {
                    "$set": {
                        "score_state": SKIPPED,
                        "skipped": reasons[mention_id],
                        "counted": counted[mention_id],
                        "scored_at": now,
                        "scored_by": claim.token,
                    },
                    "$unset": {"claim": ""},
                },
            )
            for mention_id in counted
        ]
        if not ops:
            return 0
        keys = {key_of(by_id[mention_id]) for mention_id in counted}
        await self._rollups.begin(claim.token, keys, now + INFLIGHT_LEASE)
        result = await self._db.mentions.bulk_write(ops, ordered=False)
        written = [
            doc["_id"]
            async for doc in self._db.mentions.find(
                {"_id": {"$in": list(counted)}, "scored_by": claim.token, "score_state": SKIPPED},
                {"_id": 1},
            )
        ]
        await self._commit(claim.token, by_id, counted, keys, written, result.matched_count)
        return len(written)

    async def _commit(
        self,
        token: str,
        by_id: dict[Any, Document],
        counted: dict[Any, Document],
        keys: set[Key],
        written: list[Any],
        matched: int,
    ) -> None:
        """Move the roll-ups of what a batch wrote (``written``) from their old to their new verdict.

        A mention this batch wrote can be taken from it before it is read back: edited
        (``Mentions.replace_text`` puts it back in the queue) and scored again by another
        batch, which then says ``scored_by`` it. Its move from the old verdict to this
        batch's would be lost, so when the write matched more mentions than were read back,
        the documents those mentions count in are not committed: their in-flight entries
        expire and ``Rollups.repair`` recounts them from what the mentions say.
        """
        increments: dict[Key, dict[str, int]] = {key: {} for key in keys}
        for mention_id in written:
            doc = by_id[mention_id]
            counts = increments[key_of(doc)]
            for name, change in moved(doc.get("counted"), counted[mention_id]).items():
                counts[name] = counts.get(name, 0) + change
        if matched > len(written):
            lost = set(counted) - set(written)
            for key in {key_of(by_id[mention_id]) for mention_id in lost}:
                increments.pop(key, None)
        await self._rollups.commit(token, increments)

    async def requeue(self, model_version: str, *, since: datetime | None = None) -> int:
        """Put back in the queue every scored mention not scored by ``model_version``.

        Their current scores stay until the new ones are written (the roll-ups then move
        each mention from its old label to its new one). Returns how many were queued.
        """
        query: Document = {
            "score_state": SCORED,
            "sentiment.model_version": {"$ne": model_version},
        }
        if since is not None:
            query["created_at"] = {"$gte": since}
        result = await self._db.mentions.update_many(query, {"$set": {"score_state": PENDING}})
        return result.modified_count

    async def waiting(self, brand: str | None = None) -> int:
        """How many mentions (of a brand, or of all) wait for the scorer."""
        query: Document = {"score_state": {"$in": [PENDING, CLAIMED]}}
        if brand is not None:
            query["brand"] = {"$eq": brand}
        return await self._db.mentions.count_documents(query)
