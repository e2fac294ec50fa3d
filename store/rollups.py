"""Daily roll-ups: scored mentions counted per brand x UTC day x source, exact across crashes.

The dashboard, the alert engine and the digest read these small documents instead of
scanning ``mentions``. The scorer moves each batch into them incrementally (``$inc``),
and since a batch's scores (in ``mentions``) and its counts (in ``rollups``) are two
writes to two collections, a scorer killed between them would leave the counts short
forever. So every batch goes through three steps:

1. ``begin``: push an *in-flight* entry (the claim's token and an expiry) onto each
   roll-up document the batch will touch;
2. the scores are written to the mentions;
3. ``commit``: one atomic update per roll-up document adds the batch's counts, bumps the
   document's version ``v`` and pulls the batch's entry. A batch whose entry is gone
   (repaired meanwhile) adds nothing.

A scorer that dies between 1 and 3 leaves an entry that expires. ``repair`` then
*recounts* those documents from the mentions (an aggregation over one day) and writes
the counts only if nothing moved meanwhile: the version is the one read before the
recount and no batch is in flight on the document (optimistic concurrency), so a
recount never races a live batch into double counting. ``rebuild`` recounts every day
the same way, for an operator who wants to be sure (``goodwill rollups rebuild``).

What is counted is each mention's ``counted`` verdict: the model's sentiment and complaint
verdict, or a person's correction where there is one (``counted_of``). A scored mention
counts once in ``total`` and once in its label; ``complaints`` counts those whose counted
verdict is a complaint. A mention the model cannot read (another language) counts in
``unscored`` and in ``unscored_<language>``, never in a sentiment: volume is
``total + unscored``, sentiment shares are over ``total``.

Star ratings (App Store reviews) are a signal beside the model, never over it: a rated
mention's ``counted`` carries its ``stars`` (1-5, whole), and it counts once in ``rated``
and its stars in ``stars`` (average = ``stars / rated``), whether the model read it or
not. Stars map to a sentiment as ``stars_label`` says (1-2 negative, 3 neutral, 4-5
positive); a rated mention with a counted sentiment counts in ``rated_scored``, in
``stars_agree`` when the stars' sentiment is its counted one, and in ``stars_clash`` when
they are opposite (negative stars and a positive verdict, or the other way round). The
sentiment counts themselves stay the counted verdict's. A document written before these
fields existed lacks them: read them as 0.

Complaints also count per category: a mention whose counted verdict is a complaint carries
its ``category`` in ``counted`` (the model's category: a correction says whether a post is
a complaint, never what about), and counts once in ``complaints_<field>`` of that category
(``CATEGORY_FIELDS``). Only the categories the detector gives have a field; any other
name, or none, counts as ``other``, so no field is ever named from a mention's text. The
category counts of a document add up to ``complaints``; one written before them lacks
them (a database opened by this version recounts its complaints' days once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from goodwill.models import utcnow
from store._common import Document, translating_errors

__all__ = [
    "CATEGORY_FIELDS",
    "COUNTS",
    "INDEXES",
    "INFLIGHT_LEASE",
    "RATING_COUNTS",
    "UNSCORED",
    "Key",
    "RebuildStats",
    "Rollups",
    "bucket",
    "category_counts",
    "category_field",
    "category_name",
    "counted_of",
    "day_of",
    "key_of",
    "moved",
    "stars_label",
    "stars_of",
]

INDEXES: dict[str, list[IndexModel]] = {
    "rollups": [
        IndexModel(
            [("brand", ASCENDING), ("day", ASCENDING), ("source", ASCENDING)],
            unique=True,
            name="brand_day_source",
        ),
        # Batches a scorer began and never committed (this module).
        IndexModel([("inflight.expires", ASCENDING)], name="inflight", sparse=True),
    ],
}
Key = tuple[str, datetime, str]  # (brand, day, source)
#: The star-rating counts of a roll-up document (see the module's docstring).
RATING_COUNTS = ("rated", "stars", "rated_scored", "stars_agree", "stars_clash")
COUNTS = ("total", "positive", "neutral", "negative", "complaints", "unscored", *RATING_COUNTS)
_LABELS = ("positive", "neutral", "negative")
#: The counted label of a mention the model did not score (another language).
UNSCORED = "unscored"
#: The field each complaint category counts in (see the module's docstring), by the name the
#: detector gives: the nine of ``scoring/categories.py`` (the model's), then those of the
#: word rule of the first generation (``scoring/complaints.py``), which a model trained
#: without a kind head still gives. A test keeps them in step with those two lists.
CATEGORY_FIELDS: Mapping[str, str] = {
    "safety": "complaints_safety",
    "account_or_login": "complaints_account_or_login",
    "billing_refund_pricing": "complaints_billing_refund_pricing",
    "delivery": "complaints_delivery",
    "outage_or_bug": "complaints_outage_or_bug",
    "order_or_booking": "complaints_order_or_booking",
    "product_quality": "complaints_product_quality",
    "customer_service": "complaints_customer_service",
    "other": "complaints_other",
    "cancellation": "complaints_rule_cancellation",
    "delay": "complaints_rule_delay",
    "lost or damaged baggage": "complaints_rule_lost_or_damaged_baggage",
    "billing/refund": "complaints_rule_billing_refund",
    "booking/website": "complaints_rule_booking_website",
    "defect/outage": "complaints_rule_defect_outage",
    "staff": "complaints_rule_staff",
    "customer service": "complaints_rule_customer_service",
    "onboard experience": "complaints_rule_onboard_experience",
}
_CATEGORY_OF_FIELD = {field: name for name, field in CATEGORY_FIELDS.items()}
# Fields of a roll-up document that are not counts.
_NOT_COUNTS = frozenset({"_id", "brand", "day", "source", "inflight", "v"})
# How long a batch may take between ``begin`` and ``commit`` before its entry counts as dead.
INFLIGHT_LEASE = timedelta(minutes=5)


def day_of(moment: datetime) -> datetime:
    """The UTC day a moment falls in (the roll-ups' unit)."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def key_of(mention: Mapping[str, Any]) -> Key:
    """The roll-up document a mention counts in."""
    return (mention["brand"], day_of(mention["created_at"]), mention["source"])


def stars_of(rating: object) -> int | None:
    """A mention's ``rating`` (1-5) as whole stars (rounded half up); ``None`` when it has none."""
    if isinstance(rating, bool) or not isinstance(rating, int | float) or not 1 <= rating <= 5:
        return None
    return int(rating + 0.5)


def stars_label(stars: int) -> str:
    """The sentiment a star rating says: 1-2 negative, 3 neutral, 4-5 positive."""
    return "negative" if stars <= 2 else "neutral" if stars == 3 else "positive"


def category_name(category: object) -> str:
    """The category a complaint counts under: ``category`` where it has a field, else ``other``."""
    return category if isinstance(category, str) and category in CATEGORY_FIELDS else "other"


def category_field(category: object) -> str:
    """The roll-up field a complaint of ``category`` counts in (``other``'s for a name not listed)."""
    return CATEGORY_FIELDS[category_name(category)]


def category_counts(doc: Mapping[str, Any]) -> dict[str, int]:
    """A roll-up document's complaints per category (by name), categories with none left out."""
    counts: dict[str, int] = {}
    for field, name in _CATEGORY_OF_FIELD.items():
        value = doc.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value:
            counts[name] = value
    return counts


def counted_of(
    label: str | None,
    complaint: bool,
    correction: Mapping[str, Any] | None = None,
    language: str | None = None,
    *,
    rating: object = None,
    category: object = None,
) -> Document:
    """What a mention counts as: a person's correction where it judged, else the model's.

    ``label`` is the model's sentiment label, or ``UNSCORED`` with the ``language`` of a
    mention the model did not score. A correction's ``sentiment`` / ``complaint`` replace
    the model's where not ``None``. A mention's star ``rating`` is kept beside the verdict
    (``stars``), never in place of it. A mention counted a complaint carries the model's
    ``category`` (``other`` where it gave none, or one not in ``CATEGORY_FIELDS``).
    """
    fix = correction or {}
    corrected = fix.get("sentiment")
    flag = fix.get("complaint")
    counted: Document = {
        "label": corrected if corrected in _LABELS else label,
        "complaint": bool(flag) if flag is not None else bool(complaint),
    }
    if counted["label"] == UNSCORED:
        counted["language"] = language or "und"
    if counted["complaint"]:
        counted["category"] = category_name(category)
    stars = stars_of(rating)
    if stars is not None:
        counted["stars"] = stars
    return counted


def bucket(counted: Mapping[str, Any] | None) -> dict[str, int]:
    """The counts one mention adds to its roll-up document."""
    if not counted or counted.get("label") is None:
        return {}
    label = counted["label"]
    counts: dict[str, int]
    if label == UNSCORED:
        counts = {UNSCORED: 1, f"{UNSCORED}_{counted.get('language') or 'und'}": 1}
    else:
        counts = {"total": 1, label: 1, "complaints": int(bool(counted.get("complaint")))}
        if counts["complaints"]:
            counts[category_field(counted.get("category"))] = 1
    stars = stars_of(counted.get("stars"))
    if stars is not None:
        counts.update(rated=1, stars=stars)
        if label in _LABELS:
            said = stars_label(stars)
            counts.update(
                rated_scored=1,
                stars_agree=int(said == label),
                stars_clash=int({said, label} == {"positive", "negative"}),
            )
    return counts


def moved(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, int]:
    """What a mention's counts change by when it goes from ``old`` to ``new`` counted."""
    change = {name: -count for name, count in bucket(old).items()}
    for name, count in bucket(new).items():
        change[name] = change.get(name, 0) + count
    return {name: count for name, count in change.items() if count}


def _key_filter(key: Key) -> Document:
    brand, day, source = key
    return {"brand": brand, "day": day, "source": source}


def _unchanged_since(doc: Document) -> Document:
    """A filter that matches ``doc`` only while no batch began or committed on it since it was read."""
    tokens = [entry["token"] for entry in doc.get("inflight") or ()]
    query: Document = {"_id": doc["_id"]}
    query["v"] = doc.get("v", {"$exists": False})
    if tokens:
        query["inflight"] = {"$size": len(tokens)}
        query["inflight.token"] = {"$all": tokens}
    else:
        query["$or"] = [{"inflight": {"$exists": False}}, {"inflight": {"$size": 0}}]
    return query


@dataclass(frozen=True)
class RebuildStats:
    """What a recount did: documents corrected, found right, and left busy (batches in flight)."""

    days: int = 0
    fixed: int = 0
    unchanged: int = 0
    busy: int = 0

    def __add__(self, other: RebuildStats) -> RebuildStats:
        return RebuildStats(
            self.days + other.days,
            self.fixed + other.fixed,
            self.unchanged + other.unchanged,
            self.busy + other.busy,
        )


@translating_errors
class Rollups:
    """The ``rollups`` collection, kept by the scorer; see the module's docstring."""

    def __init__(
        self, rollups: AsyncCollection[Document], mentions: AsyncCollection[Document]
    ) -> None:
        self._rollups = rollups
        self._mentions = mentions

    async def window(self, brand: str, since: datetime, until: datetime) -> list[Document]:
        """One brand's daily roll-ups for the days in ``[since, until)``, oldest first.

        One document per day x source, with the counts ``total``, ``negative``,
        ``neutral`` and ``positive`` (a count the scorer never touched is absent).
        """
        query: Document = {"brand": {"$eq": brand}, "day": {"$gte": day_of(since), "$lt": until}}
        cursor = self._rollups.find(query, {"_id": 0, "inflight": 0, "v": 0})
        return sorted([doc async for doc in cursor], key=lambda doc: (doc["day"], doc["source"]))

    async def begin(self, token: str, keys: Iterable[Key], expires: datetime) -> None:
        """Mark ``keys`` as touched by the batch ``token`` (until ``expires``) before its scores are written."""
        entry = {"token": token, "expires": expires}
        ops = [
            UpdateOne(_key_filter(key), {"$push": {"inflight": entry}}, upsert=True)
            for key in sorted(set(keys))
        ]
        await self._bulk(ops)

    async def commit(self, token: str, increments: Mapping[Key, Mapping[str, int]]) -> None:
        """Add a batch's counts and end its in-flight entries, each document in one update.

        ``increments`` names every key ``begin`` was given (an empty change still ends
        the entry). A key whose entry a repair already took adds nothing: the repair's
        recount included whatever the batch wrote.
        """
        ops = []
        for key, counts in increments.items():
            change = {name: value for name, value in counts.items() if value}
            ops.append(
                UpdateOne(
                    {**_key_filter(key), "inflight.token": token},
                    {"$inc": {**change, "v": 1}, "$pull": {"inflight": {"token": token}}},
                )
            )
        await self._bulk(ops)

    async def recount(self, mentions: Iterable[Mapping[str, Any]]) -> RebuildStats:
        """Recount the documents these mentions count in (after mentions were removed).

        A document a live batch is working on is left (``busy``); its batch's commit and
        the next ``rebuild`` keep it right.
        """
        pairs: dict[datetime, set[tuple[str, str]]] = {}
        for mention in mentions:
            brand, day, source = key_of(mention)
            pairs.setdefault(day, set()).add((brand, source))
        total = RebuildStats()
        for day, only in sorted(pairs.items()):
            total += await self._recount_day(day, only, utcnow())
        return total

    async def repair(self, now: datetime | None = None) -> RebuildStats:
        """Recount the documents that a batch left in flight past its expiry (a dead scorer)."""
        now = now or utcnow()
        stale: dict[datetime, set[tuple[str, str]]] = {}
        async for doc in self._rollups.find(
            {"inflight.expires": {"$lt": now}}, {"brand": 1, "day": 1, "source": 1}
        ):
            stale.setdefault(doc["day"], set()).add((doc["brand"], doc["source"]))
        total = RebuildStats()
        for day, pairs in sorted(stale.items()):
            total += await self._recount_day(day, pairs, now)
        return total

    async def rebuild(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        attempts: int = 5,
        pause: float = 1.0,
    ) -> RebuildStats:
        """Recount every day's documents from the mentions; ``progress(done, days)`` per day.

        Days where a live batch was working on a document are tried again (``attempts``
        times, ``pause`` seconds apart); documents still busy after that are in ``busy``.
        """
        days = {day_of(doc["_id"]) async for doc in await self._mentions.aggregate(_DAYS)}
        days.update(await self._rollups.distinct("day"))
        ordered = sorted(days)
        total = RebuildStats(days=len(ordered))
        retry: list[datetime] = []
        for done, day in enumerate(ordered, start=1):
            stats = await self._recount_day(day, None, utcnow())
            total += RebuildStats(fixed=stats.fixed, unchanged=stats.unchanged)
            if stats.busy:
                retry.append(day)
            if progress is not None:
                progress(done, len(ordered))
        busy = 0
        for _ in range(attempts):
            if not retry:
                break
            await asyncio.sleep(pause)
            days_left, retry, busy = retry, [], 0
            for day in days_left:
                stats = await self._recount_day(day, None, utcnow())
                total += RebuildStats(fixed=stats.fixed)
                if stats.busy:
                    retry.append(day)
                    busy += stats.busy
        return total + RebuildStats(busy=busy if retry else 0)

    async def _recount_day(
        self, day: datetime, only: set[tuple[str, str]] | None, now: datetime
    ) -> RebuildStats:
        """Recount one day's documents (all, or the ``only`` (brand, source) pairs)."""
        query: Document = {"day": day}
        match: Document = {
            "created_at": {"$gte": day, "$lt": day + timedelta(days=1)},
            "counted.label": {"$exists": True},
        }
        if only is not None and len(only) == 1:
            [(brand, source)] = only
            query.update(brand=brand, source=source)
            match.update(brand=brand, source=source)
        # Read the documents (their versions) before the mentions: a batch that commits
        # in between changes the version, and the conditional write below then refuses.
        docs = {(doc["brand"], doc["source"]): doc async for doc in self._rollups.find(query)}
        counted = await self._count(match)
        fixed = unchanged = busy = 0
        for pair in sorted(set(docs) | set(counted)):
            if only is not None and pair not in only:
                continue
            doc = docs.get(pair)
            counts = dict.fromkeys(COUNTS, 0)
            counts.update({name: 0 for name in (doc or {}) if name not in _NOT_COUNTS})
            counts.update(counted.get(pair, {}))
            if doc is None:
                if not counts["total"] and not counts[UNSCORED]:
                    continue
                try:
                    await self._rollups.update_one(
                        {**_key_filter((pair[0], day, pair[1])), "v": {"$exists": False}},
                        {"$set": {**counts, "inflight": []}, "$inc": {"v": 1}},
                        upsert=True,
                    )
                except DuplicateKeyError:  # a batch created it meanwhile
                    busy += 1
                    continue
                fixed += 1
                continue
            inflight = doc.get("inflight") or ()
            if any(entry["expires"] >= now for entry in inflight):
                busy += 1
                continue
            if not inflight and all(int(doc.get(name, 0)) == counts[name] for name in counts):
                unchanged += 1
                continue
            result = await self._rollups.update_one(
                _unchanged_since(doc), {"$set": {**counts, "inflight": []}, "$inc": {"v": 1}}
            )
            if result.matched_count:
                fixed += 1
            else:
                busy += 1
        return RebuildStats(0, fixed, unchanged, busy)

    async def _count(self, match: Document) -> dict[tuple[str, str], dict[str, int]]:
        pipeline: list[Document] = [
            {"$match": match},
            {
                "$group": {
                    "_id": {
                        "brand": "$brand",
                        "source": "$source",
                        "label": "$counted.label",
                        "language": "$counted.language",
                        "stars": "$counted.stars",
                        "complaint": "$counted.complaint",
                        "category": "$counted.category",
                    },
                    "n": {"$sum": 1},
                }
            },
        ]
        counted: dict[tuple[str, str], dict[str, int]] = {}
        async for row in await self._mentions.aggregate(pipeline):
            group = row["_id"]
            counts = counted.setdefault((group["brand"], group["source"]), {})
            # Each group is what ``bucket`` adds for one of its mentions, ``n`` times over:
            # a recount is exactly the sum the batches and corrections moved.
            one = bucket(
                {
                    "label": group["label"],
                    "language": group.get("language"),
                    "stars": group.get("stars"),
                    "complaint": group.get("complaint") is True,
                    "category": group.get("category"),
                }
            )
            for name, count in one.items():
                counts[name] = counts.get(name, 0) + count * int(row["n"])
        return counted

    async def _bulk(self, ops: list[UpdateOne]) -> None:
        """Run ``ops``; an upsert that lost a race to create the same document runs again."""
        for _ in range(3):
            if not ops:
                return
            try:
                await self._rollups.bulk_write(ops, ordered=False)
                return
            except BulkWriteError as error:
                errors = error.details.get("writeErrors", [])
                if any(item.get("code") != 11000 for item in errors):
                    raise
                ops = [ops[item["index"]] for item in errors]
        await self._rollups.bulk_write(ops, ordered=False)


# Every UTC day that has a scored mention (for ``rebuild``).
_DAYS: list[Document] = [
    {"$match": {"counted.label": {"$exists": True}}},
    {"$group": {"_id": {"$dateTrunc": {"date": "$created_at", "unit": "day"}}}},
]
