"""Benchmark: the dashboard's page queries at scale, roll-ups against the raw collection.

Starts its own SecantusDB server (a separate process, as Goodwill runs it), loads
``--mentions`` scored mentions (default 1,000,000) of the corpus's six airlines over
``--days`` days from several sources, with the daily roll-ups the scorer would have
written for them, a cursor per brand x source and a few hundred alerts. Mentions go
in with ``insert_many`` of pre-scored documents from ``--workers`` processes.

Then, for each page, it times the queries the page makes on a cache miss (the
dashboard caches them for 5 to 120 s) ``--repeats`` times and prints the median and
the 95th percentile, next to the same questions answered from the raw ``mentions``
collection without roll-ups (aggregations over mentions), in the same run.

Run from the repository root::

    .venv/bin/python -m bench.dashboard [--mentions 1000000] [--workers 4] [--repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database as SyncDatabase

from bench._db import embedded_server
from goodwill.corpus import AIRLINES, load_airline_tweets
from store import Database, insights
from store.rollups import bucket, counted_of

_DATABASE = "bench_dashboard"
_SOURCES = ("reddit", "bluesky", "hackernews", "mastodon", "youtube")
_SOURCE_WEIGHTS = (40, 25, 10, 15, 10)
_CHUNK = 10_000  # mentions per task handed to a loading process
_BATCH = 1_000  # mentions per insert_many
_WINDOW_DAYS = 30
# Complaint themes: each brand has this many, and this share of negative posts is in one.
_THEMES = 20
_THEMED = 0.7
_CATEGORIES = ("delivery", "billing_refund_pricing", "customer_service", "other")

RollupKey = tuple[str, datetime, str]

# -- loading -------------------------------------------------------------------------------

_texts: list[tuple[str, str, str]] = []  # (text, label, brand), per loading process
_client: MongoClient[dict[str, Any]] | None = None


def _init_loader(uri: str) -> None:
    global _client
    _texts.extend(
        (tweet.text, tweet.label.value, tweet.brand) for tweet in load_airline_tweets("all")
    )
    _client = MongoClient(uri, tz_aware=True)


def _documents(first: int, count: int, now: datetime, days: int) -> Iterator[dict[str, Any]]:
    """Mentions ``first`` .. ``first + count - 1``, scored, as the scorer leaves them."""
    rng = random.Random(first)
    seconds = days * 86_400
    for number in range(first, first + count):
        text, label, brand = _texts[number % len(_texts)]
        created = now - timedelta(seconds=rng.uniform(0, seconds))
        probability = rng.uniform(0.5, 0.99)
        rest = (1 - probability) / 2
        source = rng.choices(_SOURCES, _SOURCE_WEIGHTS)[0]
        user = rng.randrange(200_000)
        doc: dict[str, Any] = {
            "_id": ObjectId(),
            "source": source,
            "external_id": f"b{number}",
            "brand": brand,
            "text": text,
            "title": None,
            "url": f"https://example.com/{source}/{number}",
            "author": {
                "id": f"u{user}",
                "handle": f"user{user}",
                "display_name": None,
                "followers": rng.randrange(5_000),
            },
            "lang": "en",
            "created_at": created,
            "engagement": {"likes": int(rng.paretovariate(1.5)) - 1, "replies": rng.randrange(5)},
            "raw": {},
            "fingerprint": f"f{number % len(_texts)}",
            "collected_at": created + timedelta(minutes=5),
            "score_state": "scored",
            "sentiment": {
                "label": label,
                "score": probability,
                "probabilities": {
                    name: probability if name == label else rest
                    for name in ("negative", "neutral", "positive")
                },
                "model_version": "bench",
            },
            "scored_at": created + timedelta(minutes=6),
        }
        if label == "negative" and rng.random() < _THEMED:
            doc["theme_id"] = f"T{rng.randrange(_THEMES) + 1}"
        if label == "negative" and rng.random() < 0.4:
            doc["complaint"] = {
                "is_complaint": True,
                "kind": "complaint",
                "category": rng.choice(_CATEGORIES),
                "score": 0.9,
                "reasons": ["names a failure"],
            }
            if now - created > timedelta(days=14) or rng.random() < 0.5:
                doc["handling"] = {"state": "resolved", "assignee": "bench", "tags": []}
        elif label != "negative" or rng.random() < 0.5:
            doc["complaint"] = {"is_complaint": False, "kind": "other", "reasons": []}
        verdict = doc.get("complaint") or {}
        doc["counted"] = counted_of(
            label, bool(verdict.get("is_complaint")), category=verdict.get("category")
        )
        if number % 1000 == 0:  # a few still wait for the scorer
            doc["score_state"] = "pending"
            del doc["sentiment"], doc["scored_at"], doc["counted"]
        yield doc


def _load_chunk(task: tuple[int, int, datetime, int]) -> tuple[int, Counter[tuple[RollupKey, str]]]:
    """Insert one chunk; return its roll-up increments, as the scorer would have made them."""
    first, count, now, days = task
    assert _client is not None
    collection = _client[_DATABASE]["mentions"]
    counts: Counter[tuple[RollupKey, str]] = Counter()
    batch: list[dict[str, Any]] = []
    for doc in _documents(first, count, now, days):
        if doc["score_state"] == "scored":
            key = (doc["brand"], _midnight(doc["created_at"]), doc["source"])
            for name, add in bucket(doc["counted"]).items():  # what the scorer adds
                counts[(key, name)] += add
        batch.append(doc)
        if len(batch) == _BATCH:
            collection.insert_many(batch, ordered=False)
            batch = []
    if batch:
        collection.insert_many(batch, ordered=False)
    return count, counts


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _load(uri: str, mentions: int, days: int, workers: int, now: datetime) -> float:
    """Load mentions, roll-ups, cursors and alerts; return the seconds it took."""
    began = time.perf_counter()
    asyncio.run(_create_indexes(uri))
    tasks = [
        (first, min(_CHUNK, mentions - first), now, days) for first in range(0, mentions, _CHUNK)
    ]
    totals: Counter[tuple[RollupKey, str]] = Counter()
    done = 0
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_loader, initargs=(uri,)) as pool:
        for count, counts in pool.imap_unordered(_load_chunk, tasks):
            totals.update(counts)
            done += count
            elapsed = time.perf_counter() - began
            print(
                f"  loaded {done:,} / {mentions:,} mentions ({done / elapsed:,.0f}/s, {elapsed:,.0f} s)",
                flush=True,
            )
    rollups: dict[RollupKey, dict[str, int]] = {}
    for (key, name), value in totals.items():
        rollups.setdefault(key, {})[name] = value
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, tz_aware=True) as client:
        db: SyncDatabase[dict[str, Any]] = client[_DATABASE]
        docs = [
            {"brand": brand, "day": day, "source": source, **counts}
            for (brand, day, source), counts in rollups.items()
        ]
        for start in range(0, len(docs), _BATCH):
            db.rollups.insert_many(docs[start : start + _BATCH], ordered=False)
        db.cursors.insert_many(
            [
                {
                    "brand": brand,
                    "source": source,
                    "cursor": {"offset": 1},
                    "last_success": now,
                    "last_error": None if source != "youtube" else "HTTP 403 quota exceeded",
                    "collected": mentions // 30,
                    "coverage": {"fetched": mentions // 25, "matched": mentions // 30},
                }
                for brand in AIRLINES.values()
                for source in _SOURCES
            ]
        )
        db.alerts.insert_many(
            [
                {
                    "dedupe_key": f"spike|{number}",
                    "rule": "negative_spike",
                    "brand": list(AIRLINES.values())[number % len(AIRLINES)],
                    "destination": "slack",
                    "created_at": now - timedelta(hours=number),
                    "payload": {"text": "Negative mentions up 3x"},
                    "state": "sent" if number % 7 else "failed",
                    "attempts": 1,
                    "sent_at": now - timedelta(hours=number),
                    "last_error": None,
                }
                for number in range(500)
            ]
        )
        print(f"  {len(docs):,} roll-up documents", flush=True)
        db.themes.insert_many(
            [
                {
                    "_id": f"{brand}|T{number}",
                    "brand": brand,
                    "theme_id": f"T{number}",
                    "status": "active",
                    "name": f"theme {number}",
                    "phrases": [f"theme {number}"],
                    "size": 100,
                    "representatives": [],
                    "clustered_at": now,
                    "created_at": now,
                }
                for brand in AIRLINES.values()
                for number in range(1, _THEMES + 1)
            ]
        )
        # One advocacy document per person x brand, as the scorer keeps them: one per
        # ten mentions (people mention a brand more than once).
        rng = random.Random(7)
        people = [
            {
                "_id": f"p_{number:016x}|{brand}",
                "profile_id": f"p_{number:016x}",
                "brand": brand,
                "score": (score := rng.uniform(-100, 100)),
                "tier": "advocate" if score >= 20 else "detractor" if score <= -20 else "neutral",
                "mentions": rng.randrange(1, 20),
                "last_mention_at": now - timedelta(days=rng.uniform(0, days)),
                "as_of": now,
            }
            for number in range(max(1, mentions // 10))
            for brand in [list(AIRLINES.values())[number % len(AIRLINES)]]
        ]
        for start in range(0, len(people), _BATCH):
            db.advocacy.insert_many(people[start : start + _BATCH], ordered=False)
        print(f"  {len(people):,} advocacy documents", flush=True)
    return time.perf_counter() - began


async def _create_indexes(uri: str) -> None:
    store = await Database.open(
        uri, _DATABASE, timeout_ms=_PATIENCE_MS
    )  # every index the service creates
    await store.close()


# -- the questions -----------------------------------------------------------------------


def _raw_rollups(names: list[str], since: datetime, until: datetime) -> list[dict[str, Any]]:
    """What ``insights.brand_rollups`` answers, computed live from ``mentions``."""

    def count(label: str) -> dict[str, Any]:
        return {"$sum": {"$cond": [{"$eq": ["$sentiment.label", label]}, 1, 0]}}

    return [
        {
            "$match": {
                "brand": {"$in": names},
                "created_at": {"$gte": since, "$lt": until},
                "score_state": "scored",
            }
        },
        {
            "$group": {
                "_id": {
                    "brand": "$brand",
                    "source": "$source",
                    "day": {"$dateTrunc": {"date": "$created_at", "unit": "day"}},
                },
                "total": {"$sum": 1},
                "negative": count("negative"),
                "neutral": count("neutral"),
                "positive": count("positive"),
                "complaints": {
                    "$sum": {"$cond": [{"$eq": ["$complaint.is_complaint", True]}, 1, 0]}
                },
            }
        },
    ]


Timed = Callable[[], Awaitable[object]]

# A raw aggregation over a million mentions keeps the embedded server busy for longer
# than the driver's default heartbeat patience; without this the driver gives up on it.
_PATIENCE_MS = 600_000


async def _time(question: Timed, repeats: int) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds, of ``repeats`` runs (after one warm-up)."""
    await question()
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        await question()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, max(0, round(0.95 * len(samples)) - 1))]
    return statistics.median(samples), p95


async def _questions(uri: str, now: datetime) -> list[tuple[str, str, str, Timed]]:
    """(page, question, served by, coroutine factory) for every query a page makes."""
    store = await Database.open(uri, _DATABASE, timeout_ms=_PATIENCE_MS)
    mentions = store.collection("mentions")
    brand = "United Airlines"
    names = [brand, *(name for name in AIRLINES.values() if name != brand)]
    today = _midnight(now)
    until = today + timedelta(days=1)
    since = until - timedelta(days=_WINDOW_DAYS)
    previous = since - timedelta(days=_WINDOW_DAYS)
    year = until - timedelta(days=365)
    worst = today - timedelta(days=3)

    async def overview_rollups() -> object:
        return await insights.brand_rollups(store, names, previous, until)

    async def overview_raw() -> object:
        return await (await mentions.aggregate(_raw_rollups(names, previous, until))).to_list()

    async def year_rollups() -> object:
        return await insights.brand_rollups(store, names, year, until)

    async def year_raw() -> object:
        return await (await mentions.aggregate(_raw_rollups(names, year, until))).to_list()

    async def brands() -> object:
        return await insights.brand_names(store)

    async def brands_raw() -> object:
        return await mentions.distinct("brand")

    async def posts() -> object:
        return await insights.negative_posts(store, brand, worst, worst + timedelta(days=1))

    async def terms() -> object:
        now_texts, before_texts = await asyncio.gather(
            insights.recent_texts(store, brand, since, until, limit=500, label="negative"),
            insights.recent_texts(store, brand, previous, since, limit=500, label="negative"),
        )
        return insights.rising_terms(now_texts, before_texts, exclude=names)

    async def categories() -> object:
        return await insights.complaint_categories(store, brand, previous, until)

    async def categories_raw() -> object:
        # The naive way: the window's complaints read from the mentions, two fields each.
        query = {
            "brand": brand,
            "counted.complaint": True,
            "created_at": {"$gte": previous, "$lt": until},
        }
        counts: Counter[tuple[datetime, str]] = Counter()
        async for doc in mentions.find(query, {"_id": 0, "created_at": 1, "complaint.category": 1}):
            category = (doc.get("complaint") or {}).get("category") or "other"
            counts[(_midnight(doc["created_at"]), str(category))] += 1
        return counts

    week = until - timedelta(days=7)

    async def themes() -> object:
        return await store.themes.window_summary(brand, week, until, posts=3)

    async def theme_complaints() -> object:
        return await store.themes.latest_complaints(brand, "T1", week, until, limit=200)

    async def themes_page() -> object:
        for question in (brands, themes, theme_complaints):
            await question()
        return None

    async def queue_theme() -> object:
        return await store.complaints.queue(brand, "all", limit=26, order="newest", theme_id="T1")

    async def unscored() -> object:
        return await store.queue.waiting(brand)

    async def overview_page() -> object:
        for question in (brands, overview_rollups, unscored, posts, terms, categories):
            await question()
        return None

    async def overview_page_raw() -> object:
        for question in (brands_raw, overview_raw, unscored, posts, terms, categories_raw):
            await question()
        return None

    async def feed() -> object:
        return await store.feed.page(limit=26)

    async def feed_count() -> object:
        return await store.feed.count(cap=1_000)

    async def feed_count_exact() -> object:
        return await store.feed.count()

    filtered: dict[str, Any] = {
        "brand": brand,
        "sentiment": "negative",
        "since": since,
        "until": until,
        "contains": "bag",
    }

    async def feed_filtered() -> object:
        return await store.feed.page(**filtered, limit=26)

    async def feed_filtered_count() -> object:
        return await store.feed.count(**filtered, cap=1_000)

    async def feed_filtered_count_exact() -> object:
        return await store.feed.count(**filtered)

    async def queue_all() -> object:
        return await store.complaints.queue(None, "all", limit=26, order="newest")

    async def queue_brand() -> object:
        return await store.complaints.queue(brand, "all", limit=26, order="newest")

    async def queue_by_value() -> object:
        return await store.complaints.queue(None, "all", limit=26, order="value")

    async def sources() -> object:
        return (await store.cursors.all(), await store.feed.sources(None))

    async def sources_raw() -> object:
        return await mentions.distinct("source")

    async def alerts() -> object:
        return await insights.recent_alerts(store, limit=50)

    rows: list[tuple[str, str, str, Timed]] = [
        ("overview", f"counts of 6 brands, {_WINDOW_DAYS} d + previous", "roll-ups", overview_rollups),
        ("overview", f"counts of 6 brands, {_WINDOW_DAYS} d + previous", "raw mentions", overview_raw),
        ("overview", "counts of 6 brands, 365 d", "roll-ups", year_rollups),
        ("overview", "counts of 6 brands, 365 d", "raw mentions", year_raw),
        ("overview", "brand list", "roll-ups + cursors", brands),
        ("overview", "brand list", "raw distinct", brands_raw),
        ("overview", "worst day's top posts", "mentions, 1 day", posts),
        ("overview", "top terms: 500 latest negative, window vs previous", "mentions, sliced by day", terms),
        ("overview", f"complaints by category, {_WINDOW_DAYS} d + previous", "roll-ups", categories),
        ("overview", f"complaints by category, {_WINDOW_DAYS} d + previous", "raw mentions", categories_raw),
        ("overview", "whole page (cache miss)", "roll-ups", overview_page),
        ("overview", "whole page (cache miss)", "raw mentions", overview_page_raw),
        ("mentions", "first page, no filter", "mentions", feed),
        ("mentions", "count, no filter", "capped at 1,000", feed_count),
        ("mentions", "count, no filter", "raw exact count", feed_count_exact),
        ("mentions", "first page, brand+negative+30 d+text", "mentions", feed_filtered),
        ("mentions", "count, brand+negative+30 d+text", "capped at 1,000", feed_filtered_count),
        ("mentions", "count, brand+negative+30 d+text", "raw exact count", feed_filtered_count_exact),
        ("complaints", "first page, all brands", "mentions", queue_all),
        ("complaints", "first page, one brand", "mentions", queue_brand),
        ("complaints", "first page, valued customers first (30 d)", "mentions", queue_by_value),
        ("complaints", "first page, one brand, one theme", "mentions", queue_theme),
        ("themes", "20 themes of a brand, 7 d + previous, 3 posts each", "mentions, brand_theme_time", themes),
        ("themes", "complaints of one theme, 7 d", "mentions, brand_theme_time", theme_complaints),
        ("themes", "whole page (cache miss)", "mentions", themes_page),
        ("sources", "cursors + source list", "cursors + roll-ups", sources),
        ("sources", "source list", "raw distinct", sources_raw),
        ("sources", "recent alerts", "alerts", alerts),
    ]  # fmt: skip
    rows.extend(await _advocacy_questions(store, brand))
    return rows


async def _advocacy_questions(store: Database, brand: str) -> list[tuple[str, str, str, Timed]]:
    """The advocates leaderboard (``ProfileStore.leaderboard``), when this checkout has it."""
    if importlib.util.find_spec("customers.profiles") is None:
        return []
    from customers.profiles import ProfileStore

    profiles = ProfileStore(store)

    async def leaderboard() -> object:
        return await profiles.leaderboard(brand, limit=25)

    async def detractors() -> object:
        return await profiles.leaderboard(brand, tier="detractor", limit=25)

    return [
        ("advocates", "top 25 of a brand", "advocacy", leaderboard),
        ("advocates", "top 25 detractors of a brand", "advocacy", detractors),
    ]


async def _run(
    uri: str, repeats: int, raw_repeats: int, now: datetime, only: set[str] | None
) -> list[tuple[str, str, str, float, float]]:
    results = []
    for page, question, served, call in await _questions(uri, now):
        if only is not None and page not in only:
            continue
        median, p95 = await _time(call, raw_repeats if served.startswith("raw") else repeats)
        print(f"  {page}: {question} ({served}): median {median:,.1f} ms", flush=True)
        results.append((page, question, served, median, p95))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365, help="mentions spread over this many days")
    parser.add_argument("--workers", type=int, default=4, help="loading processes")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--raw-repeats",
        type=int,
        default=5,
        help="runs of each question on the raw collection (each takes seconds at 1M)",
    )
    parser.add_argument(
        "--pages",
        help="comma-separated pages to time (overview,mentions,complaints,themes,sources,advocates)",
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    with embedded_server() as uri:
        print(f"Loading {args.mentions:,} mentions with {args.workers} processes ...", flush=True)
        seconds = _load(uri, args.mentions, args.days, args.workers, now)
        print(
            f"Loaded in {seconds:,.0f} s. Timing {args.repeats} runs of each query "
            f"({args.raw_repeats} of each on the raw collection) ..."
        )
        only = set(args.pages.split(",")) if args.pages else None
        rows = asyncio.run(_run(uri, args.repeats, args.raw_repeats, now, only))
    print(
        f"\n{args.mentions:,} mentions over {args.days} days, 6 brands, {len(_SOURCES)} sources; "
        f"SecantusDB on 127.0.0.1; {args.repeats} runs each ({args.raw_repeats} on the raw "
        "collection) after one warm-up\n"
    )
    print("| page | question | served by | median ms | p95 ms |")
    print("| --- | --- | --- | ---: | ---: |")
    for page, question, served, median, p95 in rows:
        print(f"| {page} | {question} | {served} | {median:,.1f} | {p95:,.1f} |")


if __name__ == "__main__":
    main()
