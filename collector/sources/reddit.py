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
one already collected (or ``since`` on a first run), or the listing ends (Reddit serves about
1,000 posts of a listing). Reddit reports its budget in ``X-Ratelimit-Remaining`` and
``X-Ratelimit-Reset`` (seconds): when it is spent the page is kept and the next fetch raises
``RateLimited`` until the reset; a 429 waits for the reset too.
"""

from __future__ import annotations

import base64
import json
import re
import time
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
# What Reddit leaves of a post that was deleted by its author or removed by moderators.
_PLACEHOLDERS = {"[deleted]", "[removed]"}


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
        if not isinstance(subreddits, list | tuple | None) or any(
            not isinstance(name, str) for name in subreddits or []
        ):
            raise ValueError("subreddits must be a list of subreddit names")
        names = [name.strip().removeprefix("/").removeprefix("r/") for name in subreddits or []]
        bad = [name for name in names if not _SUBREDDIT.match(name)]
        if bad:
            raise ValueError(f"subreddits must be subreddit names such as 'python', got {bad!r}")
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
        self.limit = limit
        self.user_agent = user_agent
        # The OAuth token lives in this object only: never in the cursor, never logged.
        self._token: str | None = None
        self._token_expires = 0.0

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of the listing; ``more`` while the run has not reached what it collected.

        The cursor is ``{"query": str, "newest": epoch | None, "walk": {...} | None,
        "not_before": epoch | None}``: ``newest`` is the newest ``created_utc`` collected,
        ``walk`` the run under way (``after`` fullname, ``lower`` bound, ``top``),
        ``not_before`` when a spent rate limit resets.
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
        query = self._query(target)
        # A changed query (terms edited) starts afresh, from `since`, like a first run.
        newest = saved.get("newest") if saved.get("query") == query else None
        walk = saved.get("walk") if saved.get("query") == query else None
        if not (isinstance(walk, dict) and walk.keys() >= _WALK_KEYS):
            since = target.since.timestamp() if target.since is not None else None
            walk = _new_walk(newest, since, now)
        walk = dict(walk)
        listing, response = await self._listing(ctx, query, walk["after"])
        children, after = _envelope(listing, self._api)
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        reached = False
        times: list[float] = []
        for child in children:
            try:
                mention, created = _mention(child, target.brand)
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
        done = walk["single"] or reached or not after or not children or after == walk["after"]
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
        return Page(mentions, new_cursor, more=walk is not None, unparsed=unparsed)

    @property
    def _oauth(self) -> bool:
        return self.client_id is not None and self.client_secret is not None

    @property
    def _api(self) -> str:
        root = self.oauth_url if self._oauth else self.base_url
        scope = f"/r/{'+'.join(self.subreddits)}" if self.subreddits else ""
        path = "new" if self.listing == "new" else "search"
        # The public site serves JSON at .json paths; the OAuth host serves it at plain paths.
        return f"{root}{scope}/{path}" + ("" if self._oauth else ".json")

    def _query(self, target: Target) -> str:
        if self.listing == "new":
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
        self, ctx: CollectContext, query: str, after: str | None
    ) -> tuple[Any, Response]:
        params: dict[str, str | int] = {"limit": self.limit, "raw_json": 1}
        if self.listing == "search":
            params.update(q=query, sort="new", t="all", type="link")
            if self.subreddits:
                params["restrict_sr"] = 1
        if after:
            params["after"] = after
        for attempt in range(2):
            headers = {"User-Agent": self.user_agent}
            if self._oauth:
                headers["Authorization"] = f"bearer {await self._access_token(ctx)}"
            response = await request(
                ctx, _NAME, self._api, params=params, headers=headers, ok=(200, 401, 403, 404, 429)
            )
            if response.status == 401 and self._oauth and attempt == 0:
                self._token = None  # expired or revoked: get a new one and ask again
                continue
            if response.status != 200:
                self._raise_for(response)
            try:
                return json.loads(response.body), response
            except ValueError as error:
                raise BadPayload(
                    f"{_NAME}: {self._api} answered something that is not JSON: {error}; "
                    f"it began {response.body[:120]!r}",
                    source=_NAME,
                    url=self._api,
                ) from None
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

    def _raise_for(self, response: Response) -> None:
        if response.status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = _number(response.headers.get("X-Ratelimit-Reset"))
            wait = wait if wait is not None else _DEFAULT_WAIT
            raise RateLimited(
                f"{_NAME}: rate limited by {self._api} (HTTP 429); waiting {wait:.0f} s",
                source=_NAME,
                url=self._api,
                retry_after=wait,
            )
        reason = _reason(response.body)
        where = f"r/{'+'.join(self.subreddits)}" if self.subreddits else self._api
        if response.status == 401:
            advice = "Check GOODWILL_REDDIT_CLIENT_ID and GOODWILL_REDDIT_CLIENT_SECRET."
        elif response.status == 403 and reason in ("private", "quarantined", "gold_only"):
            advice = f"A subreddit of {where} is {reason}; remove it from the source's subreddits."
        elif response.status == 403:
            advice = (
                "Reddit refused the request; set the app credentials and a descriptive "
                "user_agent (Reddit blocks generic clients)."
            )
        else:
            advice = (
                f"A subreddit of {where} does not exist or is banned ({reason or 'not found'})."
            )
        raise SourceError(
            f"{_NAME}: {self._api} answered HTTP {response.status}. {advice}",
            source=_NAME,
            url=self._api,
        )


def _mention(child: Any, brand: str) -> tuple[Mention | None, float]:
    """The post's mention (None for a removed or deleted post) and its creation time."""
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
