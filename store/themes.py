"""Complaint themes: the ``themes`` collection, mentions' ``theme_id`` and the re-clustering lease.

A theme document (``_id`` ``"<brand>|<theme id>"``) holds what the last re-clustering of
its brand found (``scoring/themes.py``): ``theme_id`` (``T1``, ``T2``... per brand, never
reused), ``name``, ``phrases``, ``centroid`` (float16 bytes), ``threshold`` (the cosine a
post needs to join), ``size`` (posts at clustering), ``representatives`` (mention ids, the
most central first: texts are read from the mentions, so an erased or deleted post is
never kept here), ``status`` (``active`` | ``retired``), and when it was created, last
clustered and retired. A mention of a theme carries ``theme_id``; complaints and negative
posts carry their ``embedding`` (float16 bytes), which no page of the dashboard reads.

The re-clustering of a brand is leased (a marker ``"themes|<brand>"`` in ``maintenance``),
so two scorers never both run it; a holder that dies leaves a lease that runs out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from goodwill.models import utcnow
from store._common import Document, time_range, translating_errors

__all__ = ["ACTIVE", "INDEXES", "RETIRED", "ThemeWrite", "Themes"]

ACTIVE, RETIRED = "active", "retired"
_CHUNK = 5_000
_POST_FIELDS = {"text": 1, "url": 1, "source": 1, "created_at": 1, "brand": 1}

INDEXES: dict[str, list[IndexModel]] = {
    "themes": [
        IndexModel([("brand", ASCENDING), ("status", ASCENDING)], name="brand_status"),
    ],
    # A theme's mentions in a window: the dashboard's theme view and the queue's theme
    # filter (a theme id is its brand's own, so the brand leads).
    "mentions": [
        IndexModel(
            [("brand", ASCENDING), ("theme_id", ASCENDING), ("created_at", DESCENDING)],
            name="brand_theme_time",
        ),
    ],
}


@dataclass(frozen=True)
class ThemeWrite:
    """One theme as a re-clustering found it, to be saved (``theme_id`` None: a new one)."""

    theme_id: str | None
    name: str
    phrases: Sequence[str]
    centroid: bytes
    threshold: float
    members: Sequence[Any]
    representatives: Sequence[Any] = field(default_factory=tuple)


def _chunks(items: Sequence[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield list(items[start : start + _CHUNK])


def _marker(brand: str) -> str:
    return f"themes|{brand}"


@translating_errors
class Themes:
    """Queries of ``themes``, mentions' embeddings and ``theme_id``, and the re-clustering lease."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    # -- what the scorer and the re-clustering read -----------------------------------------

    async def embedded(
        self, brand: str, since: datetime, until: datetime | None = None
    ) -> list[Document]:
        """The mentions of ``brand`` created in ``[since, until)`` that carry an embedding.

        Each as ``{_id, text, embedding, theme_id?}``, oldest first by ``_id``.
        """
        window: Document = {"$gte": since}
        if until is not None:
            window["$lt"] = until
        query = {"brand": {"$eq": brand}, "created_at": window, "embedding": {"$exists": True}}
        fields = {"text": 1, "embedding": 1, "theme_id": 1}
        return [doc async for doc in self._db.mentions.find(query, fields)]

    async def count_embedded(self, brand: str, since: datetime) -> int:
        """How many mentions of ``brand`` created since ``since`` carry an embedding."""
        return await self._db.mentions.count_documents(
            {"brand": {"$eq": brand}, "created_at": {"$gte": since}, "embedding": {"$exists": True}}
        )

    async def embeddings_of(self, fingerprints: Iterable[str]) -> dict[str, bytes]:
        """A stored embedding for each of these text fingerprints that has one (identical reposts)."""
        wanted = list(set(fingerprints))
        if not wanted:
            return {}
        found: dict[str, bytes] = {}
        cursor = self._db.mentions.find(
            {"fingerprint": {"$in": wanted}, "embedding": {"$exists": True}},
            {"fingerprint": 1, "embedding": 1},
        )
        async for doc in cursor:
            found.setdefault(doc["fingerprint"], bytes(doc["embedding"]))
        return found

    async def active(self, brand: str) -> list[Document]:
        """The brand's active themes, with their centroids, largest first."""
        cursor = self._db.themes.find({"brand": {"$eq": brand}, "status": ACTIVE})
        docs = [doc async for doc in cursor]
        return sorted(docs, key=lambda d: (-int(d.get("size") or 0), str(d["theme_id"])))

    async def get(self, brand: str, theme_id: str) -> Document | None:
        """One theme of a brand (active or retired), or None."""
        return await self._db.themes.find_one({"_id": {"$eq": f"{brand}|{theme_id}"}})

    async def brands(self) -> list[str]:
        """Brands with at least one active theme."""
        return sorted(await self._db.themes.distinct("brand", {"status": ACTIVE}))

    # -- writes -------------------------------------------------------------------------------

    async def assign(self, assignments: dict[Any, str]) -> int:
        """Set each mention's ``theme_id`` (the scorer, after a batch); returns how many changed."""
        if not assignments:
            return 0
        ops = [
            UpdateOne({"_id": mention_id}, {"$set": {"theme_id": theme_id}})
            for mention_id, theme_id in assignments.items()
        ]
        result = await self._db.mentions.bulk_write(ops, ordered=False)
        return result.modified_count

    async def save_clustering(
        self,
        brand: str,
        themes: Sequence[ThemeWrite],
        *,
        unthemed: Sequence[Any] = (),
        window: tuple[datetime, datetime] | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        """Save a re-clustering of ``brand``: its themes, their members, and retire the rest.

        Themes with a ``theme_id`` keep it (a match of an existing theme); the others get
        the brand's next ids. Active themes not among ``themes`` are retired and their
        mentions leave them; ``unthemed`` mentions leave any theme. Returns the themes'
        ids, in the order given.
        """
        now = now or utcnow()
        existing = [doc async for doc in self._db.themes.find({"brand": {"$eq": brand}})]
        numbers = [int(str(d["theme_id"]).lstrip("T") or 0) for d in existing]
        next_number = max(numbers, default=0) + 1
        ids: list[str] = []
        for theme in themes:
            if theme.theme_id is None:
                ids.append(f"T{next_number}")
                next_number += 1
            else:
                ids.append(theme.theme_id)
        kept = set(ids)
        retired = [
            d["theme_id"]
            for d in existing
            if d.get("status") == ACTIVE and d["theme_id"] not in kept
        ]
        if retired:
            await self._db.themes.update_many(
                {"brand": {"$eq": brand}, "theme_id": {"$in": retired}},
                {"$set": {"status": RETIRED, "retired_at": now}},
            )
            await self._db.mentions.update_many(
                {"brand": {"$eq": brand}, "theme_id": {"$in": retired}},
                {"$unset": {"theme_id": ""}},
            )
        for theme_id, theme in zip(ids, themes, strict=True):
            fields: Document = {
                "brand": brand,
                "theme_id": theme_id,
                "status": ACTIVE,
                "name": theme.name,
                "phrases": list(theme.phrases),
                "centroid": theme.centroid,
                "threshold": float(theme.threshold),
                "size": len(theme.members),
                "representatives": list(theme.representatives),
                "clustered_at": now,
            }
            if window is not None:
                fields["window"] = {"from": window[0], "to": window[1]}
            await self._db.themes.update_one(
                {"_id": f"{brand}|{theme_id}"},
                {"$set": fields, "$setOnInsert": {"created_at": now}, "$unset": {"retired_at": ""}},
                upsert=True,
            )
            for chunk in _chunks(theme.members):
                await self._db.mentions.update_many(
                    {"_id": {"$in": chunk}, "theme_id": {"$ne": theme_id}},
                    {"$set": {"theme_id": theme_id}},
                )
        for chunk in _chunks(unthemed):
            await self._db.mentions.update_many(
                {"_id": {"$in": chunk}, "theme_id": {"$exists": True}}, {"$unset": {"theme_id": ""}}
            )
        return ids

    # -- what people read: the CLI, the dashboard, the alert rule -----------------------------

    async def summary(
        self,
        brand: str,
        since: datetime,
        until: datetime | None = None,
        *,
        posts: int = 3,
    ) -> list[Document]:
        """The brand's active themes over ``[since, until)``, most mentions first.

        Each: ``theme_id``, ``name``, ``phrases``, ``count`` (mentions in the window),
        ``previous`` (in the window as long just before it), ``complaints`` (of ``count``,
        those counted as complaints), ``categories`` ({category: n} of its complaints),
        ``sentiments`` ({label: n}), ``posts`` (up to ``posts`` representative mentions:
        ``_id``, ``text``, ``url``, ``source``, ``created_at``), ``size`` (at clustering),
        ``clustered_at``, ``created_at``.
        """
        until = until or utcnow()
        rows = await self.window_summary(brand, since, until, posts=posts)
        for row in rows:
            del row["daily"]
        return rows

    async def daily_complaints(
        self, brand: str, start: datetime, end: datetime
    ) -> dict[str, dict[datetime, int]]:
        """Complaints of each theme of ``brand`` per UTC day in ``[start, end)`` (days with none left out)."""
        pipeline: list[Document] = [
            {
                "$match": {
                    "brand": {"$eq": brand},
                    "created_at": {"$gte": start, "$lt": end},
                    "theme_id": {"$exists": True},
                    "counted.complaint": True,
                }
            },
            {
                "$group": {
                    "_id": {
                        "theme": "$theme_id",
                        "day": {"$dateTrunc": {"date": "$created_at", "unit": "day"}},
                    },
                    "n": {"$sum": 1},
                }
            },
        ]
        found: dict[str, dict[datetime, int]] = {}
        async for row in await self._db.mentions.aggregate(pipeline):
            found.setdefault(row["_id"]["theme"], {})[row["_id"]["day"]] = int(row["n"])
        return found

    async def themed_complaints(
        self, brand: str, since: datetime, until: datetime
    ) -> list[Document]:
        """Each complaint of ``brand`` in a theme created in ``[since, until)``: ``theme_id``, ``created_at``."""
        cursor = self._db.mentions.find(
            {
                "brand": {"$eq": brand},
                "created_at": {"$gte": since, "$lt": until},
                "theme_id": {"$exists": True},
                "counted.complaint": True,
            },
            {"_id": 0, "theme_id": 1, "created_at": 1},
        )
        return [doc async for doc in cursor]

    async def complaints_of(
        self, brand: str, theme_id: str, since: datetime, until: datetime, limit: int = 50
    ) -> list[Document]:
        """Complaints of one theme created in ``[since, until)`` (text, url, scores; no embedding)."""
        cursor = self._db.mentions.find(
            {
                "brand": {"$eq": brand},
                "theme_id": {"$eq": theme_id},
                "created_at": {"$gte": since, "$lt": until},
                "counted.complaint": True,
            },
            {**_POST_FIELDS, "complaint": 1, "sentiment": 1, "engagement": 1},
        ).limit(limit)
        return [doc async for doc in cursor]

    # -- the same, read one theme at a time along ``brand_theme_time`` (the dashboard) -------

    async def mentions_of(
        self,
        brand: str,
        theme_ids: Iterable[str],
        since: datetime | None,
        until: datetime | None,
        fields: Document,
    ) -> dict[str, list[Document]]:
        """Each theme's mentions created in ``[since, until)`` (open ends: no bound), ``fields`` of each.

        One query per theme, all at once, each exactly ``{brand: "<str>", theme_id:
        "<str>", created_at: range}``: the only form the embedded server serves from the
        ``brand_theme_time`` index (with ``$in``, ``$exists`` or any further condition
        it reads every mention). Conditions beyond these are for the caller to check.
        """
        window = time_range(since, until)

        async def one(theme_id: str) -> list[Document]:
            query: Document = {"brand": str(brand), "theme_id": str(theme_id)}
            if window:
                query["created_at"] = window
            return [doc async for doc in self._db.mentions.find(query, fields)]

        ids = sorted({str(theme_id) for theme_id in theme_ids})
        found = await asyncio.gather(*(one(theme_id) for theme_id in ids))
        return dict(zip(ids, found, strict=True))

    async def window_summary(
        self, brand: str, since: datetime, until: datetime, *, posts: int = 3
    ) -> list[Document]:
        """What ``summary`` gives, read along the index (``mentions_of``), each row with
        ``daily`` too: ``{UTC day: complaints}`` of the window (days with none left out)."""
        themes = await self.active(brand)
        if not themes:
            return []
        fields = {"created_at": 1, "counted": 1, "complaint.category": 1}
        found = await self.mentions_of(
            brand, [doc["theme_id"] for doc in themes], since - (until - since), until, fields
        )
        wanted = [m for doc in themes for m in (doc.get("representatives") or [])[:posts]]
        texts = {
            doc["_id"]: doc
            async for doc in self._db.mentions.find({"_id": {"$in": wanted}}, _POST_FIELDS)
        }
        rows = []
        for doc in themes:
            theme_id = doc["theme_id"]
            tally: Document = {"count": 0, "previous": 0, "complaints": 0}
            categories: dict[str, int] = {}
            sentiments: dict[str, int] = {}
            daily: dict[datetime, int] = {}
            for mention in found.get(theme_id, []):
                if mention["created_at"] < since:
                    tally["previous"] += 1
                    continue
                tally["count"] += 1
                counted = mention.get("counted") or {}
                if counted.get("label"):
                    sentiments[counted["label"]] = sentiments.get(counted["label"], 0) + 1
                if counted.get("complaint"):
                    tally["complaints"] += 1
                    category = (mention.get("complaint") or {}).get("category") or "other"
                    categories[category] = categories.get(category, 0) + 1
                    day = mention["created_at"].replace(hour=0, minute=0, second=0, microsecond=0)
                    daily[day] = daily.get(day, 0) + 1
            rows.append(
                {
                    "theme_id": theme_id,
                    "name": doc.get("name") or "",
                    "phrases": list(doc.get("phrases") or []),
                    **tally,
                    "categories": categories,
                    "sentiments": sentiments,
                    "daily": daily,
                    "posts": [
                        texts[m] for m in (doc.get("representatives") or [])[:posts] if m in texts
                    ],
                    "size": int(doc.get("size") or 0),
                    "clustered_at": doc.get("clustered_at"),
                    "created_at": doc.get("created_at"),
                }
            )
        rows.sort(key=lambda r: (-r["count"], -r["size"], r["theme_id"]))
        return rows

    async def latest_complaints(
        self, brand: str, theme_id: str, since: datetime, until: datetime, limit: int = 50
    ) -> list[Document]:
        """A theme's complaints created in ``[since, until)``, newest first, at most ``limit``
        (text, url, source, category; read along the index, as ``mentions_of``)."""
        fields = {**_POST_FIELDS, "counted.complaint": 1, "complaint.category": 1}
        found = await self.mentions_of(brand, [theme_id], since, until, fields)
        docs = [doc for doc in found[str(theme_id)] if (doc.get("counted") or {}).get("complaint")]
        docs.sort(key=lambda doc: (doc["created_at"], doc["_id"]), reverse=True)
        return docs[: max(limit, 0)]

    # -- the re-clustering lease --------------------------------------------------------------

    async def claim_recluster(
        self, brand: str, owner: str, lease: timedelta, *, finished_before: datetime
    ) -> bool:
        """Take the brand's re-clustering unless one finished at or after ``finished_before``.

        True: run it (then ``finish_recluster``). False: it is done recently enough, or
        another process holds it and its lease has not run out.
        """
        now = utcnow()
        try:
            await self._db.maintenance.find_one_and_update(
                {
                    "_id": _marker(brand),
                    "$or": [
                        {"running": False, "finished_at": {"$lt": finished_before}},
                        {"running": True, "lease_expires": {"$lt": now}},
                    ],
                },
                {
                    "$set": {
                        "running": True,
                        "owner": owner,
                        "claimed_at": now,
                        "lease_expires": now + lease,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def renew_recluster(self, brand: str, owner: str, lease: timedelta) -> None:
        """Keep the brand's re-clustering claimed while working on it."""
        await self._db.maintenance.update_one(
            {"_id": _marker(brand), "owner": owner, "running": True},
            {"$set": {"lease_expires": utcnow() + lease}},
        )

    async def finish_recluster(self, brand: str, owner: str) -> None:
        """The brand's re-clustering is done (or given up): free the lease."""
        await self._db.maintenance.update_one(
            {"_id": _marker(brand), "owner": owner},
            {"$set": {"running": False, "finished_at": utcnow()}},
        )
