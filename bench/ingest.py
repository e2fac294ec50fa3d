"""Benchmark: ingest through the runner against the naive way, in the same run.

A local aiohttp server on 127.0.0.1 serves ``--mentions`` items (10% of them
repeats of earlier ones, as re-collected items are) in JSON pages of 500, made of
real airline tweets. Both paths fetch the same pages with the same HTTP client and
parse them into the same ``Mention`` objects; then:

* **Goodwill**: the runner matches each against the brand query, dead-letters
  nothing, and writes each page with one bulk upsert keyed by (source, external_id);
* **naive**: for each mention that matches, ``find_one`` for a duplicate, then
  ``insert_one`` if there is none.

Both end with the same documents. Run: ``.venv/bin/python -m bench.ingest [--mentions 100000]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

from bench._db import embedded_server
from collector.base import CollectContext, Page, Target
from collector.http import get_json
from collector.runner import MAX_PAGES_PER_RUN, Job, Runner
from config.query import Query
from goodwill.corpus import AIRLINES, load_airline_tweets
from goodwill.models import Author, Mention
from store import Database

PAGE = 500
QUERY = " OR ".join(f'"@{handle}"' for handle in AIRLINES)


def _items(count: int) -> list[dict[str, Any]]:
    tweets = list(load_airline_tweets("all"))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for i in range(count):
        original = i - 7 if i % 10 == 9 else i  # every tenth item repeats an earlier one
        tweet = tweets[original % len(tweets)]
        items.append(
            {
                "id": f"post-{original}",
                "text": tweet.text,
                "user": {"id": f"u{original % 5000}", "name": f"customer{original % 5000}"},
                "created": (start + timedelta(seconds=original)).isoformat(),
                "likes": i % 17,
            }
        )
    return items


async def _serve(items: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    async def page(request: web.Request) -> web.Response:
        number = int(request.query.get("page", "0"))
        chunk = items[number * PAGE : (number + 1) * PAGE]
        following = number + 1 if (number + 1) * PAGE < len(items) else None
        return web.json_response({"items": chunk, "next": following})

    app = web.Application()
    app.router.add_get("/items", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _parse(item: dict[str, Any], brand: str) -> Mention:
    return Mention(
        source="bench",
        external_id=item["id"],
        brand=brand,
        text=item["text"],
        author=Author(id=item["user"]["id"], handle=item["user"]["name"]),
        created_at=datetime.fromisoformat(item["created"]),
        engagement={"likes": item["likes"]},
        raw=item,
    )


class BenchSource:
    """A source over the local server's pages (the cursor is the next page number)."""

    name = "bench"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        body, _ = await get_json(
            ctx, self.name, f"{self.base_url}/items", params={"page": cursor or 0}
        )
        mentions = [_parse(item, target.brand) for item in body["items"]]
        following = body["next"]
        return Page(
            mentions,
            following if following is not None else (cursor or 0) + 1,
            more=following is not None,
        )


async def _goodwill(uri: str, base_url: str, session: aiohttp.ClientSession) -> tuple[float, int]:
    store = await Database.open(uri, "bench_goodwill")
    try:
        job = Job("Airlines", BenchSource(base_url), 60, query=Query.parse(QUERY))
        runner = Runner(store, [job], session=session)
        began = time.perf_counter()
        while True:
            result = await runner.run_job(job.id)
            if result.error or result.pages < MAX_PAGES_PER_RUN:  # the source had no more
                break
        elapsed = time.perf_counter() - began
        return elapsed, await store.mentions.count()
    finally:
        await store.close()


async def _naive(uri: str, base_url: str, session: aiohttp.ClientSession) -> tuple[float, int]:
    # The same indexes as Goodwill's, so the duplicate check is not a scan.
    await (await Database.open(uri, "bench_naive")).close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    collection = client["bench_naive"]["mentions"]
    query = Query.parse(QUERY)
    ctx = CollectContext(session=session)
    began = time.perf_counter()
    number: int | None = 0
    while number is not None:
        body, _ = await get_json(ctx, "bench", f"{base_url}/items", params={"page": number})
        for item in body["items"]:
            mention = _parse(item, "Airlines")
            if not query.matches(mention):
                continue
            key = {"source": mention.source, "external_id": mention.external_id}
            if await collection.find_one(key, {"_id": 1}) is None:
                await collection.insert_one(mention.model_dump(mode="python"))
        number = body["next"]
    elapsed = time.perf_counter() - began
    count = await collection.count_documents({})
    await client.close()
    return elapsed, count


async def _bench(uri: str, count: int) -> None:
    items = _items(count)
    server, base_url = await _serve(items)
    try:
        async with aiohttp.ClientSession() as session:
            ours, ours_count = await _goodwill(uri, base_url, session)
            naive, naive_count = await _naive(uri, base_url, session)
    finally:
        await server.cleanup()
    if ours_count != naive_count:
        raise SystemExit(f"the two paths stored different counts: {ours_count} vs {naive_count}")
    print(
        f"{count:,} items served (10% repeats), {ours_count:,} distinct matching mentions stored\n"
    )
    print("| path | seconds | items/s |\n| --- | ---: | ---: |")
    print(
        f"| Goodwill runner (match, bulk upsert per page of {PAGE}) | {ours:.1f} | {count / ours:,.0f} |"
    )
    print(f"| naive (find_one + insert_one per mention) | {naive:.1f} | {count / naive:,.0f} |")
    print(f"\nGoodwill is {naive / ours:.1f}x the naive throughput.")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mentions", type=int, default=100_000)
    args = parser.parse_args()
    with embedded_server() as uri:
        asyncio.run(_bench(uri, args.mentions))


if __name__ == "__main__":
    main()
