"""GitHub issues that mention the brand, through the REST search API.

API: ``GET https://api.github.com/search/issues?q=TERM+is:issue+created:LOW..HIGH
&sort=created&order=desc&per_page=100&page=N`` with ``Accept: application/vnd.github+json``
and ``X-GitHub-Api-Version: 2022-11-28`` (docs:
https://docs.github.com/en/rest/search/search#search-issues-and-pull-requests). The
answer is ``{total_count, incomplete_results, items}``; an item is an issue (``title``,
``body`` in Markdown, ``user``, ``comments``, ``reactions``, ``html_url``). Pull requests
are excluded with ``is:issue``. Discussions (GraphQL only) are not collected.

Credentials: optional. Without a token the search API allows 10 requests a minute per IP;
with one, 30 a minute. Create a fine-grained personal access token with no extra
permissions (public data needs none) at https://github.com/settings/personal-access-tokens
and set ``GOODWILL_GITHUB_TOKEN``.

Paging and limits: each term is its own search, with its own place in the cursor. A search
serves at most 1,000 results (page 10 at 100 a page), so past that the source narrows the
``created`` range's upper bound to the oldest issue seen and starts again at page 1. When
``X-RateLimit-Remaining`` reaches 0 the page is kept and the next fetch raises
``RateLimited`` until ``X-RateLimit-Reset``; a 403 or 429 that carries rate-limit headers
(or ``Retry-After``, for secondary limits) is ``RateLimited``, not a credentials problem
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from collector.base import CollectContext, Page, Target
from collector.http import Response, parse_retry_after, request
from goodwill.errors import BadPayload, RateLimited, SourceError
from goodwill.models import Author, Mention

__all__ = ["GitHubSource"]

_NAME = "github"
#: No search serves more results than this, whatever the page size.
_MAX_RESULTS = 1000
_SECONDARY_WAIT = 60.0
_USER_AGENT = "goodwill/0.1 (open-source social listening)"


class GitHubSource:
    """GitHub issues whose title or body match the brand's terms, newest first."""

    name = _NAME

    def __init__(
        self,
        *,
        base_url: str = "https://api.github.com",
        token: SecretStr | None = None,
        qualifiers: str = "",
        per_page: int = 100,
        user_agent: str = _USER_AGENT,
    ) -> None:
        """Configure the source.

        Args:
            base_url: the REST API root (``https://HOST/api/v3`` for GitHub Enterprise Server).
            token: a personal access token (raises the search rate limit from 10 to 30 a minute).
            qualifiers: extra search qualifiers, e.g. ``"org:acme -repo:acme/website"``.
            per_page: results per request, 1 to 100.
            user_agent: the User-Agent GitHub asks every client to send.
        """
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not _is_int(per_page) or not 1 <= per_page <= 100:
            raise ValueError("per_page must be between 1 and 100")
        if not isinstance(qualifiers, str):
            raise ValueError("qualifiers must be a string of search qualifiers")
        words = qualifiers.split()
        managed = ("created:", "is:", "sort:", "type:")
        if any(word.lstrip("-").lower().startswith(managed) for word in words):
            raise ValueError(
                "qualifiers must not hold created:, is:, type: or sort: (the source sets them)"
            )
        if not isinstance(user_agent, str) or not user_agent.strip():
            raise ValueError("user_agent must not be empty")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.qualifiers = " ".join(words)
        self.per_page = per_page
        self.user_agent = user_agent

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of one term's search; ``more`` while any term's walk has pages left.

        The cursor is ``{"terms": [{"term": str, "newest": epoch | None, "walk": {...} | None}],
        "not_before": epoch | None}``: ``newest`` is the newest ``created_at`` collected,
        ``walk`` the window being paged through, ``not_before`` when the spent rate
        limit resets.
        """
        not_before = cursor.get("not_before") if isinstance(cursor, dict) else None
        now = time.time()
        if isinstance(not_before, int | float) and not_before > now:
            wait = not_before - now
            raise RateLimited(
                f"{_NAME}: the search rate limit is spent; it resets in {wait:.0f} s",
                source=_NAME,
                brand=target.brand,
                url=self._url,
                retry_after=wait,
            )
        terms = _terms(target)
        states = _load_states(cursor, terms)
        if not any(state["walk"] for state in states.values()):
            since = int(target.since.timestamp()) if target.since is not None else None
            for state in states.values():
                state["walk"] = _new_walk(state["newest"], since, int(now))
        term = next(term for term in terms if states[term]["walk"])
        state = states[term]
        walk = state["walk"]
        body, response = await self._search(ctx, term, walk)
        items, total = _envelope(body, self._url)
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        times = [
            int(created.timestamp())
            for item in items
            if isinstance(item, dict) and (created := _parse_time(item.get("created_at")))
        ]
        for item in items:
            try:
                mention = _mention(item, target.brand)
            except _Unparsable as error:
                unparsed.append((str(error), item))
                continue
            if walk["lower"] is not None and mention.created_at.timestamp() < walk["lower"]:
                continue  # the range asks for nothing older; guard against a looser server
            if "pull_request" in item:
                continue  # is:issue excludes pull requests; one that slips through is not an issue
            mentions.append(mention)
        if times:
            walk["top"] = max(times) if walk["top"] is None else max(*times, walk["top"])
        state["walk"] = _advance(walk, times, total, self.per_page)
        if state["walk"] is None:
            state["newest"] = _finish(state["newest"], walk)
        spent = _spent_until(response)
        new_cursor: dict[str, Any] = {"terms": _dump_states(states), "not_before": spent}
        more = any(s["walk"] for s in states.values())
        return Page(mentions, new_cursor, more=more, unparsed=unparsed)

    @property
    def _url(self) -> str:
        return f"{self.base_url}/search/issues"

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": self.user_agent,
        }
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        return headers

    def _query(self, term: str, walk: dict[str, Any]) -> str:
        phrase = term.replace('"', " ").strip()
        parts = [f'"{phrase}"' if any(c.isspace() for c in phrase) else phrase, "is:issue"]
        low, high = walk["lower"], walk["upper"]
        if low is not None and high is not None:
            parts.append(f"created:{_iso(low)}..{_iso(high)}")
        elif low is not None:
            parts.append(f"created:>={_iso(low)}")
        elif high is not None:
            parts.append(f"created:<={_iso(high)}")
        if self.qualifiers:
            parts.append(self.qualifiers)
        return " ".join(parts)

    async def _search(
        self, ctx: CollectContext, term: str, walk: dict[str, Any]
    ) -> tuple[Any, Response]:
        params: dict[str, str | int] = {
            "q": self._query(term, walk),
            "sort": "created",
            "order": "desc",
            "per_page": self.per_page,
            "page": walk["page"],
        }
        # 403 and 429 are read here: with rate-limit headers they mean "wait", not "bad token".
        response = await request(
            ctx, _NAME, self._url, params=params, headers=self._headers(), ok=(200, 403, 422, 429)
        )
        if response.status != 200:
            self._raise_for(response)
        try:
            return json.loads(response.body), response
        except ValueError as error:
            raise BadPayload(
                f"{_NAME}: {self._url} answered something that is not JSON: {error}; "
                f"it began {response.body[:120]!r}",
                source=_NAME,
                url=self._url,
            ) from None

    def _raise_for(self, response: Response) -> None:
        message = _message(response.body)
        headers = response.headers
        reset = _number(headers.get("X-RateLimit-Reset"))
        if headers.get("X-RateLimit-Remaining") == "0" and reset is not None:
            wait = max(reset - time.time(), 1.0)
            raise RateLimited(
                f"{_NAME}: rate limit spent (HTTP {response.status}: {message}); "
                f"it resets in {wait:.0f} s",
                source=_NAME,
                url=self._url,
                retry_after=wait,
            )
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if (
            retry_after is not None
            or response.status == 429
            or "secondary rate limit" in message.lower()
        ):
            wait = retry_after if retry_after is not None else _SECONDARY_WAIT
            raise RateLimited(
                f"{_NAME}: secondary rate limit (HTTP {response.status}: {message}); "
                f"waiting {wait:.0f} s",
                source=_NAME,
                url=self._url,
                retry_after=wait,
            )
        if response.status == 403:
            raise SourceError(
                f"{_NAME}: {self._url} refused access (HTTP 403: {message}). Check the GitHub "
                "token in the environment (GOODWILL_GITHUB_TOKEN).",
                source=_NAME,
                url=self._url,
            )
        raise SourceError(
            f"{_NAME}: {self._url} refused the search (HTTP {response.status}: {message}); "
            "check the terms and qualifiers of the source.",
            source=_NAME,
            url=self._url,
        )


class _Unparsable(ValueError):
    """An item that cannot become a mention; its message is the dead-letter reason."""


def _mention(item: Any, brand: str) -> Mention:
    if not isinstance(item, dict):
        raise _Unparsable("item is not an object")
    issue_id = item.get("id")
    if not isinstance(issue_id, int) or isinstance(issue_id, bool):
        raise _Unparsable("issue has no numeric id")
    created = _parse_time(item.get("created_at"))
    if created is None:
        raise _Unparsable("issue has no ISO 8601 created_at")
    title = item.get("title")
    if not isinstance(title, str):
        raise _Unparsable("issue has no title")
    body = item.get("body")
    if body is not None and not isinstance(body, str):
        raise _Unparsable("issue body is not text")
    body = (body or "").strip()
    link = item.get("html_url")
    return Mention(
        source=_NAME,
        external_id=str(issue_id),
        brand=brand,
        text=f"{title}\n\n{body}" if body else title,
        url=link if isinstance(link, str) else None,
        title=title,
        author=_author(item.get("user")),
        created_at=created,
        engagement=_engagement(item),
        raw=item,
    )


def _author(user: Any) -> Author:
    # A deleted account shows as the "ghost" user; its issues stay, and so do they here.
    if not isinstance(user, dict):
        return Author()
    user_id = user.get("id")
    login = user.get("login")
    link = user.get("html_url")
    return Author(
        id=str(user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None,
        handle=login if isinstance(login, str) else None,
        url=link if isinstance(link, str) else None,
    )


def _engagement(item: dict[str, Any]) -> dict[str, int]:
    values = {"replies": item.get("comments")}
    reactions = item.get("reactions")
    if isinstance(reactions, dict):
        values["likes"] = reactions.get("+1")
        values["reactions"] = reactions.get("total_count")
    return {
        key: value
        for key, value in values.items()
        if isinstance(value, int) and not isinstance(value, bool)
    }


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _message(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        errors = parsed.get("errors")
        details = [
            error["message"]
            for error in (errors if isinstance(errors, list) else [])
            if isinstance(error, dict) and isinstance(error.get("message"), str)
        ]
        return "; ".join([parsed["message"], *details])
    return body[:200].decode("utf-8", "replace")


def _spent_until(response: Response) -> float | None:
    """When a spent rate limit resets, if this answer spent the last request."""
    if response.headers.get("X-RateLimit-Remaining") != "0":
        return None
    return _number(response.headers.get("X-RateLimit-Reset"))


def _envelope(body: Any, url: str) -> tuple[list[Any], int]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise BadPayload(
            f"{_NAME}: {url} answered JSON without an 'items' list", source=_NAME, url=url
        )
    total = body.get("total_count")
    if not isinstance(total, int) or isinstance(total, bool):
        raise BadPayload(
            f"{_NAME}: {url} answered JSON without a numeric total_count", source=_NAME, url=url
        )
    return body["items"], total


def _terms(target: Target) -> list[str]:
    terms = [term.strip() for term in target.terms if term.strip()]
    return list(dict.fromkeys(terms)) or [target.brand]


_WALK_KEYS = frozenset({"lower", "upper", "page", "top", "single", "started"})


def _dump_states(states: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    # A list, not a dict keyed by term: a term such as "acme.com" is no valid MongoDB key.
    return [{"term": term, **state} for term, state in states.items()]


def _load_states(cursor: Any, terms: list[str]) -> dict[str, dict[str, Any]]:
    listed = cursor.get("terms") if isinstance(cursor, dict) else None
    saved = {
        entry["term"]: entry
        for entry in (listed if isinstance(listed, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("term"), str)
    }
    states: dict[str, dict[str, Any]] = {}
    for term in terms:
        state = saved.get(term)
        if isinstance(state, dict) and "newest" in state:
            walk = state.get("walk")
            walk = dict(walk) if isinstance(walk, dict) and walk.keys() >= _WALK_KEYS else None
            states[term] = {"newest": state["newest"], "walk": walk}
        else:  # a term new to this job (or a first run): it starts from `since`
            states[term] = {"newest": None, "walk": None}
    return states


def _new_walk(newest: int | None, since: int | None, now: int) -> dict[str, Any]:
    # A first run without `since` takes only the newest page; later runs take everything
    # from the newest issue already collected (created:>= is inclusive: the issue of that
    # second comes again, and the store dedupes it).
    return {
        "lower": newest if newest is not None else since,
        "upper": None,
        "page": 1,
        "top": None,
        "single": newest is None and since is None,
        "started": now,
    }


def _advance(
    walk: dict[str, Any], times: list[int], total: int, per_page: int
) -> dict[str, Any] | None:
    """The walk after this page, or None when its window is exhausted."""
    if walk["single"] or not times:
        return None
    walk = dict(walk)
    if walk["upper"] is None:
        # Pin the window's top so that new issues arriving while we page do not shift pages.
        walk["upper"] = walk["top"]
    served = walk["page"] * per_page
    if served < min(total, _MAX_RESULTS) and served + per_page <= _MAX_RESULTS:
        walk["page"] += 1
        return walk
    if total > served:
        # The 1,000-result cap: slide the window down to the oldest issue seen, from page 1.
        oldest = min(times)
        walk["upper"] = oldest if oldest < walk["upper"] else walk["upper"] - 1
        walk["page"] = 1
        if walk["lower"] is not None and walk["upper"] < walk["lower"]:
            return None
        return walk
    return None


def _finish(newest: int | None, walk: dict[str, Any]) -> int:
    candidates = [value for value in (newest, walk["top"]) if value is not None]
    # Nothing found at all: remember when we looked, so the next run asks only for newer items.
    return max(candidates) if candidates else int(walk["started"])


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
