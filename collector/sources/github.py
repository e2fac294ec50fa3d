"""GitHub issues (REST search) and, optionally, discussions (GraphQL search) that mention the brand.

API: ``GET https://api.github.com/search/issues?q=TERM+is:issue+created:LOW..HIGH
&sort=created&order=desc&per_page=100&page=N`` with ``Accept: application/vnd.github+json``
and ``X-GitHub-Api-Version: 2022-11-28`` (docs:
https://docs.github.com/en/rest/search/search#search-issues-and-pull-requests). The
answer is ``{total_count, incomplete_results, items}``; an item is an issue (``title``,
``body`` in Markdown, ``user``, ``comments``, ``reactions``, ``html_url``). Pull requests
are excluded with ``is:issue``.

Discussions (``discussions=True``, token required) are searched only through GraphQL:
``POST {base_url}/graphql`` (``https://HOST/api/graphql`` for GitHub Enterprise Server) with
``search(type: DISCUSSION, query: $q, first: $first, after: $after)``; the query string is
the same search syntax (``TERM created:>=DATE sort:created-desc``), the connection pages with
``pageInfo { hasNextPage endCursor }`` and serves at most 1,000 results like the REST search
(https://docs.github.com/en/graphql/reference/queries#search). GraphQL answers errors in an
``errors`` list, often with HTTP 200: ``{"data": null, "errors": [{"type": "RATE_LIMITED",
"message": ...}]}`` waits until ``X-RateLimit-Reset``; a bad token is HTTP 401. The query also
asks for ``rateLimit { remaining resetAt }``: when ``remaining`` reaches 0 the page is kept and
the next fetch waits until ``resetAt``
(https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api).

Authors: an issue names its author by REST user id (``user.id``), a discussion by GraphQL
``author { login ... on User { databaseId } }``, which is the same number: a person is one
identity on both (``Author.id``), the login is the handle. Bots (``dependabot[bot]`` in REST,
``dependabot`` in GraphQL) carry their id too. A deleted account is GitHub's shared
``ghost`` user in REST and a null author in GraphQL: either way it is no identity (every
deleted account would otherwise be one person).

Followers (``Author.followers``): a discussion's author brings ``followers { totalCount }``
in the discussions query itself. Issues' authors are looked up with the token, one GraphQL
query per page for the authors not looked up in the last day (``nodes(ids: [user node_id,
...]) { ... on User { databaseId followers { totalCount } } }``, up to 100 ids, 1 point of
the GraphQL rate limit; https://docs.github.com/en/graphql/reference/queries#nodes). Without
a token they carry none: ``GET /users/{login}`` would cost one of 60 requests an hour per IP
for each author. A failed lookup never fails the page: those issues are kept without
followers (see ``collector.sources._reach``).

Credentials: optional. Without a token the search API allows 10 requests a minute per IP;
with one, 30 a minute. Create a fine-grained personal access token with no extra
permissions (public data needs none) at https://github.com/settings/personal-access-tokens
and set ``GOODWILL_GITHUB_TOKEN``.

Paging and limits: each term is its own search, with its own place in the cursor (issues and
discussions each keep their own: a run walks every term's issues, then every term's discussions). A search
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
from collector.sources._reach import ReachCache
from collector.sources._time import parse_time as _parse_time
from collector.sources._window import TermWalks, wait_left
from goodwill.errors import BadPayload, RateLimited, SourceError, UnparsableItem
from goodwill.models import Author, Mention

__all__ = ["GitHubSource"]

_NAME = "github"
#: No search serves more results than this, whatever the page size.
_MAX_RESULTS = 1000
_SECONDARY_WAIT = 60.0
#: Discussions per GraphQL search request (the API allows up to 100).
_DISCUSSION_PAGE = 50
#: GraphQL error types that mean the token cannot do this, not that the query is wrong.
_AUTH_ERRORS = frozenset({"FORBIDDEN", "INSUFFICIENT_SCOPES", "UNAUTHORIZED"})
_DISCUSSION_QUERY = """
query($q: String!, $first: Int!, $after: String) {
  rateLimit { remaining resetAt }
  search(type: DISCUSSION, query: $q, first: $first, after: $after) {
    discussionCount
    pageInfo { hasNextPage endCursor }
    nodes {
      ... on Discussion {
        id number title body url createdAt updatedAt
        author {
          login url
          ... on User { databaseId followers { totalCount } }
          ... on Bot { databaseId }
          ... on Mannequin { databaseId }
        }
        upvoteCount
        comments { totalCount }
        repository { nameWithOwner }
      }
    }
  }
}
""".strip()
_USER_AGENT = "goodwill/0.1 (open-source social listening)"
#: Issue authors' followers, by their REST node ids (up to 100 a query).
_FOLLOWERS_QUERY = """
query($ids: [ID!]!) {
  rateLimit { remaining resetAt }
  nodes(ids: $ids) { ... on User { databaseId followers { totalCount } } }
}
""".strip()
#: Ids one ``nodes(ids:)`` query takes at most.
_NODES_PER_QUERY = 100
#: The login GitHub puts in place of every deleted account.
_GHOST = "ghost"


class GitHubSource:
    """GitHub issues (and, with a token, discussions) matching the brand's terms, newest first."""

    name = _NAME

    def __init__(
        self,
        *,
        base_url: str = "https://api.github.com",
        token: SecretStr | None = None,
        qualifiers: str = "",
        per_page: int = 100,
        user_agent: str = _USER_AGENT,
        discussions: bool = False,
    ) -> None:
        """Configure the source.

        Args:
            base_url: the REST API root (``https://HOST/api/v3`` for GitHub Enterprise Server).
            token: a personal access token (raises the search rate limit from 10 to 30 a minute).
            qualifiers: extra search qualifiers, e.g. ``"org:acme -repo:acme/website"``.
            per_page: results per request, 1 to 100.
            user_agent: the User-Agent GitHub asks every client to send.
            discussions: also search discussions (GraphQL only, so it needs ``token``).
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
        if not isinstance(discussions, bool):
            raise ValueError("discussions must be True or False")
        if discussions and token is None:
            raise ValueError("discussions search needs GOODWILL_GITHUB_TOKEN")
        self.discussions = discussions
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.qualifiers = " ".join(words)
        self.per_page = per_page
        self.user_agent = user_agent
        #: Authors' followers by user id, looked up at most once a day each.
        self.reach = ReachCache()

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of one term's search; ``more`` while any term's walk has pages left.

        The cursor is ``{"terms": [{"term": str, "newest": epoch | None, "walk": {...} | None}],
        "not_before": epoch | None, "discussions": {"terms": [...]}}``: ``newest`` is the
        newest ``created_at`` collected, ``walk`` the window being paged through (a discussion
        walk also keeps the GraphQL ``after`` cursor), ``not_before`` when the spent rate
        limit resets. ``terms`` is the issues' place, ``discussions`` the discussions' own.
        """
        now = time.time()
        wait = wait_left(cursor, now)
        if wait is not None:
            raise RateLimited(
                f"{_NAME}: the search rate limit is spent; it resets in {wait:.0f} s",
                source=_NAME,
                brand=target.brand,
                url=self._url,
                retry_after=wait,
            )
        part = cursor.get("discussions") if isinstance(cursor, dict) else None
        if self.discussions and _walking(part):
            return await self._discussions_page(ctx, target, cursor, part, int(now))
        page = await self._issues_page(ctx, target, cursor, int(now))
        if not self.discussions or page.more:
            return page
        # Every term's issues are done: the same run goes on with every term's discussions.
        walks = TermWalks(part, target, first_page=1, now=int(now))
        new_cursor = {**page.cursor, "discussions": {"terms": walks.dump()}}
        return Page(page.mentions, new_cursor, more=True, unparsed=page.unparsed)

    async def _issues_page(
        self, ctx: CollectContext, target: Target, cursor: Any, now: int
    ) -> Page:
        walks = TermWalks(cursor, target, first_page=1, now=now)
        walk = walks.walk
        body, response = await self._search(ctx, walks.term, walk)
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
            except UnparsableItem as error:
                unparsed.append((str(error), item))
                continue
            if walks.below_window(mention.created_at.timestamp()):
                continue  # the range asks for nothing older; guard against a looser server
            if "pull_request" in item:
                continue  # is:issue excludes pull requests; one that slips through is not an issue
            mentions.append(mention)
        mentions = await self._with_followers(ctx, mentions, items)
        served = walk["page"] * self.per_page
        next_page = served < min(total, _MAX_RESULTS) and served + self.per_page <= _MAX_RESULTS
        # Past the 1,000-result cap the window slides down rather than asking for more pages.
        walks.step(times, next_page=next_page, slide=total > served)
        spent = _spent_until(response)
        new_cursor: dict[str, Any] = {"terms": walks.dump(), "not_before": spent}
        if isinstance(cursor, dict) and "discussions" in cursor:
            new_cursor["discussions"] = cursor["discussions"]
        return Page(mentions, new_cursor, more=walks.more, unparsed=unparsed)

    async def _discussions_page(
        self, ctx: CollectContext, target: Target, cursor: dict[str, Any], part: Any, now: int
    ) -> Page:
        walks = TermWalks(part, target, first_page=1, now=now)
        walk = walks.walk
        page_number = walk["page"]
        after = walk.get("after") if page_number > 1 else None
        query = self._query(walks.term, walk, discussions=True)
        variables = {
            "q": query,
            "first": _DISCUSSION_PAGE,
            "after": after if isinstance(after, str) else None,
        }
        data = await self._graphql(ctx, _DISCUSSION_QUERY, variables)
        nodes, total, has_next, end_cursor = _connection(data, self._graphql_url)
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        times: list[int] = []
        for node in nodes:
            try:
                mention = _discussion_mention(node, target.brand)
            except UnparsableItem as error:
                unparsed.append((str(error), node))
                continue
            times.append(int(mention.created_at.timestamp()))
            if mention.author.id is not None and mention.author.followers is not None:
                self.reach.put(mention.author.id, mention.author.followers)
            if not walks.below_window(mention.created_at.timestamp()):
                mentions.append(mention)
        served = page_number * _DISCUSSION_PAGE
        next_page = has_next and end_cursor is not None and served < min(total, _MAX_RESULTS)
        walks.step(times, next_page=next_page, slide=total > served)
        terms = walks.dump()
        for entry in terms:
            if entry["term"] == walks.term and entry["walk"] is not None:
                # A next page follows endCursor; a slid window starts again without one.
                moved = entry["walk"]["page"] > page_number
                entry["walk"]["after"] = end_cursor if moved else None
        new_cursor = {
            "terms": cursor.get("terms"),
            "not_before": _graphql_spent_until(data),
            "discussions": {"terms": terms},
        }
        return Page(mentions, new_cursor, more=walks.more, unparsed=unparsed)

    async def _with_followers(
        self, ctx: CollectContext, mentions: list[Mention], items: list[Any]
    ) -> list[Mention]:
        """Issues' ``mentions`` with their authors' followers, looked up where not cached."""
        nodes: dict[str, str] = {}  # REST user id -> GraphQL node id, people only
        for item in items:
            user = item.get("user") if isinstance(item, dict) else None
            if (
                isinstance(user, dict)
                and user.get("type") == "User"
                and user.get("login") != _GHOST
                and _is_int(user.get("id"))
                and isinstance(user.get("node_id"), str)
            ):
                nodes[str(user["id"])] = user["node_id"]

        async def followers(users: list[str]) -> dict[str, int | None]:
            variables = {"ids": [nodes[user] for user in users]}
            data = await self._graphql(ctx, _FOLLOWERS_QUERY, variables)
            found = data.get("nodes") if isinstance(data, dict) else None
            if not isinstance(found, list):
                raise BadPayload(
                    f"{_NAME}: {self._graphql_url} answered without data.nodes",
                    source=_NAME,
                    url=self._graphql_url,
                )
            counts: dict[str, int | None] = {}
            for node in found:  # null for an id that no longer resolves
                user_id = node.get("databaseId") if isinstance(node, dict) else None
                total = node.get("followers") if isinstance(node, dict) else None
                count = total.get("totalCount") if isinstance(total, dict) else None
                if _is_int(user_id):
                    valid = isinstance(count, int) and _is_int(count) and count >= 0
                    counts[str(user_id)] = count if valid else None
            return counts

        if self.token is not None:  # GraphQL needs it; REST would cost a request per author
            wanted = self.reach.missing(m.author.id for m in mentions if m.author.id in nodes)
            if wanted:
                await self.reach.look_up(wanted, _NODES_PER_QUERY, followers, source=_NAME)
        return self.reach.fill(mentions, lambda mention: mention.author.id)

    async def _graphql(self, ctx: CollectContext, document: str, variables: dict[str, Any]) -> Any:
        """The ``data`` of one GraphQL query, or the error its answer stands for."""
        url = self._graphql_url
        payload = {"query": document, "variables": variables}
        response = await request(
            ctx,
            _NAME,
            url,
            method="POST",
            json_body=payload,
            headers=self._headers(rest=False),
            ok=(200, 401, 403, 429),
        )
        if response.status == 401:
            raise SourceError(
                f"{_NAME}: {url} refused the token (HTTP 401: {_message(response.body)}). "
                "Check the GitHub token in the environment (GOODWILL_GITHUB_TOKEN).",
                source=_NAME,
                url=url,
            )
        try:
            body = json.loads(response.body)
        except ValueError as error:
            if response.status != 200:
                self._raise_for(response, url)
            raise BadPayload(
                f"{_NAME}: {url} answered something that is not JSON: {error}; "
                f"it began {response.body[:120]!r}",
                source=_NAME,
                url=url,
            ) from None
        errors = body.get("errors") if isinstance(body, dict) else None
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors and (data is None or response.status != 200):
            _raise_graphql(errors, response, url)
        if response.status != 200:
            self._raise_for(response, url)
        return data

    @property
    def _url(self) -> str:
        return f"{self.base_url}/search/issues"

    @property
    def _graphql_url(self) -> str:
        # GitHub Enterprise Server serves REST at /api/v3 and GraphQL at /api/graphql.
        if self.base_url.endswith("/api/v3"):
            return f"{self.base_url.removesuffix('/v3')}/graphql"
        return f"{self.base_url}/graphql"

    def _headers(self, *, rest: bool = True) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent}
        if rest:
            headers["Accept"] = "application/vnd.github+json"
            headers["X-GitHub-Api-Version"] = "2022-11-28"
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        return headers

    def _query(self, term: str, walk: dict[str, Any], *, discussions: bool = False) -> str:
        phrase = term.replace('"', " ").strip()
        parts = [f'"{phrase}"' if any(c.isspace() for c in phrase) else phrase]
        if not discussions:
            parts.append("is:issue")  # the GraphQL search's type: DISCUSSION selects instead
        low, high = walk["lower"], walk["upper"]
        if low is not None and high is not None:
            parts.append(f"created:{_iso(low)}..{_iso(high)}")
        elif low is not None:
            parts.append(f"created:>={_iso(low)}")
        elif high is not None:
            parts.append(f"created:<={_iso(high)}")
        if self.qualifiers:
            parts.append(self.qualifiers)
        if discussions:
            parts.append("sort:created-desc")  # GraphQL search has no sort argument
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
            self._raise_for(response, self._url)
        try:
            return json.loads(response.body), response
        except ValueError as error:
            raise BadPayload(
                f"{_NAME}: {self._url} answered something that is not JSON: {error}; "
                f"it began {response.body[:120]!r}",
                source=_NAME,
                url=self._url,
            ) from None

    def _raise_for(self, response: Response, url: str) -> None:
        message = _message(response.body)
        headers = response.headers
        reset = _number(headers.get("X-RateLimit-Reset"))
        if headers.get("X-RateLimit-Remaining") == "0" and reset is not None:
            wait = max(reset - time.time(), 1.0)
            raise RateLimited(
                f"{_NAME}: rate limit spent (HTTP {response.status}: {message}); "
                f"it resets in {wait:.0f} s",
                source=_NAME,
                url=url,
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
                url=url,
                retry_after=wait,
            )
        if response.status == 403:
            raise SourceError(
                f"{_NAME}: {url} refused access (HTTP 403: {message}). Check the GitHub "
                "token in the environment (GOODWILL_GITHUB_TOKEN).",
                source=_NAME,
                url=url,
            )
        raise SourceError(
            f"{_NAME}: {url} refused the search (HTTP {response.status}: {message}); "
            "check the terms and qualifiers of the source.",
            source=_NAME,
            url=url,
        )


def _mention(item: Any, brand: str) -> Mention:
    if not isinstance(item, dict):
        raise UnparsableItem("item is not an object")
    issue_id = item.get("id")
    if not isinstance(issue_id, int) or isinstance(issue_id, bool):
        raise UnparsableItem("issue has no numeric id")
    created = _parse_time(item.get("created_at"))
    if created is None:
        raise UnparsableItem("issue has no ISO 8601 created_at")
    title = item.get("title")
    if not isinstance(title, str):
        raise UnparsableItem("issue has no title")
    body = item.get("body")
    if body is not None and not isinstance(body, str):
        raise UnparsableItem("issue body is not text")
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


def _discussion_mention(node: Any, brand: str) -> Mention:
    if not isinstance(node, dict) or not node:
        raise UnparsableItem("search node is not a discussion")
    node_id = node.get("id")
    if not isinstance(node_id, str) or not node_id:
        raise UnparsableItem("discussion has no id")
    created = _parse_time(node.get("createdAt"))
    if created is None:
        raise UnparsableItem("discussion has no ISO 8601 createdAt")
    title = node.get("title")
    if not isinstance(title, str):
        raise UnparsableItem("discussion has no title")
    body = node.get("body")
    if body is not None and not isinstance(body, str):
        raise UnparsableItem("discussion body is not text")
    body = (body or "").strip()
    link = node.get("url")
    author = node.get("author")  # null for a deleted account
    login = author.get("login") if isinstance(author, dict) else None
    profile = author.get("url") if isinstance(author, dict) else None
    # The REST user id, as issues carry it, so that one person is one identity on both.
    user_id = author.get("databaseId") if isinstance(author, dict) else None
    followers = author.get("followers") if isinstance(author, dict) else None
    count = followers.get("totalCount") if isinstance(followers, dict) else None
    comments = node.get("comments")
    values: dict[str, Any] = {
        "score": node.get("upvoteCount"),
        "replies": comments.get("totalCount") if isinstance(comments, dict) else None,
    }
    return Mention(
        source=_NAME,
        external_id=node_id,
        brand=brand,
        text=f"{title}\n\n{body}" if body else title,
        url=link if isinstance(link, str) else None,
        title=title,
        author=Author(
            id=str(user_id) if _is_int(user_id) and isinstance(user_id, int) else None,
            handle=login if isinstance(login, str) else None,
            url=profile if isinstance(profile, str) else None,
            followers=count if isinstance(count, int) and _is_int(count) and count >= 0 else None,
        )
        if isinstance(author, dict) and login != _GHOST
        else _DELETED,
        created_at=created,
        engagement={
            key: value for key, value in values.items() if _is_int(value) and isinstance(value, int)
        },
        raw=node,
    )


def _walking(part: Any) -> bool:
    """Whether a cursor's discussions part has a walk under way."""
    listed = part.get("terms") if isinstance(part, dict) else None
    return isinstance(listed, list) and any(
        isinstance(entry, dict) and entry.get("walk") for entry in listed
    )


def _connection(data: Any, url: str) -> tuple[list[Any], int, bool, str | None]:
    """The nodes, discussionCount, hasNextPage and endCursor of a search answer."""
    search = data.get("search") if isinstance(data, dict) else None
    nodes = search.get("nodes") if isinstance(search, dict) else None
    if not isinstance(search, dict) or not isinstance(nodes, list):
        raise BadPayload(
            f"{_NAME}: {url} answered without data.search.nodes", source=_NAME, url=url
        )
    total = search.get("discussionCount")
    info = search.get("pageInfo")
    if not isinstance(total, int) or isinstance(total, bool) or not isinstance(info, dict):
        raise BadPayload(
            f"{_NAME}: {url} answered without discussionCount and pageInfo",
            source=_NAME,
            url=url,
        )
    end = info.get("endCursor")
    return nodes, total, info.get("hasNextPage") is True, end if isinstance(end, str) else None


def _raise_graphql(errors: list[Any], response: Response, url: str) -> None:
    messages = [
        error["message"]
        for error in errors
        if isinstance(error, dict) and isinstance(error.get("message"), str)
    ]
    message = "; ".join(messages) or "no message"
    types = {error.get("type") for error in errors if isinstance(error, dict)}
    if "RATE_LIMITED" in types:
        reset = _number(response.headers.get("X-RateLimit-Reset"))
        wait = max(reset - time.time(), 1.0) if reset is not None else _SECONDARY_WAIT
        raise RateLimited(
            f"{_NAME}: GraphQL rate limit spent ({message}); it resets in {wait:.0f} s",
            source=_NAME,
            url=url,
            retry_after=wait,
        )
    if types & _AUTH_ERRORS:
        raise SourceError(
            f"{_NAME}: {url} refused the discussions search ({message}). Check the GitHub "
            "token in the environment (GOODWILL_GITHUB_TOKEN).",
            source=_NAME,
            url=url,
        )
    raise SourceError(
        f"{_NAME}: {url} refused the discussions search (HTTP {response.status}: {message}); "
        "check the terms and qualifiers of the source.",
        source=_NAME,
        url=url,
    )


def _graphql_spent_until(data: Any) -> float | None:
    """When a spent GraphQL rate limit resets, if this answer spent the last point."""
    limit = data.get("rateLimit") if isinstance(data, dict) else None
    if not isinstance(limit, dict) or limit.get("remaining") != 0:
        return None
    reset = _parse_time(limit.get("resetAt"))
    return reset.timestamp() if reset is not None else None


#: The author of an issue or discussion whose account was deleted: no identity, since
#: GitHub gives every deleted account the one "ghost" user (REST) or no author (GraphQL).
_DELETED = Author(display_name=_GHOST)


def _author(user: Any) -> Author:
    # A deleted account shows as the "ghost" user; its issues stay, and so do they here.
    if not isinstance(user, dict):
        return Author()
    if user.get("login") == _GHOST:
        return _DELETED
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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
