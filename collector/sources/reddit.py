"""Reddit posts that mention the brand: site-wide or subreddit search, or subreddits' new posts.

API: ``GET /search?q=QUERY&sort=new&type=link`` (site-wide), ``GET /r/SUB1+SUB2/search?
q=QUERY&restrict_sr=1&sort=new`` (within subreddits) or ``GET /r/SUB1+SUB2/new`` (every new
post there), each answering a ``Listing`` of ``t3`` things, newest first
(docs: https://www.reddit.com/dev/api#GET_search, https://www.reddit.com/dev/api#GET_new).
With app credentials the source uses application-only OAuth: ``POST
https://www.reddit.com/api/v1/access_token`` with ``grant_type=client_credentials`` and HTTP
basic auth, then ``https://oauth.reddit.com`` with ``Authorization: bearer TOKEN``
(https://github.com/reddit-archive/reddit/wiki/OAuth2). Without them it reads the public
JSON endpoints (``https://www.reddit.com/....json``), which Reddit limits more tightly.

Credentials: optional but recommended. Create an app of type "script" at
https://www.reddit.com/prefs/apps and set ``GOODWILL_REDDIT_CLIENT_ID`` (the string under the
app's name) and ``GOODWILL_REDDIT_CLIENT_SECRET``. Reddit also asks every client for a
descriptive User-Agent naming its author: set ``user_agent`` to something like
``"python:goodwill:v0.1 (by /u/YOUR_NAME)"``.

Paging and limits: the terms are ORed into one query (quoted). A run pages backwards with
the listing's ``after`` fullname (``t3_...``) until it reaches a post no newer than the newest
one already collected (or ``since`` on a first run), or the listing ends: Reddit serves at
most about 1,000 posts of a listing, and its ``after`` is null at the end. A listing that
ends before reaching the newest post already collected (which it would have served had
it gone on), or that ends near 1,000 posts before reaching ``since``, was cut by that cap:
the page says so (``Page.truncated``, with the window left unread), and the runner records
the window as not read. (A listing that ends sooner before ``since`` simply holds no older
posts.) Reddit reports its budget in ``X-Ratelimit-Remaining`` and
``X-Ratelimit-Reset`` (seconds): when it is spent the page is kept and the next fetch raises
``RateLimited`` until the reset; a 429 waits for the reset too.

Owned subreddits: ``owned_subreddits`` names the brand's own subreddits. Every post there is
marked ``owned`` (about the brand whatever its words, so the brand's query does not filter
it), however it was found; after the listing above, each run also walks ``GET
/r/OWN1+OWN2/new`` the same way, with its own place in the cursor (unless the listing above
already reads every new post of those subreddits). Only posts are collected, not comments.

Followers: Reddit's API gives no follower count for users (``/user/NAME/about`` has karma,
not followers), so Reddit authors carry none.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import SecretStr

from collector.base import CollectContext, Page, Target
from collector.http import Response, parse_retry_after, request
from goodwill.errors import BadPayload, RateLimited, SourceError, UnparsableItem
from goodwill.models import Author, Mention

__all__ = ["RedditSource"]

_NAME = "reddit"
_SITE = "https://www.reddit.com"
_USER_AGENT = "python:goodwill:v0.1.0 (open-source social listening)"
_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
#: Reddit's search refuses longer queries.
_MAX_QUERY = 512
_DEFAULT_WAIT = 60.0
#: Reddit serves at most about this many posts of a listing (then ``after`` is null) ...
_CAP = 1000
#: ... and a listing that ended after this many, short of ``since``, was cut by it.
_NEAR_CAP = 900
# What Reddit leaves of a post that was deleted by its author or removed by moderators.
_PLACEHOLDERS = {"[deleted]", "[removed]"}


@dataclass(frozen=True)
class _Scope:
    """One listing the source walks: ``search`` or ``new``, over subreddits (none: all)."""

    subreddits: tuple[str, ...]
    listing: str


class RedditSource:
    """Reddit posts matching the brand's terms (or all new posts of chosen subreddits)."""

    name = _NAME

    def __init__(
        self,
        *,
        base_url: str = _SITE,
        oauth_url: str = "https://oauth.reddit.com",
        auth_url: str = "https://www.reddit.com/api/v1/access_token",
        client_id: SecretStr | None = None,
        client_secret: SecretStr | None = None,
        subreddits: list[str] | None = None,
        listing: Literal["search", "new"] = "search",
        limit: int = 100,
        user_agent: str = _USER_AGENT,
        owned_subreddits: list[str] | None = None,
    ) -> None:
        """Configure the source.

        Args:
            base_url: the public site, whose ``.json`` endpoints are read without credentials.
            oauth_url: the API host used with an OAuth token.
            auth_url: where app credentials are exchanged for a token.
            client_id: the app's client id (with ``client_secret``: OAuth).
            client_secret: the app's secret.
            subreddits: subreddit names to restrict to; empty means all of Reddit.
            listing: ``"search"`` (posts matching the terms) or ``"new"`` (every new post of
                ``subreddits``; the runner keeps those that match the brand's query).
            limit: posts per request, 1 to 100.
            user_agent: the descriptive User-Agent Reddit requires.
            owned_subreddits: the brand's own subreddits: every new post there is read and
                marked owned (kept whatever the brand's query says).
        """
        for label, url in (
            ("base_url", base_url),
            ("oauth_url", oauth_url),
            ("auth_url", auth_url),
        ):
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError(f"{label} must be an http(s) URL, got {url!r}")
        if (client_id is None) != (client_secret is None):
            raise ValueError("client_id and client_secret must be given together")
        names = _subreddits(subreddits, "subreddits")
        owned = _subreddits(owned_subreddits, "owned_subreddits")
        if listing not in ("search", "new"):
            raise ValueError(f"listing must be 'search' or 'new', got {listing!r}")
        if listing == "new" and not names:
            raise ValueError("listing 'new' must name the subreddits to read")
        if not _is_int(limit) or not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        if not isinstance(user_agent, str) or not user_agent.strip():
            raise ValueError("user_agent must not be empty")
        self.base_url = base_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self.auth_url = auth_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.subreddits = names
        self.listing = listing
        self.owned_subreddits = owned
        self._scope = _Scope(tuple(names), listing)
        # The owned subreddits' new posts, unless the listing above reads them all already.
        read = {name.casefold() for name in names} if listing == "new" else set()
        unread = tuple(name for name in owned if name.casefold() not in read)
        self._owned_scope = _Scope(unread, "new") if unread else None
        self._owned = frozenset(name.casefold() for name in owned)
        self.limit = limit
        self.user_agent = user_agent
        # The OAuth token lives in this object only: never in the cursor, never logged.
        self._token: str | None = None
        self._token_expires = 0.0

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of the listing; ``more`` while the run has not reached what it collected.

        The cursor is ``{"query": str, "newest": epoch | None, "walk": {...} | None,
        "not_before": epoch | None, "owned": {"query", "newest", "walk", "due": bool}}``:
        ``newest`` is the newest ``created_utc`` collected, ``walk`` the run under way
        (``after`` fullname, ``lower`` bound, ``top``), ``not_before`` when a spent rate
        limit resets; ``owned`` is the owned subreddits' own place, ``due`` while this run
        has still to walk them.
        """
        saved = cursor if isinstance(cursor, dict) else {}
        not_before = saved.get("not_before")
        now = time.time()
        if isinstance(not_before, int | float) and not_before > now:
            wait = not_before - now
            raise RateLimited(
                f"{_NAME}: the rate limit is spent; it resets in {wait:.0f} s",
                source=_NAME,
                brand=target.brand,
                url=self._api,
                retry_after=wait,
            )
        owned: dict[str, Any] = saved["owned"] if isinstance(saved.get("owned"), dict) else {}
        if self._owned_scope is not None and owned.get("due"):
            page = await self._walk(ctx, target, owned, self._owned_scope, now)
            main = {key: saved.get(key) for key in ("query", "newest", "walk")}
            new_cursor = {
                **main,
                "not_before": page.cursor.pop("not_before"),
                "owned": {**page.cursor, "due": page.more},
            }
            return _with_cursor(page, new_cursor, more=page.more)
        page = await self._walk(ctx, target, saved, self._scope, now)
        if self._owned_scope is None:
            return page
        # The listing's walk is over: the same run goes on with the owned subreddits.
        new_cursor = {**page.cursor, "owned": {**owned, "due": not page.more}}
        return _with_cursor(page, new_cursor, more=True)

    async def _walk(
        self, ctx: CollectContext, target: Target, saved: dict[str, Any], scope: _Scope, now: float
    ) -> Page:
        """One page of ``scope``'s listing from its place ``saved`` (``query``, ``newest``,
        ``walk``); the page's cursor is that place moved on, with ``not_before``."""
        query = self._query(target, scope)
        # A changed query (terms edited) starts afresh, from `since`, like a first run.
        newest = saved.get("newest") if saved.get("query") == query else None
        walk = saved.get("walk") if saved.get("query") == query else None
        if not (isinstance(walk, dict) and walk.keys() >= _WALK_KEYS):
            since = target.since.timestamp() if target.since is not None else None
            walk = _new_walk(newest, since, now)
        walk = dict(walk)
        listing, response = await self._listing(ctx, scope, query, walk["after"])
        api = self._api_of(scope)
        children, after = _envelope(listing, api)
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        reached = False
        times: list[float] = []
        for child in children:
            try:
                mention, created = _mention(child, target.brand, self._owned)
            except UnparsableItem as error:
                unparsed.append((str(error), child))
                continue
            times.append(created)
            if walk["lower"] is not None and created < walk["lower"]:
                reached = True  # older than what we have (or than since): the run is done
                continue
            if mention is not None:
                mentions.append(mention)
        if times:
            walk["top"] = max(times) if walk["top"] is None else max(*times, walk["top"])
            bottom = walk.get("bottom")
            walk["bottom"] = min(times) if bottom is None else min(*times, bottom)
        walk["count"] = int(walk.get("count") or 0) + len(children)
        ended = not after or not children  # the listing's own end (Reddit's after is null)
        done = walk["single"] or reached or ended or after == walk["after"]
        truncated, window = (
            _cut_by_cap(walk, from_cursor=newest is not None, where=api)
            if done and ended and not reached and not walk["single"]
            else (None, None)
        )
        if done:
            candidates = [value for value in (newest, walk["top"]) if value is not None]
            # Nothing found at all: remember when we looked, so the next run asks for newer.
            newest = max(candidates) if candidates else walk["started"]
            walk = None
        else:
            walk["after"] = after
        new_cursor = {
            "query": query,
            "newest": newest,
            "walk": walk,
            "not_before": _spent_until(response),
        }
        return Page(
            mentions,
            new_cursor,
            more=walk is not None,
            unparsed=unparsed,
            truncated=truncated,
            truncated_window=window,
        )

    @property
    def _oauth(self) -> bool:
        return self.client_id is not None and self.client_secret is not None

    @property
    def _api(self) -> str:
        return self._api_of(self._scope)

    def _api_of(self, scope: _Scope) -> str:
        root = self.oauth_url if self._oauth else self.base_url
        where = f"/r/{'+'.join(scope.subreddits)}" if scope.subreddits else ""
        path = "new" if scope.listing == "new" else "search"
        # The public site serves JSON at .json paths; the OAuth host serves it at plain paths.
        return f"{root}{where}/{path}" + ("" if self._oauth else ".json")

    def _query(self, target: Target, scope: _Scope) -> str:
        if scope is self._owned_scope:
            # The owned walk's place is its subreddits': one added later starts afresh.
            return "new:" + "+".join(sorted(name.casefold() for name in scope.subreddits))
        if scope.listing == "new":
            return ""
        terms = [term.replace('"', " ").strip() for term in target.terms]
        terms = list(dict.fromkeys(term for term in terms if term)) or [target.brand]
        query = " OR ".join(f'"{term}"' for term in terms)
        if len(query) > _MAX_QUERY:
            raise SourceError(
                f"{_NAME}: the brand's terms make a search of {len(query)} characters; Reddit "
                f"takes at most {_MAX_QUERY}. Use fewer or shorter terms for this source.",
                source=_NAME,
                brand=target.brand,
                url=self._api,
            )
        return query

    async def _listing(
        self, ctx: CollectContext, scope: _Scope, query: str, after: str | None
    ) -> tuple[Any, Response]:
        params: dict[str, str | int] = {"limit": self.limit, "raw_json": 1}
        if scope.listing == "search":
            params.update(q=query, sort="new", t="all", type="link")
            if scope.subreddits:
                params["restrict_sr"] = 1
        if after:
            params["after"] = after
        for attempt in range(2):
            headers = {"User-Agent": self.user_agent}
            if self._oauth:
                headers["Authorization"] = f"bearer {await self._access_token(ctx)}"
            response = await request(
                ctx,
                _NAME,
                self._api_of(scope),
                params=params,
                headers=headers,
                ok=(200, 401, 403, 404, 429),
            )
            if response.status == 401 and self._oauth and attempt == 0:
                self._token = None  # expired or revoked: get a new one and ask again
                continue
            if response.status != 200:
                self._raise_for(response, scope)
            # An HTML page or JSON cut short is transient (retried); other non-JSON: BadPayload.
            return response.json(_NAME), response
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _access_token(self, ctx: CollectContext) -> str:
        if self._token is not None and time.time() < self._token_expires:
            return self._token
        assert self.client_id is not None and self.client_secret is not None
        pair = f"{self.client_id.get_secret_value()}:{self.client_secret.get_secret_value()}"
        basic = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        response = await request(
            ctx,
            _NAME,
            self.auth_url,
            method="POST",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}", "User-Agent": self.user_agent},
        )
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceError(
                f"{_NAME}: {self.auth_url} gave no access token ({error or 'no JSON token'}). "
                "Check GOODWILL_REDDIT_CLIENT_ID and GOODWILL_REDDIT_CLIENT_SECRET "
                "(an app of type 'script' at https://www.reddit.com/prefs/apps).",
                source=_NAME,
                url=self.auth_url,
            )
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self._token = token
        self._token_expires = time.time() + max(lifetime - 60.0, 0.0)
        return token

    def _raise_for(self, response: Response, scope: _Scope) -> None:
        api = self._api_of(scope)
        if response.status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = _number(response.headers.get("X-Ratelimit-Reset"))
            wait = wait if wait is not None else _DEFAULT_WAIT
            raise RateLimited(
                f"{_NAME}: rate limited by {api} (HTTP 429); waiting {wait:.0f} s",
                source=_NAME,
                url=api,
                retry_after=wait,
            )
        reason = _reason(response.body)
        where = f"r/{'+'.join(scope.subreddits)}" if scope.subreddits else api
        named = "owned_subreddits" if scope is self._owned_scope else "subreddits"
        if response.status == 401:
            advice = "Check GOODWILL_REDDIT_CLIENT_ID and GOODWILL_REDDIT_CLIENT_SECRET."
        elif response.status == 403 and reason in ("private", "quarantined", "gold_only"):
            advice = f"A subreddit of {where} is {reason}; remove it from the source's {named}."
        elif response.status == 403:
            advice = (
                "Reddit refused the request; set the app credentials and a descriptive "
                "user_agent (Reddit blocks generic clients)."
            )
        else:
            advice = (
                f"A subreddit of {where} does not exist or is banned ({reason or 'not found'}); "
                f"check the source's {named}."
            )
        raise SourceError(
            f"{_NAME}: {api} answered HTTP {response.status}. {advice}",
            source=_NAME,
            url=api,
        )


def _subreddits(values: Any, name: str) -> list[str]:
    """A watch list's subreddit names (``r/`` and ``/`` left off), or a ValueError naming ``name``."""
    if not isinstance(values, list | tuple | None) or any(
        not isinstance(value, str) for value in values or []
    ):
        raise ValueError(f"{name} must be a list of subreddit names")
    names = [value.strip().removeprefix("/").removeprefix("r/") for value in values or []]
    bad = [value for value in names if not _SUBREDDIT.match(value)]
    if bad:
        raise ValueError(f"{name} must be subreddit names such as 'python', got {bad!r}")
    return list(dict.fromkeys(names))


def _with_cursor(page: Page, cursor: dict[str, Any], *, more: bool) -> Page:
    """``page`` with another cursor and ``more``."""
    return Page(
        page.mentions,
        cursor,
        more=more,
        unparsed=page.unparsed,
        truncated=page.truncated,
        truncated_window=page.truncated_window,
    )


def _mention(
    child: Any, brand: str, owned: frozenset[str] = frozenset()
) -> tuple[Mention | None, float]:
    """The post's mention (None for a removed or deleted post) and its creation time.

    ``owned``: the brand's own subreddits (case-folded); a post in one of them is owned.
    """
    if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
        raise UnparsableItem("listing child has no data object")
    if child.get("kind") != "t3":
        raise UnparsableItem(f"listing child is a {child.get('kind')!r}, not a post (t3)")
    post = child["data"]
    post_id = post.get("id")
    if not isinstance(post_id, str) or not post_id:
        raise UnparsableItem("post has no id")
    created = post.get("created_utc")
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise UnparsableItem("post has no numeric created_utc")
    title = post.get("title")
    if not isinstance(title, str):
        raise UnparsableItem("post has no title")
    selftext = post.get("selftext") or ""
    if not isinstance(selftext, str):
        raise UnparsableItem("post selftext is not text")
    if post.get("removed_by_category") or selftext in _PLACEHOLDERS:
        return None, float(created)  # removed or deleted: only a placeholder is left
    permalink = post.get("permalink")
    subreddit = post.get("subreddit")
    author = post.get("author")
    author = author if isinstance(author, str) and author not in _PLACEHOLDERS else None
    author_id = post.get("author_fullname")
    engagement = {
        key: post[field]
        for key, field in (("score", "score"), ("replies", "num_comments"))
        if isinstance(post.get(field), int) and not isinstance(post.get(field), bool)
    }
    mention = Mention(
        source=_NAME,
        external_id=post_id,
        brand=brand,
        text=f"{title}\n\n{selftext.strip()}" if selftext.strip() else title,
        url=f"{_SITE}{permalink}" if isinstance(permalink, str) else None,
        title=title,
        author=Author(
            id=author_id if isinstance(author_id, str) and author else None,
            handle=author,
            url=f"{_SITE}/user/{author}" if author else None,
        ),
        created_at=datetime.fromtimestamp(created, UTC),
        owned=isinstance(subreddit, str) and subreddit.casefold() in owned,
        engagement=engagement,
        raw=child,
    )
    return mention, float(created)


_WALK_KEYS = frozenset({"after", "lower", "top", "single", "started"})


def _new_walk(newest: float | None, since: float | None, now: float) -> dict[str, Any]:
    # A first run without `since` takes only the newest page. A later run pages back to the
    # newest post already collected (inclusive: posts of that instant come again, deduped).
    return {
        "after": None,
        "lower": newest if newest is not None else since,
        "top": None,
        "single": newest is None and since is None,
        "started": now,
    }


def _cut_by_cap(
    walk: dict[str, Any], *, from_cursor: bool, where: str
) -> tuple[str | None, tuple[datetime, datetime] | None]:
    """Why and where Reddit's listing cap cut a walk that ended short of its lower bound.

    The lower bound is the newest post of an earlier walk (``from_cursor``: the listing
    would have served it had it gone on) or ``since`` (then only a listing that served
    near its cap was cut; a shorter one holds no older posts). (None, None) when not cut.
    """
    lower, bottom = walk.get("lower"), walk.get("bottom")
    if lower is None or bottom is None or bottom <= lower:
        return None, None
    if not from_cursor and int(walk.get("count") or 0) < _NEAR_CAP:
        return None, None
    start, end = datetime.fromtimestamp(lower, UTC), datetime.fromtimestamp(bottom, UTC)
    bound = "the newest post collected before" if from_cursor else "since"
    reason = (
        f"{_NAME}: {where} ended at Reddit's cap of about {_CAP:,} posts before reaching "
        f"{bound}: posts from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC were not "
        "read. Collect this source more often (a shorter interval) or narrow its search."
    )
    return reason, (start, end)


def _envelope(body: Any, url: str) -> tuple[list[Any], str | None]:
    data = body.get("data") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("kind") != "Listing"
        or not isinstance(data, dict)
        or not isinstance(data.get("children"), list)
    ):
        raise BadPayload(
            f"{_NAME}: {url} answered JSON that is not a Listing", source=_NAME, url=url
        )
    after = data.get("after")
    return data["children"], after if isinstance(after, str) and after else None


def _spent_until(response: Response) -> float | None:
    remaining = _number(response.headers.get("X-Ratelimit-Remaining"))
    reset = _number(response.headers.get("X-Ratelimit-Reset"))
    if remaining is None or reset is None or remaining >= 1:
        return None
    return time.time() + reset


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _reason(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    reason = parsed.get("reason") if isinstance(parsed, dict) else None
    return reason if isinstance(reason, str) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
