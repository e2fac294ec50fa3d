"""Shared helpers of the Hacker News, Reddit, Stack Exchange and GitHub source tests.

Each test file builds an aiohttp application that speaks its API as documented; these
helpers serve it on 127.0.0.1 and drive a source through whole runs the way the
runner does (fetch while ``more``). A test module takes the ``ctx`` fixture with
``ctx = client_context`` (an assignment, not an import, so that linters see no unused
name shadowed by each test's argument).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from collector.base import CollectContext, Page, Source, Target
from goodwill.models import Mention

#: A run that needs more pages than this is looping, not paging.
MAX_PAGES = 200
#: The brand every test collects for.
BRAND = "Acme"
#: A fixed moment the test data is dated around.
T0 = 1_762_000_000  # 2025-11-01T12:26:40Z


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1; yields its base URL, cleans up after."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def context() -> AsyncIterator[CollectContext]:
    """A collect context holding one real client session."""
    async with aiohttp.ClientSession() as session:
        yield CollectContext(session=session)


@pytest.fixture(name="ctx")
async def client_context() -> AsyncIterator[CollectContext]:
    """A context with one real client session."""
    async with context() as made:
        yield made


def target(*terms: str, since: float | None = None) -> Target:
    """The brand's target: ``terms`` (``acme`` when none), ``since`` in epoch seconds."""
    when = datetime.fromtimestamp(since, UTC) if since is not None else None
    return Target(BRAND, terms or ("acme",), since=when)


@dataclass
class Run:
    """What one run of a source (pages until ``more`` is False) gave."""

    pages: list[Page] = field(default_factory=list)
    cursor: Any = None

    @property
    def mentions(self) -> list[Mention]:
        return [mention for page in self.pages for mention in page.mentions]

    @property
    def ids(self) -> set[str]:
        return {mention.external_id for mention in self.mentions}

    @property
    def unparsed(self) -> list[tuple[str, Any]]:
        return [item for page in self.pages for item in page.unparsed]


async def run(source: Source, ctx: CollectContext, target: Target, cursor: Any = None) -> Run:
    """Fetch pages as the runner does until the source has no more; the cursor goes
    through JSON between pages, as it goes through MongoDB between runs."""
    result = Run(cursor=cursor)
    for _ in range(MAX_PAGES):
        page = await source.fetch(ctx, target, result.cursor)
        result.pages.append(page)
        result.cursor = json.loads(json.dumps(page.cursor))
        if not page.more:
            return result
    raise AssertionError(f"{source.name} did not finish a run in {MAX_PAGES} pages")


def term_state(cursor: Any, term: str) -> dict[str, Any]:
    """One term's saved place in a per-term cursor (``{"terms": [{"term": ..., ...}]}``)."""
    [state] = [entry for entry in cursor["terms"] if entry["term"] == term]
    return {key: value for key, value in state.items() if key != "term"}
