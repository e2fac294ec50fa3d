"""Bluesky post search: ``app.bsky.feed.searchPosts``, anonymous or logged in with an app password.

API: ``GET {base_url}/xrpc/app.bsky.feed.searchPosts?q=..&sort=latest&since=..&limit=100&cursor=..``
(https://docs.bsky.app/docs/api/app-bsky-feed-search-posts). The answer is
``{"posts": [PostView, ...], "cursor": "...", "hitsTotal": n}``, newest first; errors are
XRPC bodies ``{"error": "Name", "message": "..."}``.

Credentials: Bluesky's public AppView has refused anonymous post search since January 2025
(HTTP 403, or 401 ``AuthMissing``), so set ``GOODWILL_BLUESKY_HANDLE`` (your handle, e.g.
``acme.bsky.social``) and ``GOODWILL_BLUESKY_APP_PASSWORD`` (an app password made at bsky.app under
Settings > Privacy and security > App passwords; never the account's main password). With them
the source logs in at ``pds_url`` (``com.atproto.server.createSession``), keeps the session in
memory only (never in the cursor, which is stored in MongoDB), renews it with
``com.atproto.server.refreshSession`` when a call answers ``ExpiredToken``, and searches through
the PDS, which forwards ``app.bsky.*`` calls to the AppView for the logged-in account.

Terms: the search ANDs every word and does not honour ``OR`` (its syntax is documented as
"unspecified"), so each term is searched on its own, a multi-word term quoted as a phrase.

Paging and cursor: per term, a run pages through ``sort=latest`` with the API's own ``cursor``
from ``since`` = the newest post seen so far less ``overlap_seconds`` (the search indexes posts a
little late; the overlap's repeats are deduplicated by the store) until the API has no more.
A first run starts at ``target.since``, or with none reads the newest page only. The cursor is
``{"terms": {term: {"newest": ISO, "since": ISO, "page": api_cursor, "top": ISO}}, "due": [terms
left in this run], "not_before": epoch seconds}``; one fetch is one request, ``more`` is True
while terms are due.

Rate limits: 3000 requests per 5 minutes per IP, createSession 30 per 5 minutes and 300 a day per
account (https://docs.bsky.app/docs/advanced-guides/rate-limits). Responses carry
``RateLimit-Remaining`` and ``RateLimit-Reset`` (epoch seconds): a page that spends the budget is
returned and the next fetch waits until the reset; a 429 waits for ``Retry-After`` or the reset.

Authors and reach: a post's author is its DID (id) and handle, built as the ``jetstream`` source
builds it, so a post is one mention and its author one identity whichever path saw it first
(``collector.sources._bsky_profiles``). The search's author views carry no follower count, so
the followers of a page's authors come from ``app.bsky.actor.getProfiles`` at ``base_url`` (the
public AppView, without a login), 25 authors a call, each author kept a day; a lookup that fails
leaves the page's mentions without followers and never fails the page.

Deletions and edits: the search reports neither; a deleted post is simply no longer returned.
The ``jetstream`` source reports both (see there).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr, ValidationError

from collector.base import CollectContext, Page, Target
from collector.http import Response, parse_retry_after, request
from collector.sources._bsky_profiles import Profiles, author, post_url
from collector.sources._time import parse_time as _parse_time
from goodwill.errors import BadPayload, RateLimited, SourceError
from goodwill.models import Mention

__all__ = ["BlueskySource"]

log = logging.getLogger(__name__)

NAME = "bluesky"
_SEARCH = "/xrpc/app.bsky.feed.searchPosts"
_CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
_REFRESH_SESSION = "/xrpc/com.atproto.server.refreshSession"
_STALE_TOKEN = ("ExpiredToken", "InvalidToken")
_DEFAULT_WAIT = 60.0
# A term made only of word characters (and a leading # or $) is sent bare, so hashtag and
# cashtag search keep working; anything else is quoted, which makes it an exact phrase and
# keeps ':' or a leading '-' from being read as search operators.
_BARE_TERM = re.compile(r"^[#$]?\w[\w.'&-]*$")
_ENGAGEMENT = {
    "likeCount": "likes",
    "repostCount": "reposts",
    "replyCount": "replies",
    "quoteCount": "quotes",
    "bookmarkCount": "bookmarks",
}
_NEEDS_LOGIN = (
    "Bluesky's public AppView refuses anonymous post search: set GOODWILL_BLUESKY_HANDLE and "
    "GOODWILL_BLUESKY_APP_PASSWORD (an app password from bsky.app, Settings > Privacy and "
    "security > App passwords)."
)


@dataclass
class _Session:
    access: str
    refresh: str


class BlueskySource:
    """Searches Bluesky posts for each term of a brand, newest first, resuming where it left off.

    Args:
        base_url: the AppView searched when no login is given (the public AppView by default),
            and asked for authors' follower counts (``getProfiles``) in any case.
        pds_url: where the account logs in and, once logged in, where searches go (the PDS
            forwards them to the AppView); ``https://bsky.social`` serves every bsky.social account.
        handle: the account's handle (or DID, or e-mail), with ``app_password``.
        app_password: an app password of that account.
        limit: posts per page, 1 to 100.
        overlap_seconds: how far before the newest post seen a later run searches again, for
            posts the search indexed late.
    """

    name = NAME

    def __init__(
        self,
        *,
        base_url: str = "https://public.api.bsky.app",
        pds_url: str = "https://bsky.social",
        handle: str | None = None,
        app_password: SecretStr | None = None,
        limit: int = 100,
        overlap_seconds: float = 120.0,
    ) -> None:
        for key, url in (("base_url", base_url), ("pds_url", pds_url)):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{key} must be an http(s) URL, e.g. https://public.api.bsky.app")
        if isinstance(app_password, str):
            app_password = SecretStr(app_password)
        handle = handle.strip().removeprefix("@") if handle else None
        if bool(handle) != (app_password is not None and bool(app_password.get_secret_value())):
            raise ValueError("handle and app_password go together: give both or neither")
        if not 1 <= limit <= 100:
            raise ValueError("limit is the page size, between 1 and 100")
        if overlap_seconds < 0:
            raise ValueError("overlap_seconds cannot be negative")
        self.base_url = base_url.rstrip("/")
        self.pds_url = pds_url.rstrip("/")
        self.handle = handle
        self._password = app_password if handle else None
        self.limit = limit
        self.overlap = timedelta(seconds=overlap_seconds)
        self._session: _Session | None = None
        self._lock = asyncio.Lock()
        self._profiles = Profiles(self.base_url, NAME)

    @property
    def logged_in_search(self) -> bool:
        """Whether searches go through a logged-in session (handle and app password given)."""
        return self._password is not None

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of the search for the next due term of ``target``; see the module docstring."""
        state = _load_cursor(cursor, target.terms)
        not_before = state.get("not_before")
        if not_before is not None and not_before > time.time():
            wait = not_before - time.time()
            raise RateLimited(
                f"{NAME}: the rate-limit budget is spent until its reset; waiting {wait:.0f} s",
                source=NAME,
                brand=target.brand,
                retry_after=wait,
            )
        state.pop("not_before", None)
        if not state["due"]:
            # A new run: every term once more (blank and repeated terms once or not at all).
            state["due"] = list(dict.fromkeys(t for t in target.terms if t.strip()))
        if not state["due"]:
            return Page([], state)
        term = state["due"][0]
        progress = state["terms"].setdefault(term, {"newest": None})
        if progress.get("page") is None:  # a new pass over this term
            newest = _parse_time(progress.get("newest"))
            start = newest - self.overlap if newest else target.since
            progress.update(since=_iso(start) if start else None, top=None)
        params: dict[str, str | int] = {"q": _query(term), "sort": "latest", "limit": self.limit}
        if progress.get("since"):
            params["since"] = progress["since"]
        if progress.get("page") is not None:
            params["cursor"] = progress["page"]
        body, response = await self._search(ctx, params, target.brand)

        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        top = _parse_time(progress.get("top"))
        floor = _parse_time(progress.get("since"))
        below_floor = False
        for post in body["posts"]:
            parsed = _mention(post, target.brand)
            if isinstance(parsed, str):
                unparsed.append((parsed, post))
                continue
            mention, stamp = parsed
            if floor is not None and stamp < floor:
                # A server that ignores `since` must not walk us back through all of history:
                # what is older than the floor was collected before (or predates target.since).
                below_floor = True
                continue
            mentions.append(mention)
            top = stamp if top is None or stamp > top else top
        progress["top"] = _iso(top) if top else None
        mentions = await self._with_reach(ctx, mentions)

        next_page = body.get("cursor")
        finished = (
            not isinstance(next_page, str)
            or not next_page
            or not body["posts"]
            or below_floor
            or next_page == progress.get("page")  # an API that repeats itself must not loop us
            or progress.get("since") is None  # no `since`: the newest page only
        )
        if finished:
            newest = _parse_time(progress.get("newest"))
            candidates = [t for t in (newest, top, _parse_time(progress.get("since"))) if t]
            progress.clear()
            progress["newest"] = _iso(max(candidates)) if candidates else None
            state["due"].pop(0)
        else:
            progress["page"] = next_page

        more = bool(state["due"])
        reset = _spent_budget(response)
        if reset is not None:
            state["not_before"] = reset
            more = False
        return Page(mentions, state, more=more, unparsed=unparsed)

    async def _with_reach(self, ctx: CollectContext, mentions: list[Mention]) -> list[Mention]:
        """The mentions with their authors' follower counts, where ``getProfiles`` gives them."""
        profiles = await self._profiles.lookup(ctx, (m.author.id for m in mentions if m.author.id))
        reached = []
        for mention in mentions:
            profile = profiles.get(mention.author.id or "")
            if profile is not None and profile.followers is not None:
                counted = mention.author.model_copy(update={"followers": profile.followers})
                mention = mention.model_copy(update={"author": counted})
            reached.append(mention)
        return reached

    async def _search(
        self, ctx: CollectContext, params: dict[str, str | int], brand: str
    ) -> tuple[dict[str, Any], Response]:
        host = self.pds_url if self.logged_in_search else self.base_url
        url = f"{host}{_SEARCH}"
        for attempt in range(2):
            headers: dict[str, str] = {}
            token = None
            if self.logged_in_search:
                token = await self._access_token(ctx)
                headers["Authorization"] = f"Bearer {token}"
            response = await request(
                ctx, NAME, url, params=params, headers=headers, ok=(200, 400, 401, 403, 429)
            )
            if response.status == 200:
                body = response.json(NAME)
                if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
                    raise BadPayload(
                        f"{NAME}: {url} answered JSON without a posts list: {str(body)[:120]}",
                        source=NAME,
                        brand=brand,
                        url=url,
                    )
                return body, response
            error, message = _xrpc_error(response.body)
            if token is not None and attempt == 0 and error in _STALE_TOKEN:
                await self._renew(ctx, token)
                continue
            raise self._refusal(response, url, brand, error, message, "search")
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _access_token(self, ctx: CollectContext) -> str:
        async with self._lock:
            if self._session is None:
                self._session = await self._create_session(ctx)
            return self._session.access

    async def _renew(self, ctx: CollectContext, stale: str) -> None:
        async with self._lock:
            if self._session is not None and self._session.access != stale:
                return  # another job renewed it meanwhile
            if self._session is not None:
                url = f"{self.pds_url}{_REFRESH_SESSION}"
                headers = {"Authorization": f"Bearer {self._session.refresh}"}
                response = await request(
                    ctx, NAME, url, method="POST", headers=headers, ok=(200, 400, 401)
                )
                if response.status == 200:
                    self._session = _session_from(response, url)
                    return
                log.info("%s: the refresh token was refused; logging in again", NAME)
            self._session = await self._create_session(ctx)

    async def _create_session(self, ctx: CollectContext) -> _Session:
        assert self._password is not None and self.handle is not None
        url = f"{self.pds_url}{_CREATE_SESSION}"
        response = await request(
            ctx,
            NAME,
            url,
            method="POST",
            json_body={"identifier": self.handle, "password": self._password.get_secret_value()},
            ok=(200, 400, 401, 403, 429),
        )
        if response.status != 200:
            error, message = _xrpc_error(response.body)
            raise self._refusal(response, url, None, error, message, "login")
        return _session_from(response, url)

    def _refusal(
        self,
        response: Response,
        url: str,
        brand: str | None,
        error: str | None,
        message: str,
        what: str,
    ) -> SourceError:
        said = f"HTTP {response.status} {error or ''}: {message}".replace(" :", ":")
        if response.status == 429:
            wait = _wait_for(response)
            return RateLimited(
                f"{NAME}: {what} rate limited ({said}); waiting {wait:.0f} s",
                source=NAME,
                brand=brand,
                url=url,
                retry_after=wait,
            )
        if response.status in (401, 403) and not self.logged_in_search:
            return SourceError(f"{NAME}: {said}. {_NEEDS_LOGIN}", source=NAME, brand=brand, url=url)
        if response.status in (401, 403) or what == "login":
            return SourceError(
                f"{NAME}: Bluesky refused the {what} of {self.handle} ({said}). Check "
                "GOODWILL_BLUESKY_HANDLE and GOODWILL_BLUESKY_APP_PASSWORD (an app password, "
                "not the account's main password).",
                source=NAME,
                brand=brand,
                url=url,
            )
        return SourceError(f"{NAME}: {what} failed ({said})", source=NAME, brand=brand, url=url)


def _load_cursor(cursor: Any, terms: tuple[str, ...]) -> dict[str, Any]:
    """A working copy of the stored cursor, keeping only the target's current terms."""
    fresh: dict[str, Any] = {"terms": {}, "due": []}
    if cursor is None:
        return fresh
    if not isinstance(cursor, dict) or not isinstance(cursor.get("terms"), dict):
        log.warning("%s: stored cursor %r is not one of ours; starting afresh", NAME, cursor)
        return fresh
    state: dict[str, Any] = json.loads(json.dumps(cursor))  # never mutate the caller's copy
    state["terms"] = {
        term: progress
        for term, progress in state["terms"].items()
        if term in terms and isinstance(progress, dict)
    }
    due = state.get("due")
    state["due"] = [term for term in due if term in terms] if isinstance(due, list) else []
    not_before = state.get("not_before")
    state["not_before"] = float(not_before) if isinstance(not_before, int | float) else None
    return state


def _query(term: str) -> str:
    term = term.strip()
    if _BARE_TERM.match(term):
        return term
    return '"' + term.replace('"', " ").strip() + '"'


def _mention(post: Any, brand: str) -> tuple[Mention, datetime] | str:
    """The post as a mention and its search time, or why it cannot be one."""
    if not isinstance(post, dict):
        return "post is not a JSON object"
    uri = post.get("uri")
    if not isinstance(uri, str) or not uri.startswith("at://") or uri.count("/") < 4:
        return "post has no at:// uri"
    author_view = post.get("author")
    if not isinstance(author_view, dict) or not isinstance(author_view.get("did"), str):
        return "post has no author did"
    record = post.get("record")
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        return "post record has no text"
    created = _parse_time(record.get("createdAt"))
    if created is None:
        return "post record has no valid createdAt"
    indexed = _parse_time(post.get("indexedAt"))
    did = author_view["did"]
    handle = author_view.get("handle") if isinstance(author_view.get("handle"), str) else None
    display_name = author_view.get("displayName")
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    engagement = {
        name: post[key]
        for key, name in _ENGAGEMENT.items()
        if isinstance(post.get(key), int) and not isinstance(post.get(key), bool)
    }
    try:
        mention = Mention(
            source=NAME,
            external_id=uri,
            brand=brand,
            text=record["text"],
            url=post_url(did, handle, uri.rsplit("/", 1)[1]),
            author=author(did, handle, display_name if isinstance(display_name, str) else None),
            lang=lang,
            created_at=created,
            engagement=engagement,
            raw=post,
        )
    except ValidationError as error:
        return f"post does not fit a mention: {error.errors()[0]['msg']}"
    # The search orders and filters by "sortAt", the earlier of createdAt and indexedAt.
    return mention, min(created, indexed) if indexed else created


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _xrpc_error(body: bytes) -> tuple[str | None, str]:
    """The XRPC error name and message of an error body (or the start of an HTML page)."""
    try:
        value = json.loads(body)
    except ValueError:
        return None, re.sub(r"<[^>]+>|\s+", " ", body[:200].decode("utf-8", "replace")).strip()
    if not isinstance(value, dict):
        return None, str(value)[:200]
    error = value.get("error")
    message = value.get("message")
    return (
        error if isinstance(error, str) else None,
        message if isinstance(message, str) else "",
    )


def _reset_epoch(response: Response) -> float | None:
    """``RateLimit-Reset`` as epoch seconds (Bluesky sends epoch seconds; a small value is a delta)."""
    try:
        reset = float(response.headers.get("RateLimit-Reset", ""))
    except ValueError:
        return None
    return reset if reset > 1e9 else time.time() + max(reset, 0.0)


def _wait_for(response: Response) -> float:
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    reset = _reset_epoch(response)
    return max(reset - time.time(), 1.0) if reset is not None else _DEFAULT_WAIT


def _spent_budget(response: Response) -> float | None:
    """The epoch second to wait for when this response spent the rate-limit budget, else None."""
    try:
        remaining = int(response.headers.get("RateLimit-Remaining", ""))
    except ValueError:
        return None
    if remaining > 0:
        return None
    return _reset_epoch(response) or time.time() + _DEFAULT_WAIT


def _session_from(response: Response, url: str) -> _Session:
    body = response.json(NAME)
    if not isinstance(body, dict):
        body = {}
    access, refresh = body.get("accessJwt"), body.get("refreshJwt")
    if not isinstance(access, str) or not isinstance(refresh, str):
        raise BadPayload(f"{NAME}: {url} answered without session tokens", source=NAME, url=url)
    return _Session(access, refresh)
