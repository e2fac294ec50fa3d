"""All of Goodwill's MongoDB access: collections, indexes and every query.

Nothing else talks to MongoDB. The driver is PyMongo's async client (the official
successor of motor). One ``Store`` per process, opened at start-up and closed at
shutdown; closing twice is harmless.

The embedded server (SecantusDB) lacks text indexes, ``$where``/``$function`` and
index-served sorts; the queries here avoid them, so they run the same on MongoDB.
"""

from __future__ import annotations

import functools
import inspect
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from goodwill.errors import StoreError
from goodwill.identity import author_handle_key, erasure_hash, identity_key
from goodwill.models import Mention, Sentiment, SentimentLabel, utcnow
from goodwill.rollups import INFLIGHT_LEASE, Key, RebuildStats, Rollups, day_of, key_of

__all__ = ["CORRECTION_KINDS", "Claim", "Coverage", "CursorState", "Store", "UpsertResult"]

Document = dict[str, Any]
_P = ParamSpec("_P")
_T = TypeVar("_T")
_S = TypeVar("_S")

# Score states of a mention: collected, not yet scored -> claimed by a worker -> scored.
PENDING = "pending"
CLAIMED = "claimed"
SCORED = "scored"
SKIPPED = "skipped"  # not scored, on purpose (e.g. not English); the mention says why

_INDEXES: dict[str, list[IndexModel]] = {
    "mentions": [
        IndexModel(
            [("source", ASCENDING), ("external_id", ASCENDING)], unique=True, name="natural_key"
        ),
        IndexModel([("brand", ASCENDING), ("created_at", DESCENDING)], name="brand_time"),
        IndexModel([("score_state", ASCENDING), ("claim.expires", ASCENDING)], name="score_queue"),
        IndexModel(
            [("fingerprint", ASCENDING), ("sentiment.model_version", ASCENDING)], name="fingerprint"
        ),
        IndexModel([("author.id", ASCENDING), ("source", ASCENDING)], name="author"),
        # The dashboard's feed and complaints queue across brands: read newest day first.
        IndexModel([("created_at", DESCENDING)], name="created"),
        # A profile's mentions (counts, advocacy, merges; goodwill/profiles.py).
        IndexModel([("profile_id", ASCENDING)], name="profile"),
        # The alert engine's cursor: complaints in the order they were scored.
        IndexModel(
            [("complaint.is_complaint", ASCENDING), ("scored_at", ASCENDING)],
            name="complaint_scored",
        ),
    ],
    "profiles": [
        IndexModel([("identities.key", ASCENDING)], name="identity"),
        IndexModel([("identities.handle_key", ASCENDING)], name="handle"),
        IndexModel([("emails", ASCENDING)], name="emails"),
        IndexModel([("crm_id", ASCENDING)], name="crm_id"),
    ],
    "advocacy": [
        IndexModel([("brand", ASCENDING), ("score", DESCENDING)], name="brand_score"),
        IndexModel([("profile_id", ASCENDING)], name="profile"),
        IndexModel([("tier_changed_at", DESCENDING)], name="tier_changed"),
    ],
    "merges": [
        IndexModel([("absorbed", ASCENDING)], name="absorbed"),
        IndexModel([("into", ASCENDING)], name="into"),
    ],
    "cursors": [
        IndexModel([("brand", ASCENDING), ("source", ASCENDING)], unique=True, name="brand_source"),
    ],
    "alerts": [
        IndexModel([("dedupe_key", ASCENDING)], unique=True, name="dedupe_key"),
        IndexModel([("created_at", DESCENDING)], name="created"),
        # Each destination's delivery queue, oldest first; group messages name their members.
        IndexModel(
            [("destination", ASCENDING), ("state", ASCENDING), ("created_at", ASCENDING)],
            name="queue",
        ),
        IndexModel([("members", ASCENDING)], name="members", sparse=True),
    ],
    "dead_letters": [
        IndexModel([("source", ASCENDING), ("received_at", DESCENDING)], name="source_time"),
    ],
    "rollups": [
        IndexModel(
            [("brand", ASCENDING), ("day", ASCENDING), ("source", ASCENDING)],
            unique=True,
            name="brand_day_source",
        ),
        # Batches a scorer began and never committed (goodwill/rollups.py).
        IndexModel([("inflight.expires", ASCENDING)], name="inflight", sparse=True),
    ],
    # Advocacy refreshes a scorer owes (goodwill/profiles.py, ProfileStore.journal_refresh).
    "refresh_journal": [IndexModel([("expires", ASCENDING)], name="expires")],
    "corrections": [
        IndexModel([("mention_id", ASCENDING), ("at", DESCENDING)], name="mention_time"),
        IndexModel([("at", DESCENDING)], name="at"),
    ],
}


@dataclass(frozen=True)
class UpsertResult:
    """What a bulk upsert of mentions did."""

    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class Claim:
    """A batch of mentions claimed for scoring by one worker until ``expires``."""

    token: str
    expires: datetime
    mentions: list[Document]


@dataclass(frozen=True)
class Coverage:
    """What one or more pages of a source brought: the honest account of a collection.

    ``fetched`` items came from the source; ``matched`` passed the brand's query and
    ``dropped`` did not; ``stored`` were new to the database; ``dead_lettered`` could
    not be parsed.
    """

    fetched: int = 0
    matched: int = 0
    dropped: int = 0
    stored: int = 0
    dead_lettered: int = 0

    def increments(self) -> dict[str, int]:
        """The counters as ``$inc`` fields of a cursor document."""
        return {f"coverage.{name}": value for name, value in vars(self).items() if value}


@dataclass(frozen=True)
class CursorState:
    """Where collection of one brand x source stands."""

    brand: str
    source: str
    cursor: Any
    last_success: datetime | None
    last_error: str | None
    collected: int
    failures: int = 0
    paused_until: datetime | None = None
    coverage: Coverage = field(default_factory=Coverage)
    gaps: tuple[Document, ...] = ()

    @property
    def state(self) -> str:
        """``paused`` (after failures, until ``paused_until``), ``failing``, ``ok`` or ``new``."""
        if self.paused_until is not None and self.paused_until > utcnow():
            return "paused"
        if self.last_error:
            return "failing"
        return "ok" if self.last_success else "new"


def _cursor_state(doc: Document) -> CursorState:
    coverage = doc.get("coverage") or {}
    return CursorState(
        brand=doc["brand"],
        source=doc["source"],
        cursor=doc.get("cursor"),
        last_success=doc.get("last_success"),
        last_error=doc.get("last_error"),
        collected=int(doc.get("collected", 0)),
        failures=int(doc.get("failures", 0)),
        paused_until=doc.get("paused_until"),
        coverage=Coverage(**{name: int(coverage.get(name, 0)) for name in vars(Coverage())}),
        gaps=tuple(doc.get("gaps") or ()),
    )


def _author_hashes(mention: Mention) -> set[str]:
    """Erasure hashes of a mention author's identity key and handle key (none if no author)."""
    author = mention.author.model_dump()
    keys = {identity_key(mention.source, author), author_handle_key(mention.source, author)}
    return {erasure_hash(key) for key in keys if key is not None}


def _translating_errors(cls: type[_S]) -> type[_S]:
    """Make every public coroutine of ``cls`` raise ``StoreError`` instead of driver errors.

    Callers then handle one error type ("the database is unreachable or refused"),
    and the driver stays an implementation detail of this module.
    """
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(method):
            continue
        setattr(cls, name, _translated(method))
    return cls


def _translated(method: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
    @functools.wraps(method)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await method(*args, **kwargs)
        except StoreError:
            raise
        except PyMongoError as error:
            raise StoreError(
                f"Database operation {method.__name__} failed: {error.__class__.__name__}: {error}"
            ) from error

    return wrapper


@_translating_errors
class Store:
    """The MongoDB store. Create with ``Store.open(uri, database)``.

    Every public method raises ``StoreError`` (never a driver error) when the database
    is unreachable or refuses the operation.
    """

    def __init__(self, client: AsyncMongoClient[Document], database: str) -> None:
        self._client = client
        self._db: AsyncDatabase[Document] = client[database]
        self._rollups = Rollups(self._db.rollups, self._db.mentions)
        self._closed = False

    @classmethod
    async def open(cls, uri: str, database: str, *, timeout_ms: int = 5000) -> Store:
        """Connect, check the server answers, and create indexes (idempotent)."""
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, tz_aware=True
        )
        store = cls(client, database)
        try:
            await store.ping()
            await store.ensure_indexes()
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        """Close the client; harmless when already closed."""
        if not self._closed:
            self._closed = True
            await self._client.close()

    def collection(self, name: str) -> AsyncCollection[Document]:
        """One of Goodwill's collections, by name (for the store's own modules and tests)."""
        return self._db[name]

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the server answers."""
        try:
            await self._client.admin.command("ping")
        except PyMongoError as error:
            raise StoreError(
                f"The database at {_redact(self._client)} does not answer ({error.__class__.__name__}). "
                "Start it with `goodwill db start`, or check GOODWILL_MONGODB_URI."
            ) from error

    async def ensure_indexes(self) -> None:
        """Create every collection's indexes; running it again changes nothing."""
        try:
            for name, indexes in _INDEXES.items():
                await self._db[name].create_indexes(indexes)
        except PyMongoError as error:
            raise StoreError(f"Could not create indexes: {error}") from error

    # -- mentions ----------------------------------------------------------------------

    async def upsert_mentions(self, mentions: Sequence[Mention]) -> UpsertResult:
        """Insert new mentions, refresh engagement of known ones; never duplicates.

        A mention's text, author and score are kept as first collected; what changes
        on a re-collection is its engagement, title and raw payload. A mention by an
        erased person (its author's key hashed in ``erasures``) is stored without its
        author and raw payload, and marked ``erased``.
        """
        if not mentions:
            return UpsertResult(0, 0, 0)
        now = utcnow()
        # An erased person's author fields are never stored again (goodwill/rights.py).
        hashes = [_author_hashes(mention) for mention in mentions]
        erased: set[str] = set()
        if wanted := sorted(set[str]().union(*hashes)):
            async for found in self._db.erasures.find(
                {"identity_hashes": {"$in": wanted}}, {"identity_hashes": 1}
            ):
                erased.update(found.get("identity_hashes") or [])
        ops = []
        for mention, author_hashes in zip(mentions, hashes, strict=True):
            doc = mention.model_dump(mode="python")
            key = {"source": doc.pop("source"), "external_id": doc.pop("external_id")}
            refreshed = {name: doc.pop(name) for name in ("engagement", "title", "raw")}
            if author_hashes & erased:
                del doc["author"], refreshed["raw"]
                # A title erased with its post's text is not brought back by a re-collection.
                doc.update(erased=True, title=refreshed.pop("title"))
            doc.update(
                fingerprint=mention.fingerprint,
                collected_at=now,
                score_state=PENDING,
            )
            ops.append(UpdateOne(key, {"$setOnInsert": doc, "$set": refreshed}, upsert=True))
        try:
            result = await self._db.mentions.bulk_write(ops, ordered=False)
        except BulkWriteError as error:
            raise StoreError(f"Bulk upsert of mentions failed: {error.details}") from error
        except PyMongoError as error:
            raise StoreError(f"Bulk upsert of mentions failed: {error}") from error
        inserted = result.upserted_count
        updated = result.modified_count
        return UpsertResult(inserted, updated, len(mentions) - inserted - updated)

    async def mention(self, mention_id: object) -> Document | None:
        """One mention by its id (an ObjectId or its 24 hex digits), without its raw payload.

        ``None`` for an unknown or malformed id: the id is matched literally, never as an operator.
        """
        try:
            oid = _object_id(mention_id)
        except ValueError:
            return None
        return await self._db.mentions.find_one({"_id": {"$eq": oid}}, {"raw": 0, "claim": 0})

    async def count_mentions(self, query: Document | None = None) -> int:
        """How many mentions match ``query`` (all by default)."""
        return await self._db.mentions.count_documents(query or {})

    async def brands(self) -> list[str]:
        """Every brand with at least one mention or roll-up."""
        names = set(await self._db.rollups.distinct("brand"))
        names.update(await self._db.mentions.distinct("brand"))
        return sorted(names)

    # -- scoring queue ------------------------------------------------------------------

    async def claim_unscored(self, owner: str, *, limit: int, lease: timedelta) -> Claim:
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

    async def requeue_for_rescoring(
        self, model_version: str, *, since: datetime | None = None
    ) -> int:
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

    async def save_scores(
        self,
        claim: Claim,
        scores: dict[Any, Sentiment],
        complaints: dict[Any, Document] | None = None,
        *,
        lease: timedelta = INFLIGHT_LEASE,
    ) -> int:
        """Write the sentiments (and complaint verdicts) of a claimed batch; update the roll-ups.

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
        for mention_id, sentiment in scores.items():
            fields: Document = {
                "score_state": SCORED,
                "sentiment": sentiment.model_dump(mode="python"),
                "scored_at": now,
                "scored_by": claim.token,
            }
            if mention_id in complaints:
                fields["complaint"] = complaints[mention_id]
            ops.append(
                UpdateOne(
                    {"_id": mention_id, "claim.token": claim.token, "claim.expires": {"$gt": now}},
                    {"$set": fields, "$unset": {"claim": ""}},
                )
            )
        if not ops:
            return 0
        keys = {key_of(by_id[mention_id]) for mention_id in scores}
        await self._rollups.begin(claim.token, keys, now + lease)
        await self._db.mentions.bulk_write(ops, ordered=False)
        written = [
            doc["_id"]
            async for doc in self._db.mentions.find(
                {"_id": {"$in": list(scores)}, "scored_by": claim.token}, {"_id": 1}
            )
        ]
        increments: dict[Key, dict[str, int]] = {key: {} for key in keys}
        for mention_id in written:
            doc = by_id[mention_id]
            counts = increments[key_of(doc)]
            complaint = complaints.get(mention_id, doc.get("complaint"))
            old = doc.get("sentiment")
            if old is None:
                counts["total"] = counts.get("total", 0) + 1
            else:
                counts[old["label"]] = counts.get(old["label"], 0) - 1
            new = scores[mention_id].label.value
            counts[new] = counts.get(new, 0) + 1
            was = bool((doc.get("complaint") or {}).get("is_complaint"))
            now_complaint = bool((complaint or {}).get("is_complaint"))
            counts["complaints"] = counts.get("complaints", 0) + int(now_complaint) - int(was)
        await self._rollups.commit(claim.token, increments)
        return len(written)

    async def renew_claim(self, claim: Claim, lease: timedelta) -> datetime:
        """Extend a claim that is still this worker's by ``lease`` from now; returns the new end."""
        expires = utcnow() + lease
        await self._db.mentions.update_many(
            {"_id": {"$in": [doc["_id"] for doc in claim.mentions]}, "claim.token": claim.token},
            {"$set": {"claim.expires": expires}},
        )
        return expires

    async def release_claim(self, claim: Claim) -> int:
        """Give back what is left of a claim (a worker stopping): the mentions wait again."""
        result = await self._db.mentions.update_many(
            {"_id": {"$in": [doc["_id"] for doc in claim.mentions]}, "claim.token": claim.token},
            {"$set": {"score_state": PENDING}, "$unset": {"claim": ""}},
        )
        return result.modified_count

    async def repair_rollups(self, now: datetime | None = None) -> RebuildStats:
        """Recount the roll-ups a dead scorer left half-written (see ``goodwill/rollups.py``)."""
        return await self._rollups.repair(now)

    async def rebuild_rollups(
        self, progress: Callable[[int, int], None] | None = None
    ) -> RebuildStats:
        """Recount every day's roll-ups from the scored mentions; ``progress(done, days)``."""
        return await self._rollups.rebuild(progress)

    async def skip_unscorable(self, claim: Claim, reasons: dict[Any, Document]) -> int:
        """Mark claimed mentions that will not be scored (another language), with why.

        They leave the queue (state ``skipped``) without a sentiment, and the roll-ups,
        which count scored mentions, do not count them.
        """
        if not reasons:
            return 0
        ops = [
            UpdateOne(
                {"_id": mention_id, "claim.token": claim.token},
                {
                    "$set": {"score_state": SKIPPED, "skipped": reason, "scored_at": utcnow()},
                    "$unset": {"claim": ""},
                },
            )
            for mention_id, reason in reasons.items()
        ]
        result = await self._db.mentions.bulk_write(ops, ordered=False)
        return result.modified_count

    # -- cursors ------------------------------------------------------------------------

    async def get_cursor(self, brand: str, source: str) -> CursorState:
        """Where collection of ``brand`` x ``source`` stands (empty before the first run)."""
        doc = await self._db.cursors.find_one({"brand": brand, "source": source})
        return _cursor_state(doc or {"brand": brand, "source": source})

    async def record_success(
        self, brand: str, source: str, cursor: Any, collected: int, coverage: Coverage | None = None
    ) -> None:
        """Save the new cursor after a page was stored, with what the page brought."""
        counts = coverage or Coverage(stored=collected)
        await self._db.cursors.update_one(
            {"brand": brand, "source": source},
            {
                "$set": {
                    "cursor": cursor,
                    "last_success": utcnow(),
                    "last_error": None,
                    "failures": 0,
                    "paused_until": None,
                },
                "$inc": {"collected": collected, **counts.increments()},
            },
            upsert=True,
        )

    async def record_error(
        self,
        brand: str,
        source: str,
        message: str,
        *,
        retry_in: timedelta | None = None,
        gap_since: datetime | None = None,
    ) -> CursorState:
        """Remember a failed run of ``brand`` x ``source``, keeping its cursor.

        ``retry_in`` pauses the job until then (a source that keeps failing is not
        hammered). ``gap_since`` records a window that could not be read, so coverage
        reports show it.
        """
        now = utcnow()
        update: Document = {
            "$set": {
                "last_error": message,
                "last_error_at": now,
                "paused_until": now + retry_in if retry_in else None,
            },
            "$inc": {"failures": 1},
        }
        if gap_since is not None:
            update["$push"] = {
                "gaps": {
                    "$each": [{"from": gap_since, "to": now, "reason": message[:300]}],
                    "$slice": -50,
                }
            }
        doc = await self._db.cursors.find_one_and_update(
            {"brand": brand, "source": source},
            update,
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return _cursor_state(doc or {"brand": brand, "source": source})

    async def acquire_job(self, brand: str, source: str, owner: str, lease: timedelta) -> bool:
        """Take the lease on ``brand`` x ``source`` so no other runner process runs it meanwhile.

        True when this owner holds it now; False when another live owner does, or the
        job is paused after failures.
        """
        now = utcnow()
        key = {"brand": brand, "source": source}
        await self._db.cursors.update_one(key, {"$setOnInsert": {"collected": 0}}, upsert=True)
        result = await self._db.cursors.update_one(
            {
                **key,
                "$and": [
                    {
                        "$or": [
                            {"lease": None},
                            {"lease.expires": {"$lt": now}},
                            {"lease.owner": owner},
                        ]
                    },
                    {"$or": [{"paused_until": None}, {"paused_until": {"$lte": now}}]},
                ],
            },
            {"$set": {"lease": {"owner": owner, "expires": now + lease}}},
        )
        return result.modified_count == 1

    async def release_job(self, brand: str, source: str, owner: str) -> None:
        """Give up the lease on ``brand`` x ``source`` if this owner holds it."""
        await self._db.cursors.update_one(
            {"brand": brand, "source": source, "lease.owner": owner}, {"$set": {"lease": None}}
        )

    async def cursors(self) -> list[CursorState]:
        """Every brand x source that has run."""
        cursor = self._db.cursors.find({}).sort([("brand", ASCENDING), ("source", ASCENDING)])
        return [_cursor_state(doc) async for doc in cursor]

    # -- dead letters -------------------------------------------------------------------

    async def dead_letter(
        self, source: str, reason: str, payload: Any, *, brand: str | None = None
    ) -> None:
        """Keep a payload that could not be parsed, with why, for a later re-parse."""
        await self._db.dead_letters.insert_one(
            {
                "source": source,
                "brand": brand,
                "reason": reason,
                "payload": payload,
                "received_at": utcnow(),
            }
        )

    # -- dashboard queries --

    async def rollup_window(self, brand: str, since: datetime, until: datetime) -> list[Document]:
        """One brand's daily roll-ups for the days in ``[since, until)``, oldest first.

        One document per day x source, with the counts ``total``, ``negative``,
        ``neutral`` and ``positive`` (a count the scorer never touched is absent).
        """
        query: Document = {"brand": {"$eq": brand}, "day": {"$gte": day_of(since), "$lt": until}}
        cursor = self._db.rollups.find(query, {"_id": 0, "inflight": 0, "v": 0})
        return sorted([doc async for doc in cursor], key=lambda doc: (doc["day"], doc["source"]))

    async def feed(
        self,
        *,
        brand: str | None = None,
        source: str | None = None,
        sentiment: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        contains: str | None = None,
        complaint: bool | None = None,
        language: str | None = None,
        author: str | None = None,
        skip: int = 0,
        limit: int = 25,
    ) -> list[Document]:
        """One page of mentions matching the filters, newest first (raw payloads left out).

        ``sentiment`` is a label or ``"unscored"``; ``contains`` is a literal,
        case-insensitive substring of the text. See ``_feed_query`` and ``_narrowed``.
        """
        query = _narrowed(
            self._feed_query(brand, source, sentiment, None, None, contains),
            complaint,
            language,
            author,
        )
        return await self._newest_first(query, since, until, skip, limit)

    async def _newest_first(
        self,
        query: Document,
        since: datetime | None,
        until: datetime | None,
        skip: int,
        limit: int,
    ) -> list[Document]:
        """Mentions ``skip`` to ``skip + limit`` matching ``query`` in ``[since, until)``, newest first.

        The embedded server sorts without its indexes, so one sorted query would read
        and sort every match. This reads period by period (see ``_periods``), each a
        ``created_at`` range of an index, until the page is full: the first pages of a
        million mentions cost a day's worth. Ties on ``created_at`` never straddle two
        periods (each is a half-open range of it), so the order is one sorted query's.
        """
        wanted = max(skip, 0) + max(limit, 0)
        if limit <= 0:
            return []
        found: list[Document] = []
        for bounds in _periods(since, until):
            cursor = (
                self._db.mentions.find(_in_period(query, bounds), {"raw": 0, "claim": 0})
                .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
                .limit(wanted - len(found))
            )
            found.extend([doc async for doc in cursor])
            if len(found) >= wanted:
                break
        return found[max(skip, 0) : wanted]

    async def feed_count(
        self,
        *,
        brand: str | None = None,
        source: str | None = None,
        sentiment: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        contains: str | None = None,
        complaint: bool | None = None,
        language: str | None = None,
        author: str | None = None,
        cap: int | None = None,
    ) -> int:
        """How many mentions ``feed`` would page through, counting no further than ``cap``."""
        query = _narrowed(
            self._feed_query(brand, source, sentiment, None, None, contains),
            complaint,
            language,
            author,
        )
        if cap is None:
            window = self._feed_query(None, None, None, since, until, None)
            return await self._db.mentions.count_documents({**query, **window})
        counted = 0
        for bounds in _periods(since, until):  # newest first, so a cap stops early
            counted += await self._db.mentions.count_documents(
                _in_period(query, bounds), limit=cap - counted
            )
            if counted >= cap:
                break
        return min(counted, cap)

    async def sources_for(self, brand: str | None = None) -> list[str]:
        """The sources a brand (or any brand) has been collected from or scored on.

        Read from the small ``cursors`` and ``rollups`` collections, never a scan of mentions.
        """
        query: Document = {} if brand is None else {"brand": {"$eq": brand}}
        names = set(await self._db.cursors.distinct("source", query))
        names.update(await self._db.rollups.distinct("source", query))
        return sorted(name for name in names if isinstance(name, str))

    async def unscored_count(self, brand: str | None = None) -> int:
        """How many mentions (of a brand, or of all) wait for the scorer."""
        query: Document = {"score_state": {"$in": [PENDING, CLAIMED]}}
        if brand is not None:
            query["brand"] = {"$eq": brand}
        return await self._db.mentions.count_documents(query)

    @staticmethod
    def _feed_query(
        brand: str | None,
        source: str | None,
        sentiment: str | None,
        since: datetime | None,
        until: datetime | None,
        contains: str | None,
    ) -> Document:
        """The feed's filter; every value goes in as a literal, never as an operator.

        The text search is an escaped, case-insensitive ``$regex`` (the embedded server
        has no text indexes), so ``.*`` or ``{"$where": "1"}`` match only themselves.
        """

        query: Document = {}
        if brand is not None:
            query["brand"] = {"$eq": str(brand)}
        if source is not None:
            query["source"] = {"$eq": str(source)}
        if sentiment == "unscored":
            query["score_state"] = {"$in": [PENDING, CLAIMED]}
        elif sentiment is not None:
            query["sentiment.label"] = {"$eq": str(sentiment)}
        window: Document = {}
        if since is not None:
            window["$gte"] = since
        if until is not None:
            window["$lt"] = until
        if window:
            query["created_at"] = window
        if contains:
            query["text"] = {"$regex": re.escape(str(contains)), "$options": "i"}
        return query

    # -- corrections --

    async def correct(
        self,
        mention_id: str | ObjectId,
        *,
        sentiment: str | None = None,
        complaint: bool | None = None,
        kind: str | None = None,
        by: str,
        note: str | None = None,
    ) -> None:
        """Record a person's correction of a mention's labels.

        Adds a document to ``corrections`` (the history: every correction is kept, with
        the mention's text and what the model had said) and replaces the mention's
        ``correction`` with ``{sentiment, complaint, kind, by, at}``. A ``None`` value is
        "not judged". ``complaint`` left out follows from ``kind``; ``complaint=True``
        without a kind means kind ``complaint``. The model's own fields are not changed.

        Raises:
            ValueError: a malformed or unknown mention id, a sentiment or kind outside its
                set, a kind that contradicts ``complaint``, nothing corrected, no name.
        """
        oid = _object_id(mention_id)
        sentiment, complaint, kind = _correction_values(sentiment, complaint, kind)
        who = by.strip() if isinstance(by, str) else ""
        if not who:
            raise ValueError("A correction needs the name of who made it.")
        if len(who) > _MAX_NAME:
            raise ValueError(f"A name is at most {_MAX_NAME} characters.")
        if note is not None and not isinstance(note, str):
            raise ValueError("A note is text.")
        note = (note or "").strip() or None
        if note is not None and len(note) > _MAX_NOTE:
            raise ValueError(f"A note is at most {_MAX_NOTE} characters.")
        mention = await self._db.mentions.find_one(
            {"_id": oid}, {"text": 1, "brand": 1, "source": 1, "sentiment": 1, "complaint": 1}
        )
        if mention is None:
            raise ValueError(f"No mention has the id {oid}; it may have been erased.")
        model = mention.get("sentiment") or {}
        verdict = mention.get("complaint") or {}
        at = utcnow()
        await self._db.corrections.insert_one(
            {
                "mention_id": oid,
                "text": mention.get("text", ""),
                "brand": mention.get("brand"),
                "source": mention.get("source"),
                "model_version": model.get("model_version"),
                "model_label": model.get("label"),
                "model_complaint": verdict.get("is_complaint"),
                "model_kind": verdict.get("kind"),
                "sentiment": sentiment,
                "complaint": complaint,
                "kind": kind,
                "by": who,
                "note": note,
                "at": at,
            }
        )
        await self._db.mentions.update_one(
            {"_id": oid},
            {
                "$set": {
                    "correction": {
                        "sentiment": sentiment,
                        "complaint": complaint,
                        "kind": kind,
                        "by": who,
                        "at": at,
                    }
                }
            },
        )

    async def corrections(
        self, *, limit: int = 100, since: datetime | None = None
    ) -> list[Document]:
        """The correction history, newest first: at most ``limit``, made at or after ``since``."""
        if limit <= 0:
            return []
        query: Document = {} if since is None else {"at": {"$gte": since}}
        cursor = (
            self._db.corrections.find(query, {"_id": 0})
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def latest_corrections(self) -> list[Document]:
        """The latest correction of each corrected mention, newest first (for evaluation and training)."""
        latest: dict[Any, Document] = {}
        # Oldest first, so each mention ends on its latest. Done here rather than with
        # $sort + $group/$first: corrections are few (people make them one by one).
        cursor = self._db.corrections.find({}).sort([("at", ASCENDING), ("_id", ASCENDING)])
        async for doc in cursor:
            latest[doc["mention_id"]] = doc
        ordered = sorted(latest.values(), key=lambda doc: (doc["at"], doc["_id"]), reverse=True)
        for doc in ordered:
            del doc["_id"]
        return ordered

    # -- complaints queue --

    # Its views, workflow actions and handling states (open -> acknowledged -> resolved).
    COMPLAINT_VIEWS = ("all", "unassigned", "mine", "overdue")
    COMPLAINT_ORDERS = ("newest", "value")
    VALUE_ORDER_DAYS = 30
    VALUE_ORDER_CAP = 1000
    COMPLAINT_ACTIONS = ("assign", "acknowledge", "resolve", "tag", "note")
    COMPLAINT_STATES = ("open", "acknowledged", "resolved")
    OVERDUE_AFTER = timedelta(hours=24)

    async def complaints_queue(
        self,
        brand: str | None = None,
        view: str = "all",
        by: str | None = None,
        now: datetime | None = None,
        skip: int = 0,
        limit: int = 25,
        order: str = "newest",
    ) -> list[Document]:
        """One page of open complaints (not resolved), raw payloads left out, each with
        ``customer`` (its author's profile: name, CRM value and tier) when known.

        ``view`` is one of ``Store.COMPLAINT_VIEWS``: ``all`` open ones, ``unassigned``, ``mine``
        (assigned to ``by``), or ``overdue`` (created more than 24 h before ``now``).
        ``order`` is ``newest`` (newest first) or ``value``: the open complaints of the last
        ``VALUE_ORDER_DAYS`` days (at most ``VALUE_ORDER_CAP`` of them, newest kept),
        highest customer value first and, at equal value, the longest waiting first.

        Raises:
            ValueError: an unknown view or order, or ``mine`` without a name.
        """
        if view not in self.COMPLAINT_VIEWS:
            raise ValueError(
                f"View must be one of {', '.join(self.COMPLAINT_VIEWS)}; got {view!r}."
            )
        if order not in self.COMPLAINT_ORDERS:
            raise ValueError(
                f"Order must be one of {', '.join(self.COMPLAINT_ORDERS)}; got {order!r}."
            )
        query: Document = {
            # ``$all: [True]`` is ``== True`` for a flag; written so because the embedded
            # server picks an index with an equality prefix (``complaint_scored``) over
            # the time indexes, and would read every complaint ever made for one page.
            "complaint.is_complaint": {"$all": [True]},
            "handling.state": {"$ne": "resolved"},
        }
        if brand is not None:
            query["brand"] = {"$eq": str(brand)}
        if view == "unassigned":
            query["handling.assignee"] = {"$in": [None, ""]}
        elif view == "mine":
            who = by.strip() if isinstance(by, str) else ""
            if not who:
                raise ValueError("The view 'mine' needs your name.")
            query["handling.assignee"] = {"$eq": who}
        until = None
        if view == "overdue":
            until = (now or utcnow()) - self.OVERDUE_AFTER
        if order == "newest":
            return await self._with_customers(
                await self._newest_first(query, None, until, skip, limit)
            )
        since = (now or utcnow()) - timedelta(days=self.VALUE_ORDER_DAYS)
        recent = await self._with_customers(
            await self._newest_first(query, since, until, 0, self.VALUE_ORDER_CAP)
        )
        recent.sort(
            key=lambda doc: (
                -float((doc.get("customer") or {}).get("value") or 0),
                doc["created_at"],
            )
        )
        return recent[max(skip, 0) : max(skip, 0) + max(limit, 0)]

    async def _with_customers(self, docs: list[Document]) -> list[Document]:
        """``docs`` each with ``customer``: their author's profile name, value and tier (one query)."""
        ids = sorted({doc["profile_id"] for doc in docs if doc.get("profile_id")})
        if not ids:
            return docs
        fields = {"display_name": 1, "value": 1, "tier": 1}
        people = {
            doc["_id"]: doc async for doc in self._db.profiles.find({"_id": {"$in": ids}}, fields)
        }
        for doc in docs:
            person = people.get(doc.get("profile_id"))
            if person is not None:
                doc["customer"] = {
                    "name": person.get("display_name"),
                    "value": person.get("value"),
                    "tier": person.get("tier"),
                }
        return docs

    async def handle_complaint(
        self, mention_id: str | ObjectId, action: str, by: str, value: str | None = None
    ) -> Document:
        """Apply one workflow action to a complaint and return its new ``handling``.

        Every action appends ``{action, by, at, value}`` to ``handling.history``.
        ``assign`` sets ``handling.assignee`` to ``value``; ``acknowledge`` and
        ``resolve`` move ``handling.state`` (open -> acknowledged -> resolved);
        ``tag`` adds ``value`` to ``handling.tags``; ``note`` records ``value`` only.
        Values are stored as literal strings, never read as operators.

        Raises:
            ValueError: an unknown action, a malformed id, no such complaint, a missing or
                too long name or value, or acknowledging a resolved complaint.
        """
        if not isinstance(action, str) or action not in self.COMPLAINT_ACTIONS:
            raise ValueError(
                f"Action must be one of {', '.join(self.COMPLAINT_ACTIONS)}; got {action!r}."
            )
        oid = _object_id(mention_id)
        who = by.strip() if isinstance(by, str) else ""
        if not who:
            raise ValueError("A complaint action needs the name of who takes it.")
        if len(who) > _MAX_NAME:
            raise ValueError(f"A name is at most {_MAX_NAME} characters.")
        if value is not None and not isinstance(value, str):
            raise ValueError("A value is text.")
        text = (value or "").strip() or None
        limit = _MAX_NOTE if action == "note" else _MAX_NAME
        if action in ("assign", "tag", "note") and text is None:
            raise ValueError(f"The action {action!r} needs a value.")
        if text is not None and len(text) > limit:
            raise ValueError(f"A value for {action!r} is at most {limit} characters.")
        if action in ("acknowledge", "resolve"):
            text = None
        found = await self._db.mentions.find_one(
            {"_id": oid, "complaint.is_complaint": {"$eq": True}}, {"handling": 1}
        )
        if found is None:
            raise ValueError(f"No complaint has the id {oid}; it may have been erased.")
        state = (found.get("handling") or {}).get("state") or "open"
        if action == "acknowledge":
            if state == "resolved":
                raise ValueError("This complaint is already resolved.")
            state = "acknowledged"
        elif action == "resolve":
            state = "resolved"
        entry: Document = {"action": action, "by": who, "at": utcnow(), "value": text}
        update: Document = {
            "$set": {"handling.state": state},
            "$push": {"handling.history": entry},
        }
        if action == "assign":
            update["$set"]["handling.assignee"] = text
        elif action == "tag":
            update["$addToSet"] = {"handling.tags": text}
        updated = await self._db.mentions.find_one_and_update(
            {"_id": oid},
            update,
            projection={"handling": 1},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise ValueError(f"No complaint has the id {oid}; it may have been erased.")
        handling: Document = updated.get("handling") or {}
        return handling


def _narrowed(
    query: Document, complaint: bool | None, language: str | None, author: str | None
) -> Document:
    """The feed's query with its complaint, language and author filters, all literals.

    ``language`` is a language code: ``en`` means the mentions the model scores (English),
    any other code the mentions skipped as being in that language. ``author`` is a handle
    (with or without ``@``), matched whole and case-insensitively as a literal string.
    """
    narrowed = dict(query)
    if complaint is True:
        narrowed["complaint.is_complaint"] = {"$all": [True]}  # see complaints_queue
    elif complaint is False:
        narrowed["complaint.is_complaint"] = {"$ne": True}
    if language:
        code = str(language).strip().casefold()
        if code == "en":
            narrowed.setdefault("score_state", {"$ne": SKIPPED})  # "unscored" already excludes it
        else:
            narrowed["skipped.language"] = {"$eq": code}
    if author and (handle := str(author).strip().lstrip("@")):
        narrowed["author.handle"] = {"$regex": f"^{re.escape(handle)}$", "$options": "i"}
    return narrowed


def _in_period(query: Document, bounds: Document) -> Document:
    """``query`` limited to the ``created_at`` range ``bounds``, written so the embedded
    server walks an index range rather than every mention of the brand.

    It walks ``brand_time`` only for exactly ``{brand: "<a string>", created_at: range}``;
    with any other condition beside the brand it would read all the brand's mentions.
    So the brand goes in bare when alone (a ``str``: a literal, never an operator) and
    as ``$all: [brand]`` otherwise (the same match), which leaves the ``created`` index
    to serve the range and the other conditions to filter it.
    """
    brand = query.get("brand")
    rest = {key: value for key, value in query.items() if key != "brand"}
    if isinstance(brand, dict) and set(brand) == {"$eq"} and isinstance(brand["$eq"], str):
        if not rest:
            return {"brand": brand["$eq"], "created_at": bounds}
        return {**rest, "brand": {"$all": [brand["$eq"]]}, "created_at": bounds}
    return {**query, "created_at": bounds}


def _periods(since: datetime | None, until: datetime | None) -> Iterator[Document]:
    """``created_at`` ranges covering ``[since, until)`` newest first: the last day, then
    periods four times longer each time, then (past a year) all that is older."""
    upper = until
    span = timedelta(days=1)
    lower: datetime | None = (until or utcnow()) - span
    while True:
        if since is not None and (lower is None or lower <= since):
            lower = since
        bounds: Document = {}
        if lower is not None:
            bounds["$gte"] = lower
        if upper is not None:
            bounds["$lt"] = upper
        yield bounds
        if lower is None or lower == since:
            return
        upper, span = lower, span * 4
        lower = None if span > timedelta(days=400) else upper - span


# Corrections: what people may say a mention is.
CORRECTION_KINDS: tuple[str, ...] = ("complaint", "negative_opinion", "question", "other")
_SENTIMENT_VALUES: tuple[str, ...] = tuple(label.value for label in SentimentLabel)
_MAX_NAME = 100
_MAX_NOTE = 2000


def _object_id(value: object) -> ObjectId:
    """A mention id given as an ObjectId or its 24 hex digits (as the dashboard has it)."""
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str):
        try:
            return ObjectId(value.strip())
        except InvalidId:
            pass
    raise ValueError(f"{value!r} is not a mention id (24 hexadecimal digits).")


def _correction_values(
    sentiment: object, complaint: object, kind: object
) -> tuple[str | None, bool | None, str | None]:
    """Checked (sentiment, complaint, kind) of a correction, the complaint flag and kind agreeing."""
    if sentiment is not None and (
        not isinstance(sentiment, str) or sentiment not in _SENTIMENT_VALUES
    ):
        raise ValueError(
            f"Sentiment must be one of {', '.join(_SENTIMENT_VALUES)}; got {sentiment!r}."
        )
    if kind is not None and (not isinstance(kind, str) or kind not in CORRECTION_KINDS):
        raise ValueError(f"Kind must be one of {', '.join(CORRECTION_KINDS)}; got {kind!r}.")
    if complaint is not None and not isinstance(complaint, bool):
        raise ValueError(f"Complaint must be true or false; got {complaint!r}.")
    if complaint is None and kind is not None:
        complaint = kind == "complaint"
    elif complaint is True and kind is None:
        kind = "complaint"
    elif kind is not None and complaint != (kind == "complaint"):
        raise ValueError(
            f"A post of kind {kind!r} is "
            + ("not a complaint" if complaint else "a complaint")
            + "; choose a kind that agrees with the complaint flag."
        )
    if sentiment is None and complaint is None:
        raise ValueError("A correction needs a sentiment, a complaint verdict or a kind.")
    return (
        None if sentiment is None else SentimentLabel(sentiment).value,
        complaint,
        None if kind is None else str(kind),
    )


def _redact(client: AsyncMongoClient[Document]) -> str:
    """host:port of the client's seeds, never its credentials."""
    return ", ".join(
        f"{host}:{port}" for host, port in client.topology_description.server_descriptions()
    )
