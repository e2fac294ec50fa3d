"""Mastodon: public posts carrying the brand's hashtags, and full-text search where allowed.

API: any Mastodon instance's REST API (``base_url``, e.g. https://mastodon.social).

* Hashtag timelines, ``GET /api/v1/timelines/tag/:hashtag?limit=40&max_id=..&since_id=..``
  (https://docs.joinmastodon.org/methods/timelines/#tag): public statuses with the tag,
  newest first. Public on most instances; an instance that disabled public preview
  asks for a token.
* Search, ``GET /api/v2/search?q=..&type=statuses&limit=40&max_id=..``
  (https://docs.joinmastodon.org/methods/search/#v2): statuses whose text matches. An
  instance searches statuses only for a signed-in user, and only where full-text search
  is set up (and, from 4.2, only posts of people who opted in), so search runs only
  with an ``access_token`` and is skipped without one.

Credentials: optional. Without a token only hashtag timelines are read. With one, search
runs as well: on your Mastodon instance open Preferences > Development > New
application, tick the ``read:search`` and ``read:statuses`` scopes, save, and copy
"Your access token". It is sent as ``Authorization: Bearer``.

Hashtags: ``hashtags`` in the watch list, or by default every term of the brand's query
that has no spaces (``acme`` -> ``#acme``). Each hashtag and each search term is its own
stream, with its own place in the cursor; every run visits each of them once.

Paging and limits: each stream is read newest first, 40 statuses a page, going back
with ``max_id`` (taken from the ``Link`` header's ``rel="next"``, else from the oldest
status of the page) until it reaches the newest status of the previous run (sent as
``since_id``; search has no ``since_id``, so older statuses are dropped here) or, on a
first run, ``target.since`` (no ``since``: only the newest page). Only then does the
newest status of the sweep become the stream's new starting point, so a crash in the
middle of a sweep resumes where it stopped without a gap. Instances allow 300 requests
per 5 minutes per account or IP and say what is left in ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset``; when nothing is left the page is kept and the next fetch waits
until the reset (a 429 waits for ``Retry-After``, else the reset).

Mapping: ``external_id`` is the status's ``uri`` (its ActivityPub id, the same on every
instance, so one post seen through two instances is stored once; the numeric ``id`` is
local to the instance). The HTML ``content`` becomes plain text (paragraphs kept apart by
a blank line, ``<br>`` as a line break, links as their full URL). A content warning
(``spoiler_text``) becomes the mention's title. A boost (``reblog``) is taken as the
boosted status: its words are the author's, not the booster's, and it is then stored once
with the original. Posts that are not public (``private``, ``direct``) are dropped: they
are not public talk, even where a token can read them. The author's ``acct`` is given
with the instance's domain (``user@host``), which is their handle across the fediverse.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from collector.base import CollectContext, Page, Target
from collector.http import Response, parse_retry_after, request
from collector.sources._text import html_to_text
from collector.sources._time import parse_time as _parse_time
from goodwill.errors import BadPayload, RateLimited, SourceError, UnparsableItem
from goodwill.models import Author, Mention, utcnow

__all__ = ["MastodonSource"]

_NAME = "mastodon"
_MAX_LIMIT = 40
#: Mastodon's rate-limit period; the wait when ``X-RateLimit-Reset`` cannot be read.
_RATE_PERIOD = timedelta(minutes=5)
# A hashtag as Mastodon allows it: word characters (any script), middle dot, ZWNJ.
_HASHTAG = re.compile(r"^[\w\u00b7\u200c]+$")
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')
# Statuses of these visibilities are not public talk; ``public`` and ``unlisted`` are.
_PRIVATE = {"private", "direct", "limited"}


class MastodonSource:
    """Statuses on one Mastodon instance with the brand's hashtags or words."""

    name = _NAME

    def __init__(
        self,
        *,
        base_url: str = "https://mastodon.social",
        hashtags: list[str] | None = None,
        access_token: SecretStr | None = None,
        limit: int = _MAX_LIMIT,
    ) -> None:
        """Configure the source.

        Args:
            base_url: the instance, e.g. ``https://mastodon.social``.
            hashtags: hashtags to follow (with or without ``#``); None: every term of
                the brand's query that has no spaces.
            access_token: a user token with ``read:search``; enables search.
            limit: statuses per request, 1 to 40.
        """
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {_MAX_LIMIT}, got {limit!r}")
        self.base_url = base_url.rstrip("/")
        self.host = urllib.parse.urlsplit(self.base_url).hostname or ""
        self.limit = limit
        self.hashtags: list[str] | None = None
        if hashtags is not None:
            if isinstance(hashtags, str) or not isinstance(hashtags, list):
                raise ValueError("hashtags must be a list of hashtags, e.g. ['acme']")
            tags = []
            for value in hashtags:
                tag = _hashtag(value) if isinstance(value, str) else None
                if tag is None:
                    raise ValueError(
                        f"hashtags: {value!r} is not a hashtag (letters, digits and _ only)"
                    )
                tags.append(tag)
            self.hashtags = list(dict.fromkeys(tags))
        if access_token is not None and not access_token.get_secret_value().strip():
            access_token = None
        self._token = access_token

    def _streams(self, target: Target) -> list[tuple[str, str]]:
        if self.hashtags is not None:
            tags = self.hashtags
        else:
            derived = (
                _hashtag(term) for term in target.terms if not any(c.isspace() for c in term)
            )
            tags = list(dict.fromkeys(tag for tag in derived if tag))
        streams = [("tag", tag) for tag in tags]
        if self._token is not None:
            terms = dict.fromkeys(term.strip() for term in target.terms if term.strip())
            streams += [("search", term) for term in terms]
        return streams

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of one stream (a hashtag or a search term); ``more`` while any has pages.

        The cursor is ``{"streams": [{"kind": "tag" | "search", "key": str, "newest": id |
        None, "sweep": {"top": id | None, "max_id": id | None} | None}], "pending":
        [[kind, key], ...], "not_before": ISO time | None}``: ``newest`` is the newest
        status of the last finished sweep, ``sweep`` the sweep under way, ``pending`` the
        streams this run has still to visit, ``not_before`` when the rate limit resets.
        """
        state = cursor if isinstance(cursor, dict) else {}
        now = utcnow()
        not_before = _parse_time(state.get("not_before"))
        if not_before is not None and not_before > now:
            wait = (not_before - now).total_seconds()
            raise RateLimited(
                f"{_NAME}: {self.host} has no requests left until {not_before.isoformat()}",
                source=_NAME,
                brand=target.brand,
                url=self.base_url,
                retry_after=wait,
            )
        streams = self._streams(target)
        if not streams:
            raise SourceError(
                f"{_NAME}: nothing to follow for {target.brand!r}: no term of its query is a "
                "hashtag; set `hashtags` for this source in the watch list (or an access "
                "token, to search)",
                source=_NAME,
                brand=target.brand,
            )
        saved = {
            (item["kind"], item["key"]): item
            for item in state.get("streams", [])
            if isinstance(item, dict) and "kind" in item and "key" in item
        }
        known = {
            stream: saved.get(stream) or {"kind": stream[0], "key": stream[1], "newest": None}
            for stream in streams
        }
        pending = [
            (item[0], item[1])
            for item in state.get("pending") or []
            if isinstance(item, list) and len(item) == 2 and (item[0], item[1]) in known
        ] or list(streams)
        stream = known[pending[0]]
        mentions, unparsed, ended, not_before = await self._page(ctx, target, stream)
        if ended:
            pending.pop(0)
        new_cursor = {
            "streams": list(known.values()),
            "pending": [list(item) for item in pending],
            "not_before": not_before.isoformat() if not_before else None,
        }
        return Page(mentions, new_cursor, more=bool(pending), unparsed=unparsed)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return headers

    async def _page(
        self, ctx: CollectContext, target: Target, stream: dict[str, Any]
    ) -> tuple[list[Mention], list[tuple[str, Any]], bool, datetime | None]:
        """Fetch the next page of ``stream`` and move its sweep on (in place)."""
        kind, key = stream["kind"], stream["key"]
        newest: str | None = stream.get("newest")
        sweep = stream.get("sweep") or {"top": None, "max_id": None}
        params: dict[str, str | int] = {"limit": self.limit}
        if sweep.get("max_id"):
            params["max_id"] = sweep["max_id"]
        if kind == "tag":
            url = f"{self.base_url}/api/v1/timelines/tag/{urllib.parse.quote(key, safe='')}"
            if newest:
                params["since_id"] = newest
        else:
            url = f"{self.base_url}/api/v2/search"
            # A phrase in double quotes is searched as a phrase (Mastodon 4.2+).
            params.update(q=f'"{key}"' if " " in key else key, type="statuses")
        response = await request(
            ctx, _NAME, url, params=params, headers=self._headers(), ok=(200, 404, 429)
        )
        if response.status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                reset = _reset_time(response)
                wait = (reset - utcnow()).total_seconds() if reset else _RATE_PERIOD.total_seconds()
            raise RateLimited(
                f"{_NAME}: rate limited by {url} (HTTP 429); waiting {wait:.0f} s",
                source=_NAME,
                brand=target.brand,
                url=url,
                retry_after=max(wait, 0.0),
            )
        not_before = None
        remaining = response.headers.get("X-RateLimit-Remaining", "").strip()
        if remaining and _is_exhausted(remaining):
            not_before = _reset_time(response) or utcnow() + _RATE_PERIOD
        if response.status == 404:
            if kind != "tag":
                raise SourceError(
                    f"{_NAME}: {url} answered HTTP 404; is {self.base_url} a Mastodon instance?",
                    source=_NAME,
                    brand=target.brand,
                    url=url,
                )
            # The instance has never seen the hashtag (older versions answer 404,
            # newer ones an empty list): nothing to collect yet.
            stream["sweep"] = None
            return [], [], True, not_before
        items = self._statuses(response, kind, url)

        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        top: str | None = sweep.get("top")
        oldest: str | None = None
        fresh = 0
        reached_since = False
        first_run = newest is None
        for item in items:
            position = item.get("id") if isinstance(item, dict) else None
            if not isinstance(position, str) or not position:
                unparsed.append(("status has no id", item))
                continue
            if oldest is None or _id_key(position) < _id_key(oldest):
                oldest = position
            if newest is not None and _id_key(position) <= _id_key(newest):
                continue  # collected by an earlier run
            fresh += 1
            if top is None or _id_key(position) > _id_key(top):
                top = position
            try:
                mention = self._mention(item, target.brand)
            except UnparsableItem as error:
                unparsed.append((str(error), item))
                continue
            if mention is None:
                continue
            if first_run and target.since is not None and mention.created_at < target.since:
                reached_since = True
                continue
            mentions.append(mention)

        next_max = _link_param(response, "next", "max_id") or oldest
        ended = (
            fresh == 0
            or reached_since
            or (first_run and target.since is None)
            or next_max is None
            or next_max == sweep.get("max_id")  # the server ignored max_id: stop, not loop
        )
        if ended:
            stream["newest"] = top if top is not None else newest
            stream["sweep"] = None
        else:
            stream["sweep"] = {"top": top, "max_id": next_max}
        return mentions, unparsed, ended, not_before

    def _statuses(self, response: Response, kind: str, url: str) -> list[Any]:
        body = response.json(_NAME)
        if kind == "search":
            body = body.get("statuses") if isinstance(body, dict) else None
        if not isinstance(body, list):
            raise BadPayload(
                f"{_NAME}: {url} did not answer a list of statuses; it began "
                f"{response.body[:120]!r}",
                source=_NAME,
                url=url,
            )
        return body

    def _mention(self, item: dict[str, Any], brand: str) -> Mention | None:
        """The mention of one status, None for one that is not public talk."""
        reblog = item.get("reblog")
        status = reblog if isinstance(reblog, dict) else item
        uri = status.get("uri")
        if not isinstance(uri, str) or not uri:
            raise UnparsableItem("status has no uri")
        content = status.get("content")
        if not isinstance(content, str):
            raise UnparsableItem("status has no content")
        created_at = _parse_time(status.get("created_at"))
        if created_at is None:
            raise UnparsableItem("status has no valid created_at")
        if status.get("visibility") in _PRIVATE:
            return None
        spoiler = status.get("spoiler_text")
        title = spoiler.strip() if isinstance(spoiler, str) and spoiler.strip() else None
        text = html_to_text(content)
        if not text:
            if title is None:
                return None  # media alone, no words: nothing to read or score
            text = title
        url = status.get("url") if isinstance(status.get("url"), str) else None
        language = status.get("language")
        engagement = {
            name: value
            for name, field in (
                ("likes", "favourites_count"),
                ("reblogs", "reblogs_count"),
                ("replies", "replies_count"),
            )
            if isinstance(value := status.get(field), int) and not isinstance(value, bool)
        }
        return Mention(
            source=_NAME,
            external_id=uri,
            brand=brand,
            text=text,
            url=url or uri,
            title=title,
            author=self._author(status.get("account")),
            lang=language if isinstance(language, str) and language else None,
            created_at=created_at,
            engagement=engagement,
            raw=item,
        )

    def _author(self, account: Any) -> Author:
        if not isinstance(account, dict):
            return Author()
        acct = account.get("acct")
        handle = None
        if isinstance(acct, str) and acct:
            # A local account's acct has no domain; the instance's is added so that
            # the handle names the same person whichever instance reported them.
            handle = acct if "@" in acct else f"{acct}@{self.host}"
        followers = account.get("followers_count")
        display = account.get("display_name")
        url = account.get("url")
        return Author(
            id=handle,
            handle=f"@{handle}" if handle else None,
            display_name=display if isinstance(display, str) and display else None,
            followers=followers
            if isinstance(followers, int) and not isinstance(followers, bool) and followers >= 0
            else None,
            url=url if isinstance(url, str) and url else None,
        )


def _hashtag(value: str) -> str | None:
    tag = value.strip().lstrip("#")
    if not _HASHTAG.match(tag) or tag.isdigit():
        return None
    return tag.lower()


def _id_key(value: str) -> tuple[int, str]:
    # Mastodon ids are decimal snowflakes (a longer id is a newer one); other servers'
    # ids (ULIDs, flake ids) are fixed-length strings that sort as text. This orders both.
    return (len(value), value)


def _is_exhausted(remaining: str) -> bool:
    try:
        return float(remaining) <= 0
    except ValueError:
        return False


def _reset_time(response: Response) -> datetime | None:
    """``X-RateLimit-Reset``: an ISO 8601 time on Mastodon (epoch seconds elsewhere)."""
    value = response.headers.get("X-RateLimit-Reset", "").strip()
    try:
        number = float(value)
    except ValueError:
        return _parse_time(value)
    if number > 1_000_000_000:
        return datetime.fromtimestamp(number, UTC)
    return utcnow() + timedelta(seconds=max(number, 0.0))


def _link_param(response: Response, rel: str, name: str) -> str | None:
    """A query parameter of the ``Link`` header's ``rel`` link (Mastodon's paging)."""
    for link in response.headers.getall("Link", []):
        for target, relation in _LINK.findall(link):
            if relation.strip() == rel:
                values = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).get(name)
                if values and values[0]:
                    return str(values[0])
    return None
