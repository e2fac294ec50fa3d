"""The dashboard's mention feed: pages newest first, counts, and the sources of a brand.

The embedded server sorts without its indexes, so a page is read period by period
(the last day, then longer periods) until it is full; see ``newest_first``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from goodwill.models import utcnow
from store._common import Document, time_range, translating_errors
from store.queue import CLAIMED, PENDING, SKIPPED

__all__ = ["Feed", "newest_first"]


@translating_errors
class Feed:
    """Pages and counts of mentions matching the dashboard's filters; every value a literal."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def page(
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
        return await newest_first(self._db.mentions, query, since, until, skip, limit)

    async def count(
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

    async def sources(self, brand: str | None = None) -> list[str]:
        """The sources a brand's (or any brand's) mentions are stored under.

        Read from the small ``rollups`` collection, never a scan of mentions. Not from the
        cursors: a cursor is a collection job, and a job's name is not always the source its
        mentions carry (``jetstream`` stores its posts as ``bluesky``), so a filter offering
        it would always come back empty. A source appears once its first mention is counted.
        """
        query: Document = {} if brand is None else {"brand": {"$eq": brand}}
        names = await self._db.rollups.distinct("source", query)
        return sorted(name for name in names if isinstance(name, str))

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
            query["counted.label"] = {"$eq": str(sentiment)}
        window = time_range(since, until)
        if window:
            query["created_at"] = window
        if contains:
            query["text"] = {"$regex": re.escape(str(contains)), "$options": "i"}
        return query


async def newest_first(
    mentions: AsyncCollection[Document],
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
            mentions.find(_in_period(query, bounds), {"raw": 0, "claim": 0, "embedding": 0})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(wanted - len(found))
        )
        found.extend([doc async for doc in cursor])
        if len(found) >= wanted:
            break
    return found[max(skip, 0) : wanted]


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
        narrowed["counted.complaint"] = {"$all": [True]}  # see Complaints.queue
    elif complaint is False:
        narrowed["counted.complaint"] = {"$ne": True}
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
