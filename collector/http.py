"""HTTP for sources: one place that turns responses into mentions' raw material or errors.

Every source calls these instead of using the session directly, so every source
treats status codes, ``Retry-After``, timeouts and bad bodies the same way:

* 429 (and 503 with ``Retry-After``) -> ``RateLimited`` with the wait in seconds
* 5xx, timeouts, connection errors -> ``SourceUnavailable`` (the runner retries)
* 401 / 403 -> ``SourceError`` saying to check the source's credentials
* other 4xx -> ``SourceError`` with the status and the start of the body
* a body that is not what was asked for -> ``BadPayload``
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from collector.base import CollectContext
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable

__all__ = ["Response", "get_json", "get_text", "parse_retry_after", "request"]

_DEFAULT_RATE_LIMIT_WAIT = 60.0


@dataclass(frozen=True)
class Response:
    """A successful response: its status, headers and body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str

    def json(self, source: str) -> Any:
        """The body as JSON, or ``BadPayload`` naming the source and URL."""
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise BadPayload(
                f"{source} answered {_shown(self.url)} with something that is not JSON: {error}; "
                f"it began {self.body[:120]!r}",
                source=source,
                url=_shown(self.url),
            ) from None


def _shown(url: str) -> str:
    """A URL as messages and logs may show it: without the query string (keys, tokens)."""
    return url.split("?", 1)[0]


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
    try:
        async with ctx.session.request(
            method, url, params=params, headers=headers, data=data, json=json_body
        ) as response:
            body = await response.read()
            status = response.status
            response_headers = response.headers
            final_url = str(response.url)
    except (TimeoutError, aiohttp.ClientError) as error:
        raise SourceUnavailable(
            f"{source}: could not reach {shown} "
            f"({error.__class__.__name__}: {str(error).replace(url, shown)})",
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
