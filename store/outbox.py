"""The store side of alerting: the outbox of alerts, the engine's state, and what rules read.

The outbox (collection ``alerts``) holds each alert once: its ``dedupe_key`` is unique, so
raising the same alert again (after a restart, or from a second engine) inserts nothing.
A deliverer then claims the due alerts of one destination with a lease, oldest first by
(``created_at``, ``_id``), and marks them: ``sent`` (with ``sent_at`` and the ``message_id``
of the Slack message they went in: several alerts of a burst share one message, and one
id), ``failed`` (permanently, with the error) or back to ``pending`` with a later
``next_attempt_at`` (every alert of a message that did not go, with the same time, so they
stay at the head of the queue in their own order). A deliverer that dies mid-send leaves a
lease that expires; the alerts are claimed again. Alerts of the built-in ``dashboard``
destination are marked ``sent`` as soon as they are claimed, with their rendered message
kept in ``message`` for the dashboard to show.

States: ``pending`` -> ``sending`` (leased) -> ``sent`` | ``failed``
                         \\-> ``pending`` (retry later, quiet hours, or left out of a full message)

``grouped`` is only read: an older Goodwill wrote a ``rule: "group"`` document per burst,
with its own state, and marked the members ``grouped`` (``group_id``). Where such a group
was sent its members were delivered and stay so; ``claim_due`` undoes any other (never
sent, or itself a member of another group) and reopens its members, due at once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from goodwill.models import utcnow
from store._common import Document, translating_errors

__all__ = ["INDEXES", "OPEN_STATES", "STATES", "Lease", "Outbox"]

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED, GROUPED = "pending", "sending", "sent", "failed", "grouped"
# ``grouped`` is written no more; it stays readable for an older Goodwill's documents.
STATES = (PENDING, SENDING, SENT, FAILED, GROUPED)
OPEN_STATES = (PENDING, SENDING)
# An older Goodwill's group document that was never sent (the sparse ``members`` index).
_LEGACY_GROUP: Document = {"members": {"$exists": True}, "state": {"$ne": SENT}}
_NO_RAW = {"raw": 0, "claim": 0, "embedding": 0}

INDEXES: dict[str, list[IndexModel]] = {
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
}


@dataclass(frozen=True)
class Lease:
    """Alerts of one destination claimed for delivery by one deliverer until ``expires``."""

    token: str
    expires: datetime
    alerts: list[Document]


@translating_errors
class Outbox:
    """Every MongoDB query of alerting: the outbox, the engine's state, what rules read."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._alerts = db.alerts
        self._state = db.alert_state
        self._mentions = db.mentions
        self._profiles = db.profiles
        self._advocacy = db.advocacy
        self._rollups = db.rollups

    # -- the outbox ------------------------------------------------------------------------

    async def raise_alert(
        self,
        *,
        dedupe_key: str,
        rule: str,
        brand: str | None,
        destination: str,
        payload: Document,
        now: datetime | None = None,
        about: Document | None = None,
    ) -> bool:
        """Write an alert once; False when one with this ``dedupe_key`` was already raised.

        ``about``: whom the alert is about, by id (``mentions``, ``profiles``, ``authors``:
        lists of mention ids, profile ids and author keys), for a person's erasure.
        """
        now = now or utcnow()
        try:
            await self._alerts.insert_one(
                {
                    "dedupe_key": dedupe_key,
                    "rule": rule,
                    "brand": brand,
                    "destination": destination,
                    "created_at": now,
                    "payload": payload,
                    "about": about or {},
                    "state": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "sent_at": None,
                    "last_error": None,
                    "message_id": None,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` were already raised."""
        wanted = list(set(keys))
        if not wanted:
            return set()
        cursor = self._alerts.find({"dedupe_key": {"$in": wanted}}, {"dedupe_key": 1})
        return {doc["dedupe_key"] async for doc in cursor}

    async def open_destinations(self) -> list[str]:
        """Destinations with alerts waiting to be delivered (or an older Goodwill's groups to undo)."""
        names = await self._alerts.distinct(
            "destination", {"$or": [{"state": {"$in": list(OPEN_STATES)}}, _LEGACY_GROUP]}
        )
        return sorted(str(name) for name in names)

    async def claim_due(
        self,
        destination: str,
        owner: str,
        *,
        now: datetime | None = None,
        lease: timedelta = timedelta(seconds=60),
        limit: int = 100,
    ) -> Lease | None:
        """Claim the due alerts at the head of ``destination``'s queue, oldest first.

        The queue is first in, first out by (``created_at``, ``_id``): while its oldest open
        alert waits for a retry, nothing behind it is sent. None when another deliverer holds
        a live lease on it. An older Goodwill's unsent groups are undone first.
        """
        now = now or utcnow()
        await self._undo_legacy_groups(destination, now)
        head = [
            doc
            async for doc in self._alerts.find(
                {"destination": destination, "state": {"$in": list(OPEN_STATES)}},
                {"_id": 1, "state": 1, "next_attempt_at": 1, "lease_expires": 1},
            )
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        ]
        if any(doc["state"] == SENDING and doc.get("lease_expires", now) > now for doc in head):
            return None
        due = []
        for doc in head:
            if doc["state"] == PENDING and doc["next_attempt_at"] > now:
                break
            due.append(doc["_id"])
        if not due:
            return Lease("", now, [])
        token = f"{owner}:{secrets.token_hex(6)}"
        expires = now + lease
        await self._alerts.update_many(
            {
                "_id": {"$in": due},
                "$or": [
                    {"state": PENDING, "next_attempt_at": {"$lte": now}},
                    {"state": SENDING, "lease_expires": {"$lt": now}},
                ],
            },
            {"$set": {"state": SENDING, "lease": token, "lease_expires": expires}},
        )
        claimed = [doc async for doc in self._alerts.find({"_id": {"$in": due}, "lease": token})]
        claimed.sort(key=lambda doc: (doc["created_at"], doc["_id"]))
        return Lease(token, expires, claimed)

    async def _undo_legacy_groups(self, destination: str, now: datetime) -> None:
        """Delete an older Goodwill's groups that were never sent; reopen their members.

        Such a group had a state of its own while its members were ``grouped``: a group that
        failed, waited for a retry, or was itself grouped again (listed as "N alerts" in
        another group, its members never shown) delivered none of them. Its members go back
        to ``pending``, due now, in their own place in the queue; a member that is a group
        is undone the same way. A group an older deliverer is sending under a live lease is
        left until the lease expires. Members are reopened before their group is deleted, so
        a crash in between leaves work that the next call finishes.
        """
        groups = [
            doc
            async for doc in self._alerts.find(
                {"destination": destination, **_LEGACY_GROUP},
                {"members": 1, "state": 1, "lease_expires": 1},
            )
        ]
        for group in groups:
            if group["state"] == SENDING and group.get("lease_expires", now) > now:
                continue
            await self._alerts.update_many(
                {"_id": {"$in": group["members"]}, "group_id": group["_id"], "state": GROUPED},
                {
                    "$set": {"state": PENDING, "next_attempt_at": now, "group_id": None},
                    "$unset": {"lease": "", "lease_expires": ""},
                },
            )
            await self._alerts.delete_one({"_id": group["_id"], "state": {"$ne": SENT}})
            log.warning(
                "reopened the %d alerts of an unsent group %s that an older Goodwill wrote",
                len(group["members"]),
                group["_id"],
            )

    async def mark_sent(
        self,
        ids: Sequence[ObjectId],
        token: str,
        *,
        message_id: str,
        now: datetime | None = None,
        message: Document | None = None,
    ) -> None:
        """The alerts reached Slack, together in the message ``message_id``.

        ``message``: the message itself, kept with the alerts (the built-in dashboard
        destination shows it; Slack's copy is Slack's).
        """
        kept: Document = {} if message is None else {"message": message}
        await self._alerts.update_many(
            {"_id": {"$in": list(ids)}, "lease": token},
            {
                "$set": {
                    "state": SENT,
                    "sent_at": now or utcnow(),
                    "message_id": message_id,
                    "last_error": None,
                    **kept,
                },
                "$inc": {"attempts": 1},
                "$unset": {"lease": "", "lease_expires": ""},
            },
        )

    async def mark_failed(self, ids: Sequence[ObjectId], token: str, error: str) -> None:
        """Slack refused the alerts for good (bad payload, no such webhook): never retried."""
        await self._alerts.update_many(
            {"_id": {"$in": list(ids)}, "lease": token},
            {
                "$set": {"state": FAILED, "last_error": error[:500]},
                "$inc": {"attempts": 1},
                "$unset": {"lease": "", "lease_expires": ""},
            },
        )

    async def mark_retry(
        self, ids: Sequence[ObjectId], token: str, at: datetime, error: str
    ) -> None:
        """Try the alerts again at ``at``, all at once (network error, 5xx, 429)."""
        await self._alerts.update_many(
            {"_id": {"$in": list(ids)}, "lease": token},
            {
                "$set": {"state": PENDING, "next_attempt_at": at, "last_error": error[:500]},
                "$inc": {"attempts": 1},
                "$unset": {"lease": "", "lease_expires": ""},
            },
        )

    async def release(self, ids: Sequence[ObjectId], token: str, at: datetime) -> None:
        """Give claimed alerts back, due at ``at`` (quiet hours; behind a retry; a full message)."""
        if not ids:
            return
        await self._alerts.update_many(
            {"_id": {"$in": list(ids)}, "lease": token},
            {
                "$set": {"state": PENDING, "next_attempt_at": at},
                "$unset": {"lease": "", "lease_expires": ""},
            },
        )

    async def message_sizes(self, message_ids: Iterable[str]) -> dict[str, int]:
        """How many alerts went in each of the Slack messages ``message_ids``."""
        wanted = list(set(message_ids))
        if not wanted:
            return {}
        pipeline: list[Document] = [
            {"$match": {"message_id": {"$in": wanted}}},
            {"$group": {"_id": "$message_id", "alerts": {"$sum": 1}}},
        ]
        return {
            str(doc["_id"]): int(doc["alerts"])
            async for doc in await self._alerts.aggregate(pipeline)
        }

    async def recent(
        self,
        *,
        limit: int = 50,
        state: str | None = None,
        rule: str | None = None,
        destination: str | None = None,
    ) -> list[Document]:
        """The latest alerts, newest first (payload included)."""
        query: Document = {}
        if state is not None:
            query["state"] = state
        if rule is not None:
            query["rule"] = rule
        if destination is not None:
            query["destination"] = {"$eq": str(destination)}
        cursor = (
            self._alerts.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def rule_counts(self, destination: str) -> dict[str, int]:
        """How many alerts each rule raised to ``destination``."""
        pipeline: list[Document] = [
            {"$match": {"destination": {"$eq": str(destination)}}},
            {"$group": {"_id": "$rule", "alerts": {"$sum": 1}}},
        ]
        return {
            str(doc["_id"]): int(doc["alerts"])
            async for doc in await self._alerts.aggregate(pipeline)
        }

    async def count(self, query: Document | None = None) -> int:
        """How many alerts match ``query``."""
        return await self._alerts.count_documents(query or {})

    # -- the engine's state ----------------------------------------------------------------

    async def get_state(self, key: str) -> Any:
        """A value the engine saved (a cursor), or None."""
        doc = await self._state.find_one({"_id": key})
        return None if doc is None else doc.get("value")

    async def set_state(self, key: str, value: Any) -> None:
        """Save a value of the engine's (a cursor)."""
        await self._state.update_one(
            {"_id": key}, {"$set": {"value": value, "updated_at": utcnow()}}, upsert=True
        )

    # -- what the rules read -----------------------------------------------------------------

    async def complaints_scored_since(
        self, since: datetime, *, limit: int = 1000
    ) -> list[Document]:
        """Complaints scored at or after ``since``, in the order they were scored."""
        cursor = (
            self._mentions.find({"counted.complaint": True, "scored_at": {"$gte": since}}, _NO_RAW)
            .sort([("scored_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def complaints_corrected_since(
        self, since: datetime, *, limit: int = 1000
    ) -> list[Document]:
        """Posts a person marked a complaint at or after ``since`` that still count as one,
        in the order they were marked (``correction.at``)."""
        cursor = (
            self._mentions.find(
                {
                    # Served by the sparse ``complaint_corrected`` index (corrected posts only).
                    "correction.complaint": True,
                    "correction.at": {"$gte": since},
                    "counted.complaint": True,
                },
                _NO_RAW,
            )
            .sort([("correction.at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def profiles(self, ids: Iterable[str | None]) -> dict[str, Document]:
        """Profiles by id."""
        wanted = list({i for i in ids if i})
        if not wanted:
            return {}
        return {doc["_id"]: doc async for doc in self._profiles.find({"_id": {"$in": wanted}})}

    async def advocacy(self, ids: Iterable[str]) -> dict[str, Document]:
        """Advocacy documents by ``"<profile_id>|<brand>"``."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        return {doc["_id"]: doc async for doc in self._advocacy.find({"_id": {"$in": wanted}})}

    async def tier_changes_since(self, since: datetime, *, limit: int = 1000) -> list[Document]:
        """Advocacy documents whose tier changed at or after ``since``, oldest change first."""
        cursor = (
            self._advocacy.find({"tier_changed_at": {"$gte": since}})
            .sort([("tier_changed_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def hourly_counts(
        self, brand: str, start: datetime, end: datetime
    ) -> dict[datetime, tuple[int, int]]:
        """(all, negative) mentions of ``brand`` per hour created in [start, end)."""
        pipeline: list[Document] = [
            {"$match": {"brand": brand, "created_at": {"$gte": start, "$lt": end}}},
            {
                "$group": {
                    "_id": {"$dateTrunc": {"date": "$created_at", "unit": "hour"}},
                    "total": {"$sum": 1},
                    "negative": {
                        "$sum": {"$cond": [{"$eq": ["$counted.label", "negative"]}, 1, 0]}
                    },
                }
            },
        ]
        counts: dict[datetime, tuple[int, int]] = {}
        async for doc in await self._mentions.aggregate(pipeline):
            counts[doc["_id"]] = (int(doc["total"]), int(doc["negative"]))
        return counts

    async def negative_mentions(
        self, brand: str, start: datetime, end: datetime, *, limit: int = 2000
    ) -> list[Document]:
        """Negative mentions of ``brand`` created in [start, end) (for the posts behind a spike)."""
        cursor = self._mentions.find(
            {
                "brand": brand,
                "created_at": {"$gte": start, "$lt": end},
                "counted.label": "negative",
            },
            _NO_RAW,
        ).limit(limit)
        return [doc async for doc in cursor]

    async def rollup_day(self, brand: str, day: datetime) -> dict[str, int]:
        """A brand's roll-up counts of one (UTC) day, summed over sources.

        ``total`` and the sentiments count the scored mentions; ``unscored`` those the
        model does not read (another language).
        """
        totals: dict[str, int] = {}
        async for doc in self._rollups.find({"brand": brand, "day": day}):
            for name in ("total", "positive", "neutral", "negative", "complaints", "unscored"):
                totals[name] = totals.get(name, 0) + int(doc.get(name, 0))
        return totals

    async def complaints_between(
        self, brand: str, start: datetime, end: datetime, *, limit: int = 500
    ) -> list[Document]:
        """Complaints about ``brand`` created in [start, end)."""
        cursor = self._mentions.find(
            {
                "brand": brand,
                "created_at": {"$gte": start, "$lt": end},
                "counted.complaint": True,
            },
            _NO_RAW,
        ).limit(limit)
        return [doc async for doc in cursor]

    async def tier_changes_between(
        self, brand: str, tier: str, start: datetime, end: datetime, *, limit: int = 100
    ) -> list[Document]:
        """Profiles that became ``tier`` for ``brand`` in [start, end)."""
        cursor = self._advocacy.find(
            {"brand": brand, "tier": tier, "tier_changed_at": {"$gte": start, "$lt": end}}
        ).limit(limit)
        return [doc async for doc in cursor]
