"""What a hostile or broken server cannot do to the collector: flood it, or send it inward."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from collector import http
from collector.base import CollectContext
from collector.http import BodyTooLarge, get_json, get_text
from goodwill.errors import SourceError

MB = 1024 * 1024


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """Endless and compressed bodies, and redirects inward, on 127.0.0.1."""

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * MB
        try:
            for _ in range(10_000):  # 10 GB if nobody stops reading
                await response.write(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response

    async def bomb(request: web.Request) -> web.Response:
        body = gzip.compress(b"[" + b"0," * (60 * MB // 2) + b"0]", compresslevel=9)
        return web.Response(
            body=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    async def inward(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/endless", endless)
    app.router.add_get("/bomb", bomb)
    app.router.add_get("/inward", inward)
    app.router.add_get("/ok", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def test_an_endless_body_is_cut_at_the_limit(
    server: str, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(BodyTooLarge, match="more than 32 MB"):
        await get_text(CollectContext(session), "test", f"{server}/endless")


async def test_a_gzip_bomb_is_stopped_by_its_decompressed_size(
    server: str, session: aiohttp.ClientSession
) -> None:
    """About 60 KB on the wire, 60 MB once decompressed: refused, never read whole."""
    with pytest.raises(BodyTooLarge, match="after decompression"):
        await get_json(CollectContext(session), "test", f"{server}/bomb")


@pytest.mark.parametrize(
    "inward", ["http://127.0.0.1:9/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"]
)
async def test_a_redirect_to_an_inward_address_is_not_followed(
    server: str, session: aiohttp.ClientSession, inward: str
) -> None:
    """A public source redirecting to loopback or the cloud metadata address is refused."""
    ctx = CollectContext(session, private_redirects=False)  # as for a public source
    with pytest.raises(SourceError, match="private, loopback or link-local"):
        await get_json(ctx, "test", f"{server}/inward", params={"to": inward})


async def test_a_source_configured_on_a_local_address_may_redirect_there(
    server: str, session: aiohttp.ClientSession
) -> None:
    """A self-hosted instance on 127.0.0.1 (the default decision) follows its own redirect."""
    value, _ = await get_json(
        CollectContext(session), "test", f"{server}/inward", params={"to": f"{server}/ok"}
    )
    assert value == {"ok": True}


async def test_what_counts_as_inward() -> None:
    for host in ("127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3", "[::1]", "fe80::1"):
        assert await http._is_private(host), host
    for host in ("93.184.216.34", "2606:4700::1111"):
        assert not await http._is_private(host), host


def test_a_url_in_a_driver_message_loses_its_query_string() -> None:
    """aiohttp's connect-timeout message names the URL with its parameters (a key, once)."""
    message = (
        "Connection timeout to host https://api.stackexchange.com/2.3/search?key=SECRET&site=so"
    )
    assert http._without_queries(message) == (
        "Connection timeout to host https://api.stackexchange.com/2.3/search"
    )
