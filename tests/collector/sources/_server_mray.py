"""Shared helpers of the Mastodon, RSS, App Store and YouTube source tests.

Each test file builds an aiohttp application that speaks its API as documented; these
helpers serve it on 127.0.0.1, record what it was asked, and drive a source through
whole runs the way the runner does (fetch while ``more``, the cursor stored as JSON in
between, as MongoDB would keep it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from collector.base import CollectContext, Page, Source, Target
from goodwill.models import Mention

#: A run that needs more pages than this is looping, not paging.
MAX_PAGES = 100

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    """One request the test server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Api:
    """A test server's record of requests, and a hook to answer the next ones differently."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    override: Handler | None = None

    def paths(self) -> list[str]:
        return [request.path for request in self.seen]


@asynccontextmanager
async def serve(routes: Callable[[web.Application, Api], None]) -> AsyncIterator[Api]:
    """Serve an app built by ``routes`` on a free port of 127.0.0.1; yields its ``Api``.

    Every request is recorded; while ``api.override`` is set it answers instead of the
    app's routes (errors, rate limits, broken bodies).
    """
    api = Api()

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        query: dict[str, list[str]] = {}
        for key, value in request.query.items():
            query.setdefault(key, []).append(value)
        api.seen.append(Seen(request.method, request.path, query, dict(request.headers)))
        if api.override is not None:
            return await api.override(request)
        return await handler(request)

    app = web.Application(middlewares=[record])
    routes(app, api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    api.url = f"http://127.0.0.1:{port}"
    try:
        yield api
    finally:
        await runner.cleanup()


@asynccontextmanager
async def context() -> AsyncIterator[CollectContext]:
    """A collect context holding one real client session."""
    async with aiohttp.ClientSession() as session:
        yield CollectContext(session=session)


def stored(cursor: Any) -> Any:
    """The cursor as it comes back from the store: through JSON (fails if not JSON-able)."""
    return json.loads(json.dumps(cursor))


@dataclass
class Run:
    """What one run of a source (pages until ``more`` is False) gave."""

    pages: list[Page] = field(default_factory=list)
    cursor: Any = None

    @property
    def mentions(self) -> list[Mention]:
        return [mention for page in self.pages for mention in page.mentions]

    @property
    def ids(self) -> list[str]:
        return [mention.external_id for mention in self.mentions]

    @property
    def unparsed(self) -> list[tuple[str, Any]]:
        return [item for page in self.pages for item in page.unparsed]


async def run(source: Source, ctx: CollectContext, target: Target, cursor: Any = None) -> Run:
    """Fetch pages as the runner does, until the source says there is no more for now."""
    result = Run(cursor=cursor)
    for _ in range(MAX_PAGES):
        page = await source.fetch(ctx, target, result.cursor)
        result.pages.append(page)
        result.cursor = stored(page.cursor)
        if not page.more:
            return result
    raise AssertionError(f"{source.name} did not finish a run in {MAX_PAGES} pages")


def json_response(
    body: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> web.Response:
    """A JSON answer with the exact bytes of ``body`` (non-ASCII kept as UTF-8)."""
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        status=status,
        content_type=content_type,
        charset="utf-8",
        headers=headers,
    )
