"""Merges of two profiles into one, kept so that each can be undone exactly, and proposals.

Collections: ``merges`` (what each merge moved, for an exact split) and
``merge_proposals`` (pairs Goodwill thinks are one person, for a person to accept or
reject). The customer domain decides; this module only reads and writes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from goodwill.errors import InvalidRequest
from store._common import Document, object_id, translating_errors

__all__ = ["INDEXES", "Merges"]

INDEXES: dict[str, list[IndexModel]] = {
    "merges": [
        IndexModel([("absorbed", ASCENDING)], name="absorbed"),
        IndexModel([("into", ASCENDING)], name="into"),
    ],
}


@translating_errors
class Merges:
    """Queries of ``merges`` and ``merge_proposals``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    # -- merges and splits (customers/merges.py) ---------------------------------------------

    async def add(self, record: Document) -> None:
        """Keep a merge's record: what it moved, and snapshots of both profiles for a split."""
        await self._db.merges.insert_one(record)

    async def get(self, merge_id: object) -> Document | None:
        """The merge with this id (an ObjectId or its 24 hex digits); None for another or a malformed id."""
        try:
            oid = object_id(merge_id, "merge")
        except InvalidRequest:
            return None
        return await self._db.merges.find_one({"_id": oid})

    async def records(
        self, profile_id: str | None = None, *, snapshots: bool = False
    ) -> list[Document]:
        """Merge records (of one profile, as either side), newest first; snapshots only if asked."""
        query: Document = (
            {} if profile_id is None else {"$or": [{"into": profile_id}, {"absorbed": profile_id}]}
        )
        fields = None if snapshots else {"snapshot_into": 0, "snapshot_absorbed": 0}
        cursor = self._db.merges.find(query, fields)
        return sorted([doc async for doc in cursor], key=lambda doc: doc["at"], reverse=True)

    async def unsplit_absorbing(self, profile_id: str) -> Document | None:
        """A merge, not split, that absorbed this profile (None if there is none)."""
        return await self._db.merges.find_one({"absorbed": profile_id, "split_at": None})

    async def mark_split(self, merge_id: object, at: datetime, by: str) -> None:
        """Record that a merge was split, when and by whom."""
        await self._db.merges.update_one(
            {"_id": merge_id}, {"$set": {"split_at": at, "split_by": by}}
        )

    async def split_pairs(self) -> list[tuple[str, str]]:
        """(into, absorbed) of every merge that was split."""
        cursor = self._db.merges.find({"split_at": {"$ne": None}}, {"into": 1, "absorbed": 1})
        return [(doc["into"], doc["absorbed"]) async for doc in cursor]

    # -- merge proposals (customers/merges.py) -----------------------------------------------

    async def proposal(self, proposal_id: str) -> Document | None:
        """The proposal with this id (a literal), or None."""
        return await self._db.merge_proposals.find_one({"_id": {"$eq": proposal_id}})

    async def proposals_by_id(self, proposal_ids: Iterable[str]) -> dict[str, Document]:
        """Those of these proposals that are recorded (in any state), by id."""
        cursor = self._db.merge_proposals.find({"_id": {"$in": list(proposal_ids)}})
        return {doc["_id"]: doc async for doc in cursor}

    async def open_proposals(self, proposal_ids: Iterable[str]) -> list[Document]:
        """Those of these proposals that are open."""
        query: Document = {"_id": {"$in": list(proposal_ids)}, "state": "open"}
        return [doc async for doc in self._db.merge_proposals.find(query)]

    async def proposals_in(self, state: str) -> list[Document]:
        """The proposals in ``state``, newest first."""
        cursor = self._db.merge_proposals.find({"state": {"$eq": state}})
        return sorted(
            [doc async for doc in cursor], key=lambda d: (d["created_at"], d["_id"]), reverse=True
        )

    async def rejected_proposal_ids(self) -> list[str]:
        """The ids of every rejected proposal."""
        cursor = self._db.merge_proposals.find({"state": "rejected"}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]

    async def add_proposals(self, proposals: Sequence[Document]) -> None:
        """Record new proposals; one whose ``_id`` is recorded meanwhile is left as it is."""
        if not proposals:
            return
        try:
            await self._db.merge_proposals.insert_many(list(proposals), ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != 11000 for e in error.details.get("writeErrors", ())):
                raise

    async def add_proposal_reasons(self, reasons: Mapping[str, Sequence[str]]) -> None:
        """Add reasons to open proposals (proposal id -> reasons); others are left as they are."""
        ops = [
            UpdateOne(
                {"_id": pid, "state": "open"}, {"$addToSet": {"reasons": {"$each": list(why)}}}
            )
            for pid, why in reasons.items()
        ]
        if ops:
            await self._db.merge_proposals.bulk_write(ops, ordered=False)

    async def accept_open_proposal(self, proposal_id: str, by: str, at: datetime) -> None:
        """Mark the proposal accepted, if it is open (its pair was merged)."""
        await self._db.merge_proposals.update_many(
            {"_id": proposal_id, "state": "open"},
            {"$set": {"state": "accepted", "decided_by": by, "decided_at": at}},
        )

    async def reject_proposal(self, proposal_id: str, by: str, at: datetime) -> None:
        """Mark the proposal rejected: its pair is never proposed again."""
        await self._db.merge_proposals.update_one(
            {"_id": proposal_id},
            {"$set": {"state": "rejected", "decided_by": by, "decided_at": at}},
        )

    # -- CRM import (customers/crm) ---------------------------------------------------------

    async def splits_among(self, profile_ids: Collection[str]) -> set[tuple[str, str]]:
        """(into, absorbed) of every merge between two of ``profile_ids`` that was split."""
        ids = list(profile_ids)
        query: Document = {
            "split_at": {"$ne": None},
            "into": {"$in": ids},
            "absorbed": {"$in": ids},
        }
        return {
            (doc["into"], doc["absorbed"])
            async for doc in self._db.merges.find(query, {"into": 1, "absorbed": 1})
        }

    async def record_import_proposals(self, proposals: Sequence[Document]) -> None:
        """Record merge proposals (with their ``_id``) unless already recorded; idempotent."""
        if proposals:
            await self._db.merge_proposals.bulk_write(
                [
                    UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
                    for doc in proposals
                ],
                ordered=False,
            )
