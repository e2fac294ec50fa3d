"""HTTP for sources: one place that turns responses into mentions' raw material or errors.

Every source calls these instead of using the session directly, so every source
treats status codes, ``Retry-After``, timeouts and bad bodies the same way:

* 429 (and 503 with ``Retry-After``) -> ``RateLimited`` with the wait in seconds
* 5xx, timeouts, connection errors -> ``SourceUnavailable`` (the runner retries)
* 401 / 403 -> ``SourceError`` saying to check the source's credentials
* other 4xx -> ``SourceError`` with the status and the start of the body
* a 200 whose body is an HTML page or other markup where JSON was asked (a captive
  portal, a proxy's error page), JSON cut short, or a body shorter than its
  ``Content-Length`` (a dropped connection) -> ``SourceUnavailable`` (transient: retried
  with back-off)
* a body that is not what was asked for -> ``BadPayload``
* a body over ``MAX_BODY_BYTES`` once decompressed (a hostile or broken feed, a gzip
  bomb) -> ``BodyTooLarge``: never read whole, dead-lettered with the reason
* a redirect to a private, loopback or link-local address -> ``SourceError``, unless the
  source's configured URL is itself on such an address (a self-hosted instance, tests)
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from multidict import CIMultiDictProxy

from collector.base import CollectContext
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_REDIRECTS",
    "BodyTooLarge",
    "Response",
    "get_json",
    "get_text",
    "parse_retry_after",
    "request",
]

_DEFAULT_RATE_LIMIT_WAIT = 60.0
#: The most bytes read of one answer, counted after decompression.
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Redirects followed for one request.
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_URL = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")
_ESCAPE_START = re.compile(r"u[0-9a-fA-F]{0,3}")


class BodyTooLarge(BadPayload):
    """An answer larger than ``MAX_BODY_BYTES`` (after decompression): not read whole."""


@dataclass(frozen=True)
class Response:
    """A successful response: its status, headers and body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str

    def json(self, source: str) -> Any:
        """The body as JSON, or an error naming the source and URL.

        An HTML page (or any markup: a body starting with ``<``) or JSON cut short is
        ``SourceUnavailable`` (what a captive portal, a proxy or a dropped connection
        gives; worth another try); anything else that is not JSON is ``BadPayload``.
        """
        try:
            return json.loads(self.body)
        except ValueError as error:
            html = self.looks_like_html()
            markup = html or self.body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
            if markup or _cut_short(self.body, error):
                what = "JSON cut short"
                if markup:  # an error page, a login form, an XML fault: never the JSON asked for
                    what = "an HTML page instead of JSON" if html else "markup instead of JSON"
                raise SourceUnavailable(
                    f"{source}: {_shown(self.url)} answered with {what} (a proxy, a captive "
                    f"portal or a dropped connection?); it began {self.body[:120]!r}. This is "
                    "taken as a passing fault and retried later; if it persists, check the network "
                    "between Goodwill and the source (a proxy or a portal asking to log in).",
                    source=source,
                    url=_shown(self.url),
                ) from None
            raise BadPayload(
                f"{source} answered {_shown(self.url)} with something that is not JSON: {error}; "
                f"it began {self.body[:120]!r}",
                source=source,
                url=_shown(self.url),
            ) from None

    def looks_like_html(self) -> bool:
        """Whether the body is an HTML page (by its type, or by how it starts)."""
        kind = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        start = self.body[:512].lstrip().lower()
        return kind in ("text/html", "application/xhtml+xml") or start.startswith(
            (b"<!doctype html", b"<html")
        )


def _cut_short(body: bytes, error: ValueError) -> bool:
    """Whether a JSON error is the end of the text coming too soon (a truncated body)."""
    text = body.decode("utf-8", "replace").rstrip()
    if not text:
        return True
    message = str(getattr(error, "msg", ""))
    if message.startswith("Unterminated string"):
        return True  # the text ended inside a string
    position = getattr(error, "pos", None)
    if not isinstance(position, int) or message.startswith("Extra data"):
        return False  # a whole value with something after it is not cut short
    rest = text[position:]
    if len(rest) <= 1:
        return True  # the text ended where a value, a comma or a bracket was due
    if message.startswith("Expecting value"):
        # ... or in the middle of a literal: `{"ok": tru`
        return any(word.startswith(rest) for word in ("true", "false", "null"))
    # ... or in the middle of an escape: `"caf\u00`
    return (
        message.startswith("Invalid \\uXXXX escape") and _ESCAPE_START.fullmatch(rest) is not None
    )


def _shown(url: str) -> str:
    """A URL as messages and logs may show it: without the query string (keys, tokens)."""
    return url.split("?", 1)[0]


def _without_queries(text: str) -> str:
    """``text`` with the query string of every URL in it removed (they may carry keys)."""
    return _URL.sub(r"\1", text)


async def _is_private(host: str) -> bool:
    """Whether ``host`` is, or resolves to, a private, loopback or link-local address."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, None, proto=socket.IPPROTO_TCP
            )
        except OSError:
            return False  # unresolvable: the request itself will say so
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found}
    return any(
        a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_unspecified
        for a in addresses
    )


async def _read_capped(response: aiohttp.ClientResponse, source: str, shown: str) -> bytes:
    """The body, decompressed, refusing to read past ``MAX_BODY_BYTES``."""
    declared = response.content_length
    if (
        declared is not None
        and declared > MAX_BODY_BYTES
        and not response.headers.get("Content-Encoding")
    ):
        raise _too_large(source, shown, declared)
    parts: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(source, shown, size)
        parts.append(chunk)
    return b"".join(parts)


def _too_large(source: str, shown: str, size: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"{source}: {shown} answered more than {MAX_BODY_BYTES // (1024 * 1024)} MB "
        f"({size:,} bytes read or declared, after decompression); not read. Check the URL: "
        "a feed this large is broken or hostile.",
        source=source,
        url=shown,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


async def request(
    ctx: CollectContext,
    source: str,
    url: str,
    *,
    method: str = "GET",
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    data: Any = None,
    json_body: Any = None,
    ok: tuple[int, ...] = (200,),
) -> Response:
    """Send one request with the process's session, mapping failures to source errors.

    ``ok`` lists the statuses that count as success (e.g. ``(200, 304)`` for a
    conditional GET). Messages name the URL without its query string (it may carry a key).
    """
    shown = _shown(url)
    if ctx.session is None:
        raise SourceError(
            f"{source}: no HTTP session was given to the collector", source=source, url=shown
        )
    # Redirects are followed here, one by one, so that none leads to a private address
    # (a metadata service, the database) unless the source is configured on one.
    private_ok = ctx.private_redirects  # None: decided at the first redirect, from ``url``
    current, current_params = url, params
    try:
        for _ in range(MAX_REDIRECTS + 1):
            async with ctx.session.request(
                method,
                current,
                params=current_params,
                headers=headers,
                data=data,
                json=json_body,
                allow_redirects=False,
            ) as response:
                status = response.status
                response_headers = response.headers
                final_url = str(response.url)
                location = response_headers.get("Location")
                if status in (301, 302, 303, 307, 308) and location:
                    target = urljoin(final_url, location)
                    host = urlsplit(target).hostname or ""
                    if private_ok is None:
                        private_ok = await _is_private(urlsplit(url).hostname or "")
                    if not private_ok and await _is_private(host):
                        raise SourceError(
                            f"{source}: {shown} redirected to {_shown(target)}, a private, "
                            "loopback or link-local address; not followed. If the source "
                            "really lives there, configure its URL on that address.",
                            source=source,
                            url=shown,
                        )
                    current, current_params = target, None
                    if status == 303:
                        method, data, json_body = "GET", None, None
                    continue
                body = await _read_capped(response, source, _shown(final_url))
                break
        else:
            raise SourceUnavailable(
                f"{source}: {shown} redirected more than {MAX_REDIRECTS} times; not followed",
                source=source,
                url=shown,
            )
    except aiohttp.ClientPayloadError as error:
        # The connection closed before the body was whole (fewer bytes than Content-Length,
        # a chunked body that never ended): transient, like a dropped connection.
        raise SourceUnavailable(
            f"{source}: {shown} answered a body cut short "
            f"({_without_queries(str(error).replace(url, shown))}); a dropped connection or "
            "a proxy? It is retried later.",
            source=source,
            url=shown,
        ) from None
    except (TimeoutError, aiohttp.ClientError) as error:
        raise SourceUnavailable(
            f"{source}: could not reach {shown} "
            f"({error.__class__.__name__}: {_without_queries(str(error).replace(url, shown))})",
            source=source,
            url=shown,
        ) from None
    if status in ok:
        return Response(status, response_headers, body, final_url)
    retry_after = parse_retry_after(response_headers.get("Retry-After"))
    excerpt = body[:200].decode("utf-8", errors="replace")
    if status == 429 or (status == 503 and retry_after is not None):
        wait = retry_after if retry_after is not None else _DEFAULT_RATE_LIMIT_WAIT
        raise RateLimited(
            f"{source}: rate limited by {shown} (HTTP {status}); waiting {wait:.0f} s",
            source=source,
            url=shown,
            retry_after=wait,
        )
    if status >= 500:
        raise SourceUnavailable(
            f"{source}: {shown} answered HTTP {status}: {excerpt}", source=source, url=shown
        )
    if status in (401, 403):
        raise SourceError(
            f"{source}: {shown} refused access (HTTP {status}): {excerpt}. Check the source's "
            "credentials in the watch list / environment.",
            source=source,
            url=shown,
        )
    raise SourceError(
        f"{source}: {shown} answered HTTP {status}: {excerpt}", source=source, url=shown
    )


async def get_json(
    ctx: CollectContext,
    source: str,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[Any, Response]:
    """GET ``url`` and parse its JSON body; returns the value and the response (for headers)."""
    response = await request(ctx, source, url, params=params, headers=headers)
    return response.json(source), response


async def get_text(
    ctx: CollectContext,
    source: str,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    ok: tuple[int, ...] = (200,),
) -> Response:
    """GET ``url`` and return the response (its ``body`` as bytes), for feeds and HTML."""
    return await request(ctx, source, url, params=params, headers=headers, ok=ok)
