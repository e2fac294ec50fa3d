"""Where collection of each brand x source stands: cursors, leases, coverage, dead letters.

A runner process takes a job's lease before running it, renews it while it works, saves
the cursor after each page it stored (with what the page brought, and only while it still
holds the lease), and records failures, pauses and the windows it could not read.
Payloads that cannot be parsed are kept as dead letters, for a retention (a TTL index on
``received_at``, ``DEAD_LETTER_RETENTION`` unless the settings say otherwise), with the
keys of their author where the collector could read them (``authors``: identity and
handle keys, as mentions' ``author_key`` holds them; ``None`` when the author could not
be read), so that a person's export and erasure find them (``store.erasures``). A dead
letter of a person already erased keeps its reason but not its payload.

Windows not read (``gaps``) are honest both ways. A window lost to a failure is marked
filled (``filled_at``) once a whole catch-up that began after it was recorded has been
read: every cursor save counts a ``version``, a failure's gap notes the version then
current, and a save that says the source is caught up fills the gaps recorded at or
before the version the catch-up resumed from. (A catch-up already under way when the
failure came may page newest-first, from a top it fixed before the window, so it
fills nothing until the next one.) A window a source's own cap left unread (``cap``)
is never filled: no later run can read it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from goodwill.identity import erasure_hash
from goodwill.models import utcnow
from store._common import Document, translating_errors

__all__ = ["DEAD_LETTER_RETENTION", "INDEXES", "Coverage", "CursorState", "Cursors"]

#: Windows not read kept per brand x source (the latest).
_MAX_GAPS = 50

#: How long a dead letter is kept when the settings name no retention.
DEAD_LETTER_RETENTION = timedelta(days=30)
_EXPIRY = "expire"  # the TTL index of dead letters on ``received_at``
_INDEX_NOT_FOUND = 27  # dropped meanwhile by another process opening the store

INDEXES: dict[str, list[IndexModel]] = {
    "cursors": [
        IndexModel([("brand", ASCENDING), ("source", ASCENDING)], unique=True, name="brand_source"),
    ],
    "dead_letters": [
        IndexModel([("source", ASCENDING), ("received_at", DESCENDING)], name="source_time"),
        IndexModel([("authors", ASCENDING)], name="authors", sparse=True),
        # The TTL index on ``received_at`` is made by ``Cursors.keep_dead_letters``.
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
    def open_gaps(self) -> tuple[Document, ...]:
        """The windows still not read (``gaps`` less those a later catch-up filled)."""
        return tuple(gap for gap in self.gaps if not gap.get("filled_at"))

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
        lease: timedelta | None = None,
        caught_up: bool = False,
    ) -> bool:
        """Save the new cursor after a page was stored, with what the page brought.

        With ``owner``, only while that owner still holds the job's lease: a runner whose
        lease ran out (and whose job another runner took) writes nothing; with ``lease``
        as well, the save renews the lease by that much from now. ``caught_up`` says the
        source has nothing more right now: the windows not read that this catch-up has
        read after all are marked filled. Returns whether the cursor was saved.
        """
        now = utcnow()
        counts = coverage or Coverage(stored=collected)
        held: Document = {} if owner is None else {"lease.owner": owner}
        fields: Document = {
            "cursor": cursor,
            "last_success": now,
            "last_error": None,
            "failures": 0,
            "paused_until": None,
        }
        if owner is not None and lease is not None:
            fields["lease.expires"] = now + lease
        doc = await self._db.cursors.find_one_and_update(
            {"brand": brand, "source": source, **held},
            {"$set": fields, "$inc": {"collected": collected, "version": 1, **counts.increments()}},
            upsert=owner is None,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return False
        if caught_up:
            await self._settle(doc, held, now)
        return True

    async def _settle(self, doc: Document, held: Document, now: datetime) -> None:
        """Mark caught up at ``doc``'s version, filling the gaps this catch-up has read."""
        version = int(doc.get("version") or 0)
        start = int(doc.get("caught_up_version") or 0)  # the version this catch-up resumed from
        gaps = list(doc.get("gaps") or [])
        filled = [{**gap, "filled_at": now} if _read_since(gap, start) else gap for gap in gaps]
        fields: Document = {"caught_up_version": version}
        if filled != gaps:
            fields["gaps"] = filled
        await self._db.cursors.update_one(
            {"brand": doc["brand"], "source": doc["source"], "version": version, **held},
            {"$set": fields},
        )

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
        owner: str | None = None,
    ) -> CursorState | None:
        """Remember a failed run of ``brand`` x ``source``, keeping its cursor.

        ``retry_in`` pauses the job until then (a source that keeps failing is not
        hammered). ``gap_since`` records a window that could not be read, so coverage
        reports show it (until a later catch-up reads it). With ``owner``, nothing is
        written unless that owner still holds the job's lease: None is returned.
        """
        now = utcnow()
        held: Document = {} if owner is None else {"lease.owner": owner}
        key: Document = {"brand": brand, "source": source}
        doc = await self._db.cursors.find_one_and_update(
            {**key, **held},
            {
                "$set": {
                    "last_error": message,
                    "last_error_at": now,
                    "paused_until": now + retry_in if retry_in else None,
                },
                "$inc": {"failures": 1},
            },
            upsert=owner is None,
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        if gap_since is not None:
            # The version of the cursor this window lies after: a catch-up resuming from it
            # (or later) reads the window (see the module's docstring).
            gap = {
                "from": gap_since,
                "to": now,
                "reason": message[:300],
                "version": int(doc.get("version") or 0),
            }
            doc = await self._db.cursors.find_one_and_update(
                key,
                {"$push": {"gaps": {"$each": [gap], "$slice": -_MAX_GAPS}}},
                return_document=ReturnDocument.AFTER,
            )
        return _cursor_state(doc or key)

    async def record_gap(
        self,
        brand: str,
        source: str,
        since: datetime,
        until: datetime,
        reason: str,
        *,
        owner: str | None = None,
    ) -> bool:
        """Record a window a source's own cap left unread (never filled by a later run).

        With ``owner``, only while that owner holds the job's lease. Returns whether the
        window was recorded.
        """
        held: Document = {} if owner is None else {"lease.owner": owner}
        gap = {"from": since, "to": until, "reason": reason[:300], "cap": True}
        result = await self._db.cursors.update_one(
            {"brand": brand, "source": source, **held},
            {"$push": {"gaps": {"$each": [gap], "$slice": -_MAX_GAPS}}},
            upsert=owner is None,
        )
        return result.matched_count == 1 or result.upserted_id is not None

    async def dead_letter(
        self,
        source: str,
        reason: str,
        payload: Any,
        *,
        brand: str | None = None,
        authors: Collection[str] | None = None,
    ) -> None:
        """Keep a payload that could not be parsed, with why, for a later re-parse.

        ``authors``: the identity and handle keys of who wrote it, where they could be read
        (``None``: unknown). When one of them belongs to an erased person, only the reason
        is kept (``erased: true``), as a re-collected mention of theirs loses its author.
        """
        keys = sorted(set(authors)) if authors else None
        letter: Document = {
            "source": source,
            "brand": brand,
            "reason": reason,
            "payload": payload,
            "authors": keys,
            "received_at": utcnow(),
        }
        if keys:
            hashes = [erasure_hash(key) for key in keys]
            if await self._db.erasures.find_one({"identity_hashes": {"$in": hashes}}, {"_id": 1}):
                letter.update(payload=None, authors=None, erased=True)
        await self._db.dead_letters.insert_one(letter)

    async def keep_dead_letters(self, retention: timedelta | None) -> None:
        """Make dead letters expire ``retention`` after they were received (a TTL index).

        ``None`` keeps the retention already set, or sets ``DEAD_LETTER_RETENTION`` when
        none is (a dashboard or a check opening the store does not undo the setting the
        service runs with). Idempotent: another index on ``received_at`` alone (an older
        Goodwill's, or one made by hand without expiry) is dropped first, as MongoDB
        refuses two indexes on the same key; a changed retention is set with ``collMod``.
        """
        collection = self._db.dead_letters
        existing = await collection.index_information()
        ours = existing.get(_EXPIRY)
        for name, spec in existing.items():
            same_key = list(spec["key"]) == [("received_at", 1)]  # 1 == 1.0 as servers give it
            if (same_key and name != _EXPIRY) or (name == _EXPIRY and not _expires(spec)):
                try:
                    await collection.drop_index(name)
                except OperationFailure as error:
                    if error.code != _INDEX_NOT_FOUND:
                        raise
                if name == _EXPIRY:
                    ours = None
        if ours is not None and retention is None:
            return
        seconds = int((retention or DEAD_LETTER_RETENTION).total_seconds())
        if ours is None:
            await collection.create_indexes(
                [IndexModel([("received_at", ASCENDING)], name=_EXPIRY, expireAfterSeconds=seconds)]
            )
        elif int(ours["expireAfterSeconds"]) != seconds:
            await self._db.command(
                {
                    "collMod": collection.name,
                    "index": {"name": _EXPIRY, "expireAfterSeconds": seconds},
                }
            )

    async def dead_letter_retention(self) -> timedelta | None:
        """How long dead letters are kept (``None``: forever, no TTL index yet)."""
        spec = (await self._db.dead_letters.index_information()).get(_EXPIRY)
        return (
            timedelta(seconds=int(spec["expireAfterSeconds"])) if spec and _expires(spec) else None
        )


def _expires(spec: Document) -> bool:
    """Whether an index (as ``index_information`` gives it) is a TTL index."""
    return isinstance(spec.get("expireAfterSeconds"), int | float)


def _read_since(gap: Document, start: int) -> bool:
    """Whether a catch-up that resumed from version ``start`` has read ``gap``'s window."""
    version = gap.get("version")
    return (
        not gap.get("filled_at")
        and not gap.get("cap")
        and isinstance(version, int)
        and version <= start
    )
