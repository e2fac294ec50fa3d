"""The dashboard's read-only questions beyond the feed and the queue, each a function of a ``Database``.

Every question is answered from the small ``rollups`` collection where it can be
(volumes, sentiment, complaints and their categories, share of voice), and otherwise from a narrow,
capped read of ``mentions`` served by the ``brand_time`` index: one brand, one
window, a few thousand documents at most. No value from a person ever becomes a
query operator: brands go in with ``$eq``/``$in`` of strings, windows as datetimes.

The embedded server has no text index, so "top terms" are counted here, in Python,
over a capped sample of the window's latest mentions.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from pymongo import DESCENDING

from store import Database
from store._common import Document, translated
from store.rollups import CATEGORY_FIELDS, RATING_COUNTS, category_counts, day_of

__all__ = [
    "ROLLUP_COUNTS",
    "STOP_WORDS",
    "brand_names",
    "brand_rollups",
    "complaint_categories",
    "count_terms",
    "negative_posts",
    "recent_alerts",
    "recent_texts",
    "rising_terms",
    "term_tokens",
]

# The counts a roll-up document may hold (absent = 0), the star ratings' last (store/rollups.py).
ROLLUP_COUNTS = (
    "total",
    "negative",
    "neutral",
    "positive",
    "complaints",
    "unscored",
    *RATING_COUNTS,
)
# At most this many documents are read from ``mentions`` for one question.
_SCAN_CAP = 5000

_POST_FIELDS = {
    "text": 1,
    "title": 1,
    "url": 1,
    "source": 1,
    "brand": 1,
    "created_at": 1,
    "author.handle": 1,
    "author.display_name": 1,
    "author.followers": 1,
    "engagement": 1,
    "sentiment.label": 1,
    "sentiment.score": 1,
    "sentiment.probabilities": 1,
    "complaint.is_complaint": 1,
    "counted": 1,
}


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _strings(values: Iterable[str]) -> list[str]:
    return sorted({str(value) for value in values})


@translated
async def brand_names(store: Database) -> list[str]:
    """Every brand that has been collected (a cursor) or scored (a roll-up).

    Read from the two small collections; ``mentions`` is asked only when both are
    empty (mentions imported without a collection run), as a distinct over it is a
    scan of every mention.
    """
    names = set(await store.collection("rollups").distinct("brand"))
    names.update(await store.collection("cursors").distinct("brand"))
    if not names:
        names.update(await store.collection("mentions").distinct("brand"))
    return sorted(name for name in names if isinstance(name, str))


@translated
async def brand_rollups(
    store: Database, brands: Sequence[str], since: datetime, until: datetime
) -> list[Document]:
    """Daily roll-ups of several brands for the days in ``[since, until)``.

    One document per brand x day x source with ``brand``, ``day``, ``source`` and
    every count of ``ROLLUP_COUNTS`` (0 where the scorer never wrote it), ordered by
    brand, day and source.
    """
    names = _strings(brands)
    collection = store.collection("rollups")

    async def one(brand: str) -> list[Document]:
        # One query per brand, all at once: each an index range (brand, day), and
        # the server answers them side by side (twice as fast as one $in here).
        query: Document = {"brand": {"$eq": brand}, "day": {"$gte": since, "$lt": until}}
        return [doc async for doc in collection.find(query, {"_id": 0})]

    docs = [
        {
            "brand": str(doc["brand"]),
            "day": doc["day"],
            "source": str(doc.get("source", "")),
            **{name: int(doc.get(name, 0) or 0) for name in ROLLUP_COUNTS},
        }
        for part in await asyncio.gather(*(one(name) for name in names))
        for doc in part
    ]
    return sorted(docs, key=lambda doc: (doc["brand"], doc["day"], doc["source"]))


@translated
async def complaint_categories(
    store: Database, brand: str, since: datetime, until: datetime
) -> list[Document]:
    """``brand``'s complaints per UTC day and category, days in ``[since, until)``, by day then category.

    Each ``{day, category, complaints}`` (categories with none left out); a complaint
    counts as its counted verdict says (a person's correction included), under the
    model's category, ``other`` where it gave none. Read from the daily roll-ups
    (``complaints_<category>``, summed over sources): one index range of small documents
    however many mentions the window holds.
    """
    query: Document = {"brand": {"$eq": str(brand)}, "day": {"$gte": day_of(since), "$lt": until}}
    fields = {"_id": 0, "day": 1, **dict.fromkeys(CATEGORY_FIELDS.values(), 1)}
    counts: Counter[tuple[datetime, str]] = Counter()
    async for doc in store.collection("rollups").find(query, fields):
        for category, n in category_counts(doc).items():
            counts[(doc["day"], category)] += n
    return [
        {"day": day, "category": category, "complaints": n}
        for (day, category), n in sorted(counts.items())
        if n > 0
    ]


def _engagement(doc: Document) -> int:
    values = (doc.get("engagement") or {}).values()
    return sum(int(value) for value in values if isinstance(value, int | float))


def _negativity(doc: Document) -> float:
    sentiment = doc.get("sentiment") or {}
    probability = (sentiment.get("probabilities") or {}).get("negative")
    if isinstance(probability, int | float):
        return float(probability)
    return float(sentiment.get("score") or 0.0) if sentiment.get("label") == "negative" else 0.0


@translated
async def negative_posts(
    store: Database, brand: str, since: datetime, until: datetime, *, limit: int = 5
) -> list[Document]:
    """The posts behind a negative spike: ``brand``'s negative mentions in ``[since, until)``.

    Ranked by how negative (the model's probability) times how far they travelled
    (``1 + log10(1 + engagement)``), highest first; each has ``engagement_total`` and
    ``negativity`` added. Reads at most a few thousand mentions of that window.
    """
    query: Document = {
        # ``$all: [brand]`` is ``== brand``; so written, the embedded server serves the
        # range from the ``created`` index instead of reading every mention of the brand.
        "brand": {"$all": [str(brand)]},
        "created_at": {"$gte": since, "$lt": until},
        "counted.label": {"$eq": "negative"},
    }
    cursor = store.collection("mentions").find(query, _POST_FIELDS).limit(_SCAN_CAP)
    docs = [doc async for doc in cursor]
    for doc in docs:
        doc["engagement_total"] = _engagement(doc)
        doc["negativity"] = _negativity(doc)
    docs.sort(
        key=lambda doc: (
            doc["negativity"] * (1 + math.log10(1 + doc["engagement_total"])),
            doc["created_at"],
        ),
        reverse=True,
    )
    return docs[: max(limit, 0)]


@translated
async def recent_texts(
    store: Database,
    brand: str,
    since: datetime,
    until: datetime,
    *,
    limit: int = 2000,
    label: str | None = None,
) -> list[str]:
    """The texts of ``brand``'s latest mentions in ``[since, until)``, at most ``limit``.

    ``label`` keeps only the mentions counted with that sentiment (``counted.label``:
    the model's, or a person's correction). The window is read newest day first, a day
    at a time, until ``limit`` texts are in hand: each read is a narrow range of the
    ``brand_time`` index, so the cost stays that of the sample however long the window
    is. The label is checked here rather than in the query: any condition beside the
    brand and the range makes the embedded server read every mention of the brand.
    """
    texts: list[str] = []
    collection = store.collection("mentions")
    upper, reach = until, timedelta(days=1)
    fields = {"_id": 0, "text": 1, "title": 1, "counted.label": 1}
    while upper > since and len(texts) < limit:
        lower = max(since, upper - reach)
        # Exactly {brand: "<str>", created_at: range}: the form the embedded server
        # serves from the brand_time index (a str is always a literal, never an operator).
        query: Document = {"brand": str(brand), "created_at": {"$gte": lower, "$lt": upper}}
        cursor = collection.find(query, fields)
        if label is None:
            cursor = cursor.limit(limit - len(texts))
        async for doc in cursor:
            if label is not None and (doc.get("counted") or {}).get("label") != label:
                continue
            parts = (str(doc.get("title") or ""), str(doc.get("text") or ""))
            texts.append(" ".join(part for part in parts if part))
            if len(texts) >= limit:
                break
        upper = lower
        reach = min(reach * 2, timedelta(days=32))  # quiet brands: fewer, wider reads
    return texts


_TOKEN = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]{2}", re.UNICODE)
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|&\w+;", re.UNICODE)

_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each even ever every few for from further get gets getting
    got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
    him himself his how how's however i i'd i'll i'm i've if im in into is isn't it it's its itself
    just let's like made make many may me might more most much must mustn't my myself need never
    no nor not now of off on once one only or other ought our ours ourselves out over own really
    said same say says see she she'd she'll she's should shouldn't since so some still such than
    that that's the their theirs them themselves then there there's these they they'd they'll
    they're they've thing things this those though through to too two under until up upon us
    very via was wasn't way we we'd we'll we're we've well were weren't what what's when when's
    where where's which while who who's whom why why's will with without won't would wouldn't
    yet you you'd you'll you're you've your yours yourself yourselves amp rt dm pls please thanks
    thank ok okay lol yes yeah hi hey going go know want today now new time back day
    """
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def term_tokens(text: str) -> list[str]:
    """The words of ``text``, lower-cased; links, @handles, #tags and entities left out."""
    cleaned = _NOISE.sub(" ", text.lower())
    return [token.replace("’", "'").strip("'-") for token in _TOKEN.findall(cleaned)]


def _excluded(exclude: Iterable[str]) -> set[str]:
    excluded = set(STOP_WORDS)
    for name in exclude:
        excluded.update(term_tokens(name))
        excluded.add(name.casefold())
    return excluded


def _document_counts(texts: Iterable[str], excluded: set[str]) -> Counter[str]:
    """How many of ``texts`` use each word (once per text) of 3+ letters not in ``excluded``."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(
            {token for token in term_tokens(text) if len(token) >= 3 and token not in excluded}
        )
    return counts


def count_terms(
    texts: Iterable[str], *, exclude: Iterable[str] = (), top: int = 20
) -> list[tuple[str, int]]:
    """The ``top`` most frequent words over ``texts`` with their counts, most frequent first.

    Stop-words, words shorter than three letters, and every word of ``exclude`` (the
    brands' names, which every mention contains) are left out; each text counts a
    word once, so one long rant does not make a trend.
    """
    counts = _document_counts(texts, _excluded(exclude))
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[: max(top, 0)]


def rising_terms(
    now: Sequence[str],
    before: Sequence[str],
    *,
    exclude: Iterable[str] = (),
    top: int = 15,
    min_count: int = 3,
    smoothing: float = 2.0,
) -> list[tuple[str, int, int, float]]:
    """The words whose use rose most from ``before`` to ``now``: ``(word, now, before, lift)``.

    Counted as ``count_terms`` counts (once per text, stop-words and ``exclude`` left
    out). A word's share of texts in each sample is smoothed by adding ``smoothing`` to
    its count and to the sample's size, so a word absent before does not rise
    infinitely; ``lift`` is its share now over its share before. Kept: words in at
    least ``min_count`` texts now whose lift is above 1; highest lift first, then most
    used now.
    """
    excluded = _excluded(exclude)
    counts_now = _document_counts(now, excluded)
    counts_before = _document_counts(before, excluded)
    size_now, size_before = len(now) + smoothing, len(before) + smoothing
    rows = []
    for word, count in counts_now.items():
        if count < min_count:
            continue
        earlier = counts_before.get(word, 0)
        lift = ((count + smoothing) / size_now) / ((earlier + smoothing) / size_before)
        if lift > 1:
            rows.append((word, count, earlier, lift))
    rows.sort(key=lambda row: (-row[3], -row[1], row[0]))
    return rows[: max(top, 0)]


@translated
async def recent_alerts(
    store: Database, *, limit: int = 50, brand: str | None = None
) -> list[Document]:
    """The latest alerts of the outbox, newest first, payloads left out (``created`` index)."""
    query: Document = {} if brand is None else {"brand": {"$eq": str(brand)}}
    cursor = (
        store.collection("alerts")
        .find(query, {"payload": 0})
        .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        .limit(max(limit, 0))
    )
    return [doc async for doc in cursor]
