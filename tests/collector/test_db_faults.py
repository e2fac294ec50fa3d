"""The database killed with SIGKILL in the middle of a collection: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from collector.base import CollectContext, Page, Target
from collector.http import get_json
from collector.runner import Job, Runner
from config.query import Query
from goodwill.errors import StoreError
from goodwill.models import Author, Mention
from store import Database
from tests.conftest import free_port

PAGE = 50
ITEMS = 1500  # 30 pages; every fifth item does not name the brand, every tenth repeats one


def _items() -> list[dict[str, Any]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for i in range(ITEMS):
        original = i - 3 if i % 10 == 9 else i
        brand = "nothing to see" if original % 5 == 4 else "Acme"
        items.append(
            {
                "id": f"post-{original}",
                "text": f"{brand} post number {original}",
                "user": f"u{original % 50}",
                "created": (start + timedelta(minutes=original)).isoformat(),
            }
        )
    return items


class PagedSource:
    """An API that pages by number (the cursor is the next page)."""

    name = "paged"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        body, _ = await get_json(
            ctx, self.name, f"{self.base_url}/items", params={"page": cursor or 0}
        )
        mentions = [
            Mention(
                source=self.name,
                external_id=item["id"],
                brand=target.brand,
                text=item["text"],
                author=Author(id=item["user"], handle=item["user"]),
                created_at=datetime.fromisoformat(item["created"]),
            )
            for item in body["items"]
        ]
        following = body["next"]
        return Page(mentions, following if following is not None else (cursor or 0) + 1,
                    more=following is not None)  # fmt: skip


@pytest.fixture
async def paged_api() -> AsyncIterator[str]:
    """The API on 127.0.0.1, a little slow per page so that a kill lands mid-collection."""
    items = _items()

    async def page(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        number = int(request.query.get("page", "0"))
        chunk = items[number * PAGE : (number + 1) * PAGE]
        following = number + 1 if (number + 1) * PAGE < len(items) else None
        return web.json_response({"items": chunk, "next": following})

    app = web.Application()
    app.router.add_get("/items", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


class ServerProcess:
    """A SecantusDB process of this test's own, on its own data directory, to kill and restart."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = Path(sys.executable).with_name("secantusd-py")
        self.process = subprocess.Popen(
            [str(server), "--host", "127.0.0.1", "--port", str(self.port),
             "--storage-path", str(self.data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[ServerProcess]:
    db = ServerProcess(tmp_path / "db")
    db.start()
    yield db
    db.kill()


async def _open(uri: str) -> Database:
    for _ in range(150):
        try:
            return await Database.open(uri, "faults", timeout_ms=1000)
        except StoreError:
            await asyncio.sleep(0.2)
    raise AssertionError("the database did not come up in 30 s")


async def test_a_database_killed_mid_collection_loses_and_doubles_nothing(
    paged_api: str, database: ServerProcess
) -> None:
    """SIGKILL of the database twice during a collection; the collector goes on once it is back.

    One collector (one store, one runner) lives through both kills, as the collector
    process of ``goodwill up`` does while the supervisor restarts the database.
    """
    expected = {f"post-{i}" for i in range(ITEMS) if i % 10 != 9 and i % 5 != 4}
    job = Job("Acme", PagedSource(paged_api), 60, query=Query.parse('"acme"'))
    store = await _open(database.uri)
    kills = failed_runs = 0
    try:
        async with aiohttp.ClientSession() as session:
            runner = Runner(store, [job], session=session)
            for _ in range(20):
                collecting = asyncio.create_task(runner.run_job(job.id))
                if kills < 2:
                    # Kill the database once the collection is well under way.
                    for _ in range(1000):
                        if await store.mentions.count() >= 200 * (kills + 1):
                            break
                        await asyncio.sleep(0.02)
                    database.kill()
                    kills += 1
                    try:
                        result = await collecting
                        failed_runs += result.error is not None
                    except StoreError:
                        failed_runs += 1
                    database.start()
                    await asyncio.sleep(0.5)
                    continue
                try:
                    result = await collecting
                except StoreError:  # the database still starting
                    await asyncio.sleep(0.5)
                    continue
                if result.error is None and result.pages < 50:  # the source had no more
                    break
            stored = [doc["external_id"] async for doc in store.collection("mentions").find({})]
            cursor = (await store.cursors.get("Acme", "paged")).cursor
    finally:
        await store.close()
    assert (kills, failed_runs) == (2, 2)
    assert len(stored) == len(set(stored)), "a mention was stored twice"
    assert set(stored) == expected, f"{len(expected - set(stored))} mentions were lost"
    assert cursor == ITEMS // PAGE
