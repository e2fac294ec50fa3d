"""Where collection of each brand x source stands: cursors, leases, coverage, dead letters.

A runner process takes a job's lease before running it, saves the cursor after each
page it stored (with what the page brought), and records failures, pauses and the
windows it could not read. Payloads that cannot be parsed are kept as dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from goodwill.models import utcnow
from store._common import Document, translating_errors

__all__ = ["INDEXES", "Coverage", "CursorState", "Cursors"]

INDEXES: dict[str, list[IndexModel]] = {
    "cursors": [
        IndexModel([("brand", ASCENDING), ("source", ASCENDING)], unique=True, name="brand_source"),
    ],
    "dead_letters": [
        IndexModel([("source", ASCENDING), ("received_at", DESCENDING)], name="source_time"),
    ],
}


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


@translating_errors
class Cursors:
    """The ``cursors`` collection (one document per brand x source) and ``dead_letters``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def get(self, brand: str, source: str) -> CursorState:
        """Where collection of ``brand`` x ``source`` stands (empty before the first run)."""
        doc = await self._db.cursors.find_one({"brand": brand, "source": source})
        return _cursor_state(doc or {"brand": brand, "source": source})

    async def all(self) -> list[CursorState]:
        """Every brand x source that has run."""
        cursor = self._db.cursors.find({}).sort([("brand", ASCENDING), ("source", ASCENDING)])
        return [_cursor_state(doc) async for doc in cursor]

    async def acquire(self, brand: str, source: str, owner: str, lease: timedelta) -> bool:
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

    async def release(self, brand: str, source: str, owner: str) -> None:
        """Give up the lease on ``brand`` x ``source`` if this owner holds it."""
        await self._db.cursors.update_one(
            {"brand": brand, "source": source, "lease.owner": owner}, {"$set": {"lease": None}}
        )

    async def record_success(
        self,
        brand: str,
        source: str,
        cursor: Any,
        collected: int,
        coverage: Coverage | None = None,
        *,
        owner: str | None = None,
    ) -> bool:
        """Save the new cursor after a page was stored, with what the page brought.

        With ``owner``, only while that owner still holds the job's lease: a runner whose
        lease ran out (and whose job another runner took) writes nothing. Returns whether
        the cursor was saved.
        """
        counts = coverage or Coverage(stored=collected)
        held: Document = {} if owner is None else {"lease.owner": owner}
        result = await self._db.cursors.update_one(
            {"brand": brand, "source": source, **held},
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
            upsert=owner is None,
        )
        return result.matched_count == 1 or result.upserted_id is not None

    async def renew(self, brand: str, source: str, owner: str, lease: timedelta) -> bool:
        """Extend ``owner``'s lease on ``brand`` x ``source`` by ``lease`` from now.

        False when the owner no longer holds it (it ran out and another runner took it).
        """
        result = await self._db.cursors.update_one(
            {"brand": brand, "source": source, "lease.owner": owner},
            {"$set": {"lease.expires": utcnow() + lease}},
        )
        return result.matched_count == 1

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
