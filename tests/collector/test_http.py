"""The sources' HTTP helper against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from collector.base import CollectContext
from collector.http import get_json, parse_retry_after
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A local server with one route per kind of answer."""

    async def answer(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind == "ok":
            return web.json_response({"q": request.query.get("q")})
        if kind == "429":
            return web.Response(status=429, headers={"Retry-After": "7"})
        if kind == "503":
            return web.Response(status=503, text="down for maintenance")
        if kind == "401":
            return web.Response(status=401, text="bad token")
        if kind == "garbage":
            return web.Response(text="this is not json")
        if kind == "html":  # a captive portal's page, with status 200
            return web.Response(
                text="<html><body>Log in to the Wi-Fi</body></html>", content_type="text/html"
            )
        if kind == "cut":  # a body cut short by a dropped connection or proxy
            return web.Response(text='{"hits": [1, 2', content_type="application/json")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{kind}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def ctx() -> AsyncIterator[CollectContext]:
    """A context with one real client session."""
    async with aiohttp.ClientSession() as session:
        yield CollectContext(session=session)


async def test_json_comes_back_with_the_query(server: str, ctx: CollectContext) -> None:
    """A 200 JSON answer is parsed, parameters are sent."""
    value, response = await get_json(ctx, "test", f"{server}/ok", params={"q": "acme"})
    assert value == {"q": "acme"} and response.status == 200


@pytest.mark.parametrize(
    ("kind", "error", "words"),
    [
        ("429", RateLimited, "rate limited"),
        ("503", SourceUnavailable, "HTTP 503"),
        ("401", SourceError, "credentials"),
        ("garbage", BadPayload, "not JSON"),
        ("html", SourceUnavailable, "HTML page"),
        ("cut", SourceUnavailable, "cut short"),
        ("missing", SourceError, "HTTP 404"),
    ],
)
async def test_each_failure_becomes_the_right_error(
    server: str, ctx: CollectContext, kind: str, error: type[Exception], words: str
) -> None:
    """Status codes and bad bodies map to the errors the runner acts on."""
    with pytest.raises(error, match=words) as caught:
        await get_json(ctx, "test", f"{server}/{kind}")
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7


async def test_an_unreachable_host_is_unavailable(ctx: CollectContext) -> None:
    """A refused connection is a SourceUnavailable (retried), not a crash."""
    from tests.conftest import free_port

    with pytest.raises(SourceUnavailable, match="could not reach"):
        await get_json(ctx, "test", f"http://127.0.0.1:{free_port()}/ok")


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """Retry-After is either delta-seconds or an HTTP date."""
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Tue, 24 Nov 2026 12:01:30 GMT", now=now) == 90
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_error_messages_never_show_the_query_string(server: str, ctx: CollectContext) -> None:
    """A key sent in the query string never appears in an error message."""
    with pytest.raises(BadPayload) as caught:
        await get_json(ctx, "test", f"{server}/garbage?key=SECRET123")
    assert "SECRET123" not in str(caught.value) and "SECRET123" not in (caught.value.url or "")
    with pytest.raises(SourceError) as refused:
        await get_json(ctx, "test", f"{server}/401?key=SECRET123")
    assert "SECRET123" not in str(refused.value)


@pytest.fixture
async def odd_server() -> AsyncIterator[str]:
    """Answers with status 200 that are not the JSON asked for, in the ways proxies and drops give."""

    async def answer(request: web.Request) -> web.Response:
        bodies = {
            # a proxy's XML fault, sent with the JSON type asked for
            "markup": ('<?xml version="1.0"?><fault>Proxy authentication required</fault>', "application/json"),
            "page": ("<head><title>Sign in to the Wi-Fi</title></head>", "text/plain"),
            "literal": ('{"hits": [{"ok": tru', "application/json"),
            "escape": ('{"hits": [{"text": "caf\\u00', "application/json"),
            "trailing": ('{"hits": []} x', "application/json"),
        }  # fmt: skip
        text, kind = bodies[request.match_info["kind"]]
        return web.Response(text=text, content_type=kind)

    app = web.Application()
    app.router.add_get("/{kind}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("markup", "markup instead of JSON"),
        ("page", "markup instead of JSON"),
        ("literal", "JSON cut short"),
        ("escape", "JSON cut short"),
    ],
)
async def test_markup_or_json_cut_anywhere_is_retried_later(
    odd_server: str, ctx: CollectContext, kind: str, words: str
) -> None:
    """A body starting with `<`, or JSON ending inside a literal or an escape, is transient."""
    with pytest.raises(SourceUnavailable, match=words) as caught:
        await get_json(ctx, "test", f"{odd_server}/{kind}")
    assert "retried later" in str(caught.value)


async def test_whole_json_with_text_after_it_is_a_bad_payload(
    odd_server: str, ctx: CollectContext
) -> None:
    """A complete value followed by more text was not cut short: it is not what was asked for."""
    with pytest.raises(BadPayload, match="not JSON"):
        await get_json(ctx, "test", f"{odd_server}/trailing")


async def test_a_body_shorter_than_its_content_length_is_retried_later(
    ctx: CollectContext,
) -> None:
    """The connection closes 16 bytes into a declared 100: a body cut short, not an unreachable host."""

    async def short_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"hits": [1, 2]}'
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(short_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(SourceUnavailable, match="cut short") as caught:
            await get_json(ctx, "test", f"http://127.0.0.1:{port}/search?key=SECRET")
        assert "16 of 100 bytes" in str(caught.value) and "SECRET" not in str(caught.value)
    finally:
        server.close()
        await server.wait_closed()
