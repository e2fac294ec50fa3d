"""Mentions as collected: the bulk upsert that never duplicates, and reading them back."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError

from goodwill.errors import InvalidRequest, StoreError
from goodwill.identity import author_handle_key, erasure_hash, identity_key
from goodwill.models import Mention, utcnow
from store._common import Document, object_id, translating_errors
from store.queue import PENDING

__all__ = ["INDEXES", "Mentions", "UpsertResult"]

INDEXES: dict[str, list[IndexModel]] = {
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
        # A profile's mentions (counts, advocacy, merges; customers/profiles.py).
        IndexModel([("profile_id", ASCENDING)], name="profile"),
        # The alert engine's cursor: complaints in the order they were scored.
        IndexModel(
            [("complaint.is_complaint", ASCENDING), ("scored_at", ASCENDING)],
            name="complaint_scored",
        ),
    ],
}


@dataclass(frozen=True)
class UpsertResult:
    """What a bulk upsert of mentions did."""

    inserted: int
    updated: int
    unchanged: int


def _author_hashes(mention: Mention) -> set[str]:
    """Erasure hashes of a mention author's identity key and handle key (none if no author)."""
    author = mention.author.model_dump()
    keys = {identity_key(mention.source, author), author_handle_key(mention.source, author)}
    return {erasure_hash(key) for key in keys if key is not None}


@translating_errors
class Mentions:
    """The ``mentions`` collection: one document per (source, external id)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def upsert(self, mentions: Sequence[Mention]) -> UpsertResult:
        """Insert new mentions, refresh engagement of known ones; never duplicates.

        A mention's text, author and score are kept as first collected; what changes
        on a re-collection is its engagement, title and raw payload. A mention by an
        erased person (its author's key hashed in ``erasures``) is stored without its
        author and raw payload, and marked ``erased``.
        """
        if not mentions:
            return UpsertResult(0, 0, 0)
        now = utcnow()
        # An erased person's author fields are never stored again (customers/rights.py).
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

    async def get(self, mention_id: object) -> Document | None:
        """One mention by its id (an ObjectId or its 24 hex digits), without its raw payload.

        ``None`` for an unknown or malformed id: the id is matched literally, never as an operator.
        """
        try:
            oid = object_id(mention_id)
        except InvalidRequest:
            return None
        return await self._db.mentions.find_one({"_id": {"$eq": oid}}, {"raw": 0, "claim": 0})

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
            self._db.mentions.find({"profile_id": {"$eq": profile_id}}, {"raw": 0, "claim": 0})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(max(offset, 0))
            .limit(max(limit, 0))
        )
        return [doc async for doc in cursor]
