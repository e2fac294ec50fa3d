"""Mentions as collected: the bulk upsert that never duplicates, and reading them back.

A post is one mention per brand it is collected for: the natural key is (source,
external id, brand), so "switched from Acme to Globex" counts for both brands when both
are watched. A post its author deleted (``deleted_posts``, written by ``remove_deleted``)
is never stored again; an edited post gets its new text (and star rating) and is scored
again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bson
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DocumentTooLarge, PyMongoError

from goodwill.errors import InvalidRequest, StoreError
from goodwill.identity import author_handle_key, erasure_hash, identity_key
from goodwill.models import Mention, utcnow
from store._common import Document, object_id, translating_errors
from store.queue import CLAIMED, PENDING, SCORED, SKIPPED
from store.rollups import UNSCORED, category_name, counted_of, stars_of

__all__ = ["INDEXES", "MAX_MENTION_BYTES", "MAX_TEXT_CHARS", "Mentions", "UpsertResult"]

INDEXES: dict[str, list[IndexModel]] = {
    "mentions": [
        IndexModel(
            [("source", ASCENDING), ("external_id", ASCENDING), ("brand", ASCENDING)],
            unique=True,
            name="natural_key",
        ),
        IndexModel([("brand", ASCENDING), ("created_at", DESCENDING)], name="brand_time"),
        IndexModel([("score_state", ASCENDING), ("claim.expires", ASCENDING)], name="score_queue"),
        IndexModel(
            [("fingerprint", ASCENDING), ("sentiment.model_version", ASCENDING)], name="fingerprint"
        ),
        IndexModel([("author.id", ASCENDING), ("source", ASCENDING)], name="author"),
        # The dashboard's feed and complaints queue across brands: read newest day first.
        IndexModel([("created_at", DESCENDING)], name="created"),
        # A profile's mentions (counts, advocacy, merges; customers/profiles.py).
        IndexModel([("profile_id", ASCENDING)], name="profile"),
        # The alert engine's cursor: complaints in the order they were scored.
        IndexModel(
            [("counted.complaint", ASCENDING), ("scored_at", ASCENDING)],
            name="complaint_scored",
        ),
        # ... and posts a person marked a complaint after they were scored, in the order
        # they were marked. Sparse: only corrected mentions have an entry.
        IndexModel(
            [("correction.complaint", ASCENDING), ("correction.at", ASCENDING)],
            name="complaint_corrected",
            sparse=True,
        ),
    ],
    # Posts their authors deleted (``_id``: "source|external id"): never stored again.
    "deleted_posts": [IndexModel([("at", DESCENDING)], name="at")],
}


@dataclass(frozen=True)
class UpsertResult:
    """What a bulk upsert of mentions did."""

    inserted: int
    updated: int
    unchanged: int


#: The largest mention stored whole: MongoDB refuses documents over 16 MiB, and a bulk
#: write with one such document fails whole. Leaves room for the scores added later.
MAX_MENTION_BYTES = 8 * 1024 * 1024
#: What is kept of a text too long to store whole (characters).
MAX_TEXT_CHARS = 100_000


def _fit(doc: Document, refreshed: Document) -> None:
    """Make an oversize mention storable: drop its raw payload, then cut its text and title.

    The mention is marked ``oversize`` with what was cut, so nothing is lost silently.
    """
    if len(bson.encode({**doc, **refreshed})) <= MAX_MENTION_BYTES:
        return
    cut: list[str] = []
    if refreshed.get("raw"):
        refreshed["raw"] = {}
        cut.append("raw payload")
    for name, holder in (("text", doc), ("title", refreshed)):
        value = holder.get(name)
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            holder[name] = value[:MAX_TEXT_CHARS]
            cut.append(f"{name} after {MAX_TEXT_CHARS:,} characters")
    for name in ("author", "engagement"):  # a payload's odd fields, never needed to count
        if name in doc and len(bson.encode({name: doc[name]})) > MAX_MENTION_BYTES // 4:
            doc[name] = {}
            cut.append(name)
    doc["oversize"] = cut


# Set once every mention scored by an older Goodwill has its ``counted`` verdict.
_COUNTED_MARKER = "mentions-counted-v1"
_STARS_MARKER = "mentions-counted-stars-v1"
_CATEGORIES_MARKER = "mentions-counted-categories-v1"


def _too_large(error: BulkWriteError) -> bool:
    """Whether a bulk write failed only on documents over the server's size limit."""
    failures = error.details.get("writeErrors") or []
    return bool(failures) and all(
        item.get("code") in _TOO_LARGE or "too large" in str(item.get("errmsg", "")).lower()
        for item in failures
    )


# Server codes for a document over the size limit (BSONObjectTooLarge, and too large after
# an update).
_TOO_LARGE = frozenset({10334, 17419, 17420})


def _post_id(source: str, external_id: str) -> str:
    """A post's id across brands: its source and its id there."""
    return f"{source}|{external_id}"


def _author_hashes(mention: Mention) -> set[str]:
    """Erasure hashes of a mention author's identity key and handle key (none if no author)."""
    author = mention.author.model_dump()
    keys = {identity_key(mention.source, author), author_handle_key(mention.source, author)}
    return {erasure_hash(key) for key in keys if key is not None}


@translating_errors
class Mentions:
    """The ``mentions`` collection: one document per (source, external id, brand)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def upsert(self, mentions: Sequence[Mention]) -> UpsertResult:
        """Insert new mentions, refresh engagement of known ones; never duplicates.

        A mention's text, author and score are kept as first collected; what changes
        on a re-collection is its engagement (when the source gives one: a source that
        sees no engagement never blanks another's), title and raw payload. A mention by an
        erased person (its author's key hashed in ``erasures``) is stored without its
        author and raw payload, and marked ``erased``. A post its author deleted is not
        stored (it counts as unchanged).
        """
        if not mentions:
            return UpsertResult(0, 0, 0)
        now = utcnow()
        gone = await self._deleted_ids(mentions)
        kept = [m for m in mentions if _post_id(m.source, m.external_id) not in gone]
        result = await self._upsert(kept, now)
        return UpsertResult(
            result.inserted, result.updated, len(mentions) - result.inserted - result.updated
        )

    async def _deleted_ids(self, mentions: Sequence[Mention]) -> set[str]:
        wanted = sorted({_post_id(m.source, m.external_id) for m in mentions})
        cursor = self._db.deleted_posts.find({"_id": {"$in": wanted}}, {"_id": 1})
        return {doc["_id"] async for doc in cursor}

    async def _upsert(self, mentions: Sequence[Mention], now: datetime) -> UpsertResult:
        if not mentions:
            return UpsertResult(0, 0, 0)
        # An erased person's author fields are never stored again (customers/rights.py).
        hashes = [_author_hashes(mention) for mention in mentions]
        erased: set[str] = set()
        if wanted := sorted(set[str]().union(*hashes)):
            async for found in self._db.erasures.find(
                {"identity_hashes": {"$in": wanted}}, {"identity_hashes": 1}
            ):
                erased.update(found.get("identity_hashes") or [])
        documents = []
        for mention, author_hashes in zip(mentions, hashes, strict=True):
            doc = mention.model_dump(mode="python")
            key = {
                "source": doc.pop("source"),
                "external_id": doc.pop("external_id"),
                "brand": doc.pop("brand"),
            }
            refreshed = {name: doc.pop(name) for name in ("engagement", "title", "raw")}
            if not refreshed["engagement"]:
                doc["engagement"] = refreshed.pop("engagement")  # first seen: {}
            if author_hashes & erased:
                del doc["author"], refreshed["raw"]
                # A title erased with its post's text is not brought back by a re-collection.
                doc.update(erased=True, title=refreshed.pop("title"))
            doc.update(
                fingerprint=mention.fingerprint,
                collected_at=now,
                score_state=PENDING,
            )
            documents.append((key, doc, refreshed))
        ops = [
            UpdateOne(key, {"$setOnInsert": doc, "$set": refreshed}, upsert=True)
            for key, doc, refreshed in documents
        ]
        earlier = (0, 0)  # (upserted, modified) by a first attempt that failed on size
        try:
            try:
                result = await self._db.mentions.bulk_write(ops, ordered=False)
            except (DocumentTooLarge, BulkWriteError) as error:
                if isinstance(error, BulkWriteError):
                    if not _too_large(error):
                        raise
                    earlier = (
                        int(error.details.get("nUpserted", 0)),
                        int(error.details.get("nModified", 0)),
                    )
                # Rare: measured only then, so the common page pays nothing. Upserts are
                # idempotent, so writing the whole page again after the fit is safe.
                for _, doc, refreshed in documents:
                    _fit(doc, refreshed)
                ops = [
                    UpdateOne(key, {"$setOnInsert": doc, "$set": refreshed}, upsert=True)
                    for key, doc, refreshed in documents
                ]
                result = await self._db.mentions.bulk_write(ops, ordered=False)
        except BulkWriteError as error:
            raise StoreError(f"Bulk upsert of mentions failed: {error.details}") from error
        except PyMongoError as error:
            raise StoreError(f"Bulk upsert of mentions failed: {error}") from error
        inserted = result.upserted_count + earlier[0]
        updated = result.modified_count + earlier[1]
        return UpsertResult(inserted, updated, len(mentions) - inserted - updated)

    async def replace_text(self, mentions: Sequence[Mention]) -> int:
        """Posts their authors edited: the new text, title and star rating replace the old,
        and a scored post goes back to the scoring queue. Returns how many changed.

        A post changes only where its text (fingerprint) or its ``rating`` differs from
        what is stored, so a source that cannot tell edits apart may pass every post it
        lists: one indexed read per source finds the few that differ, and only those are
        written (by ``_id``). Only posts already stored change (an edit of a post never
        collected is not a new mention here: it comes through ``upsert`` when the source
        lists it), and a post of an erased person (``erased``) is left as erasure left it.
        The post keeps its ``created_at``, so it stays in its roll-up day.

        Counts stay exact because the mention's ``counted`` verdict (what the roll-ups
        hold for it: old label, old stars) is left alone here: the scorer's next batch
        moves the post from that to its new label and new stars in one begun/committed
        step (``ScoringQueue.save``), and a recount in between counts the same old verdict.
        A post still waiting or being scored (never counted) is counted once, with the new
        rating; a claimed one loses its claim, so its scorer, holding the old text and
        rating, writes nothing for it (see ``ScoringQueue.save``).
        """
        if not mentions:
            return 0
        by_source: dict[str, set[str]] = {}
        for mention in mentions:
            by_source.setdefault(mention.source, set()).add(mention.external_id)
        stored: dict[tuple[str, str], list[Document]] = {}
        fields = {"external_id": 1, "fingerprint": 1, "rating": 1, "erased": 1}
        for source, ids in by_source.items():
            # Plain equality and $in only (the natural key's index): a `$ne` or `$or` here
            # makes the embedded server scan every mention (measured: 0.1-0.6 s a query
            # at 1-10k mentions), so what differs is decided below, and each write is by _id.
            query: Document = {"source": str(source), "external_id": {"$in": sorted(ids)}}
            async for doc in self._db.mentions.find(query, fields):
                stored.setdefault((source, doc["external_id"]), []).append(doc)
        changed = 0
        for mention in mentions:
            fingerprint = mention.fingerprint
            for doc in stored.get((mention.source, mention.external_id), ()):
                if doc.get("erased") or (
                    doc.get("fingerprint") == fingerprint and doc.get("rating") == mention.rating
                ):
                    continue  # erased, or unchanged: the common case costs no write
                # One update, whatever the state: pending stays pending, every other state
                # goes back to the queue and a claim is dropped, together with the new text
                # and rating, so no scorer claims it in between. Only while the mention is
                # as read: one changed meanwhile (erased, edited by another run) is left.
                result = await self._db.mentions.update_one(
                    {
                        "_id": doc["_id"],
                        "erased": {"$ne": True},
                        "fingerprint": doc.get("fingerprint"),
                        "rating": doc.get("rating"),
                    },
                    {
                        "$set": {
                            "text": mention.text,
                            "title": mention.title,
                            "rating": mention.rating,
                            "fingerprint": fingerprint,
                            "edited_at": utcnow(),
                            "score_state": PENDING,
                        },
                        "$unset": {"skipped": "", "claim": ""},
                    },
                )
                if result.modified_count:
                    changed += 1
                    # Two edits of one post in one call: the later compares with the first.
                    doc.update(fingerprint=fingerprint, rating=mention.rating)
        return changed

    async def remove_deleted(self, source: str, external_ids: Collection[str]) -> list[Document]:
        """Posts their authors deleted: removed for every brand, and never stored again.

        The posts' mentions (feed, queue, exports, counts) and corrections go; a tombstone
        per post held (``deleted_posts``) keeps a later collection from bringing it back.
        Posts never stored cost one indexed lookup (a firehose reports every deletion on
        the network). Returns what was removed (id, brand, day, source, profile), for the
        caller to recount roll-ups.
        """
        ids = sorted({str(external_id) for external_id in external_ids})
        if not ids:
            return []
        # A plain value, not {"$eq": ...}: the embedded server uses the key index only for
        # plain equality and $in (source is the collector's own name, never user input).
        query: Document = {"source": str(source), "external_id": {"$in": ids}}
        fields = {"brand": 1, "source": 1, "external_id": 1, "created_at": 1, "profile_id": 1}
        removed = [doc async for doc in self._db.mentions.find(query, fields)]
        if not removed:
            return []
        now = utcnow()
        await self._db.deleted_posts.bulk_write(
            [
                UpdateOne(
                    {"_id": _post_id(source, external_id)},
                    {"$setOnInsert": {"source": source, "external_id": external_id, "at": now}},
                    upsert=True,
                )
                for external_id in sorted({doc["external_id"] for doc in removed})
            ],
            ordered=False,
        )
        mention_ids = [doc["_id"] for doc in removed]
        await self._db.corrections.delete_many({"mention_id": {"$in": mention_ids}})
        await self._db.mentions.delete_many({"_id": {"$in": mention_ids}})
        return removed

    async def fill_counted(self, *, batch: int = 1000) -> list[Document]:
        """Give mentions scored by an older Goodwill what they count as (``counted``), once.

        Runs at open; a marker in ``maintenance`` makes later opens cost one lookup.
        Returns the corrected mentions filled (their roll-ups need a recount).
        """
        if await self._db.maintenance.find_one({"_id": _COUNTED_MARKER}) is not None:
            return []
        corrected: list[Document] = []
        query: Document = {
            "score_state": {"$in": [SCORED, SKIPPED, PENDING, CLAIMED]},
            "counted": {"$exists": False},
            "$or": [{"sentiment": {"$exists": True}}, {"score_state": SKIPPED}],
        }
        fields = {
            "brand": 1,
            "source": 1,
            "created_at": 1,
            "score_state": 1,
            "sentiment.label": 1,
            "complaint.is_complaint": 1,
            "complaint.category": 1,
            "correction": 1,
            "skipped.language": 1,
            "rating": 1,
        }
        while True:
            docs = [doc async for doc in self._db.mentions.find(query, fields).limit(batch)]
            if not docs:
                break
            ops = []
            for doc in docs:
                if doc.get("score_state") == SKIPPED and not doc.get("sentiment"):
                    language = (doc.get("skipped") or {}).get("language")
                    value = counted_of(
                        UNSCORED,
                        False,
                        doc.get("correction"),
                        language=language,
                        rating=doc.get("rating"),
                    )
                else:
                    value = counted_of(
                        (doc.get("sentiment") or {}).get("label"),
                        bool((doc.get("complaint") or {}).get("is_complaint")),
                        doc.get("correction"),
                        rating=doc.get("rating"),
                        category=(doc.get("complaint") or {}).get("category"),
                    )
                if doc.get("correction"):
                    corrected.append(doc)
                ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"counted": value}}))
            await self._db.mentions.bulk_write(ops, ordered=False)
        await self._db.maintenance.update_one(
            {"_id": _COUNTED_MARKER}, {"$set": {"at": utcnow()}}, upsert=True
        )
        return corrected

    async def fill_stars(self, *, batch: int = 1000) -> list[Document]:
        """Give rated mentions counted by an older Goodwill their ``counted.stars``, once.

        Runs at open after ``fill_counted``; returns the mentions filled (their roll-ups
        need a recount to gain the rating counts).
        """
        if await self._db.maintenance.find_one({"_id": _STARS_MARKER}) is not None:
            return []
        filled: list[Document] = []
        query: Document = {
            "rating": {"$gte": 1, "$lte": 5},
            "counted.label": {"$exists": True},
            "counted.stars": {"$exists": False},
        }
        fields = {"brand": 1, "source": 1, "created_at": 1, "rating": 1}
        while True:
            docs = [doc async for doc in self._db.mentions.find(query, fields).limit(batch)]
            if not docs:
                break
            # Only while still without stars: a scorer or correction that rewrote
            # ``counted`` meanwhile wrote the stars itself.
            ops = [
                UpdateOne(
                    {"_id": doc["_id"], "counted.stars": {"$exists": False}},
                    {"$set": {"counted.stars": stars_of(doc["rating"])}},
                )
                for doc in docs
            ]
            await self._db.mentions.bulk_write(ops, ordered=False)
            filled.extend(docs)
        await self._db.maintenance.update_one(
            {"_id": _STARS_MARKER}, {"$set": {"at": utcnow()}}, upsert=True
        )
        return filled

    async def fill_categories(self, *, batch: int = 1000) -> list[Document]:
        """Give complaints counted by an older Goodwill their ``counted.category``, once.

        Runs at open after ``fill_stars``; returns the mentions filled (their roll-ups need
        a recount to gain the category counts). The category is the model's, as
        ``counted_of`` gives it (``other`` where it gave none, or one not counted apart).
        """
        if await self._db.maintenance.find_one({"_id": _CATEGORIES_MARKER}) is not None:
            return []
        filled: list[Document] = []
        query: Document = {
            "counted.complaint": True,
            "counted.category": {"$exists": False},
        }
        fields = {"brand": 1, "source": 1, "created_at": 1, "complaint.category": 1}
        while True:
            docs = [doc async for doc in self._db.mentions.find(query, fields).limit(batch)]
            if not docs:
                break
            # Only while still a complaint without a category: a scorer or correction that
            # rewrote ``counted`` meanwhile wrote the category itself (or none is due).
            ops = []
            for doc in docs:
                category = category_name((doc.get("complaint") or {}).get("category"))
                ops.append(
                    UpdateOne(
                        {
                            "_id": doc["_id"],
                            "counted.complaint": True,
                            "counted.category": {"$exists": False},
                        },
                        {"$set": {"counted.category": category}},
                    )
                )
            await self._db.mentions.bulk_write(ops, ordered=False)
            filled.extend(docs)
        await self._db.maintenance.update_one(
            {"_id": _CATEGORIES_MARKER}, {"$set": {"at": utcnow()}}, upsert=True
        )
        return filled

    async def get(self, mention_id: object) -> Document | None:
        """One mention by its id (an ObjectId or its 24 hex digits), without its raw payload.

        ``None`` for an unknown or malformed id: the id is matched literally, never as an operator.
        """
        try:
            oid = object_id(mention_id)
        except InvalidRequest:
            return None
        return await self._db.mentions.find_one(
            {"_id": {"$eq": oid}}, {"raw": 0, "claim": 0, "embedding": 0}
        )

    async def count(self, query: Document | None = None) -> int:
        """How many mentions match ``query`` (all by default)."""
        return await self._db.mentions.count_documents(query or {})

    async def brands(self) -> list[str]:
        """Every brand with at least one mention or roll-up."""
        names = set(await self._db.rollups.distinct("brand"))
        names.update(await self._db.mentions.distinct("brand"))
        return sorted(names)

    # -- advocate exports (customers/exports.py) --------------------------------------------

    async def profiles_mentioning(
        self, profile_ids: Collection[str], *, brand: str, source: str
    ) -> set[str]:
        """Which of ``profile_ids`` have at least one mention of ``brand`` from ``source``."""
        query: Document = {
            "profile_id": {"$in": list(profile_ids)},
            "brand": {"$eq": str(brand)},
            "source": {"$eq": str(source)},
        }
        return set(await self._db.mentions.distinct("profile_id", query))

    # -- who wrote them: profiles (customers/resolution.py, customers/merges.py) -------------

    async def link_to_profiles(self, links: Iterable[tuple[Any, str, str]]) -> None:
        """Tie mentions to their author's identity and profile: ``(mention id, identity key, profile id)``."""
        ops = [
            UpdateOne({"_id": mention_id}, {"$set": {"author_key": key, "profile_id": profile_id}})
            for mention_id, key, profile_id in links
        ]
        if ops:
            await self._db.mentions.bulk_write(ops, ordered=False)

    async def strip_authors(self, mention_ids: Sequence[Any]) -> None:
        """Remove an erased person from these mentions: author, identity key, raw payload, profile."""
        await self._db.mentions.update_many(
            {"_id": {"$in": list(mention_ids)}},
            {"$unset": {"author": "", "author_key": "", "raw": "", "profile_id": ""}},
        )

    async def move_to_profile(
        self, from_profile: str, to_profile: str, *, author_keys: Sequence[str] | None = None
    ) -> None:
        """Tie one profile's mentions (only those by ``author_keys``, if given) to another."""
        query: Document = {"profile_id": from_profile}
        if author_keys is not None:
            query["author_key"] = {"$in": list(author_keys)}
        await self._db.mentions.update_many(query, {"$set": {"profile_id": to_profile}})

    async def of_profile(self, profile_id: str, limit: int = 20, offset: int = 0) -> list[Document]:
        """A profile's mentions, newest first (raw payloads left out)."""
        cursor = (
            self._db.mentions.find(
                {"profile_id": {"$eq": profile_id}}, {"raw": 0, "claim": 0, "embedding": 0}
            )
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(max(offset, 0))
            .limit(max(limit, 0))
        )
        return [doc async for doc in cursor]
