"""Benchmark: the store's bulk, idempotent writes against the naive one-at-a-time way.

Starts its own SecantusDB server (a separate process, as Goodwill runs it) on a free
port with a throwaway data directory, and measures, in the same run:

* collecting: ``mentions.upsert`` in pages of 500 (one bulk_write each) vs one
  ``update_one(upsert=True)`` per mention;
* claiming for scoring: ``queue.claim`` in batches of 32 (one conditional
  ``update_many``) vs one ``find_one_and_update`` per mention.

Run: ``.venv/bin/python bench/store.py [--mentions 5000]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from pymongo import MongoClient, ReturnDocument
from pymongo.collection import Collection

from bench._db import embedded_server
from goodwill.corpus import load_airline_tweets
from goodwill.models import Mention
from store import Database


def _mentions(count: int, tag: str) -> list[Mention]:
    tweets = list(load_airline_tweets("all"))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        Mention(
            source="bench",
            external_id=f"{tag}-{i}",
            brand=tweets[i % len(tweets)].brand,
            text=tweets[i % len(tweets)].text,
            created_at=start + timedelta(seconds=i),
        )
        for i in range(count)
    ]


async def _bench(uri: str, count: int) -> list[tuple[str, str, float]]:
    rows: list[tuple[str, str, float]] = []
    store = await Database.open(uri, "bench_bulk")
    try:
        mentions = _mentions(count, "bulk")
        began = time.perf_counter()
        for i in range(0, count, 500):
            await store.mentions.upsert(mentions[i : i + 500])
        rows.append(
            (
                "collect",
                "mentions.upsert, pages of 500",
                count / (time.perf_counter() - began),
            )
        )

        began = time.perf_counter()
        claimed = 0
        while True:
            claim = await store.queue.claim("bench", limit=256, lease=timedelta(minutes=5))
            if not claim.mentions:
                break
            claimed += len(claim.mentions)
        rows.append(
            (
                "claim",
                "queue.claim, claims of 256 (as the worker)",
                claimed / (time.perf_counter() - began),
            )
        )
    finally:
        await store.close()

    naive = await Database.open(uri, "bench_naive")  # same indexes as the store creates
    await naive.close()
    client: MongoClient[dict[str, object]]
    with MongoClient(uri) as client:
        collection: Collection[dict[str, object]] = client["bench_naive"]["mentions"]
        mentions = _mentions(count, "naive")
        began = time.perf_counter()
        for mention in mentions:
            doc = mention.model_dump()
            key = {"source": doc.pop("source"), "external_id": doc.pop("external_id")}
            collection.update_one(
                key, {"$setOnInsert": {**doc, "score_state": "pending"}}, upsert=True
            )
        rows.append(
            ("collect", "naive: update_one per mention", count / (time.perf_counter() - began))
        )

        began = time.perf_counter()
        claimed = 0
        while collection.find_one_and_update(
            {"score_state": "pending"},
            {"$set": {"score_state": "claimed"}},
            return_document=ReturnDocument.AFTER,
        ):
            claimed += 1
        rows.append(
            (
                "claim",
                "naive: find_one_and_update per mention",
                claimed / (time.perf_counter() - began),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=5000)
    args = parser.parse_args()
    with embedded_server() as uri:
        rows = asyncio.run(_bench(uri, args.mentions))
    print(f"{args.mentions} mentions, SecantusDB on 127.0.0.1, client and server on this machine\n")
    print("| step | how | mentions/s |\n| --- | --- | ---: |")
    for step, how, rate in rows:
        print(f"| {step} | {how} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
