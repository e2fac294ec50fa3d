"""The GitHub source against a local server that speaks the REST search API for issues."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from collector.base import CollectContext
from collector.sources._reach import ReachCache
from collector.sources.github import GitHubSource
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable
from goodwill.identity import identity_key
from tests.collector.sources._server_devforums import (
    BRAND,
    T0,
    client_context,
    run,
    serve,
    target,
    term_state,
)

ctx = client_context  # the shared `ctx` fixture

TOKEN = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"


def _iso(stamp: int) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(
    number: int, at: int, title: str | None = "Acme skates break", **extra: Any
) -> dict[str, Any]:
    """An issue as /search/issues returns it."""
    api = "https://api.github.com/repos/acme-inc/rocket-skates"
    item: dict[str, Any] = {
        "url": f"{api}/issues/{number}",
        "repository_url": api,
        "labels_url": f"{api}/issues/{number}/labels{{/name}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "events_url": f"{api}/issues/{number}/events",
        "html_url": f"https://github.com/acme-inc/rocket-skates/issues/{number}",
        "id": 2_600_000_000 + number,
        "node_id": f"I_kwDOAbCdEf6eNq{number}",
        "number": number,
        "title": title,
        "user": {
            "login": "wile-e",
            "id": 583231,
            "node_id": "MDQ6VXNlcjU4MzIzMQ==",
            "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
            "gravatar_id": "",
            "url": "https://api.github.com/users/wile-e",
            "html_url": "https://github.com/wile-e",
            "type": "User",
            "user_view_type": "public",
            "site_admin": False,
        },
        "labels": [
            {
                "id": 208045946,
                "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
                "url": f"{api}/labels/bug",
                "name": "bug",
                "color": "d73a4a",
                "default": True,
                "description": "Something isn't working",
            }
        ],
        "state": "open",
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": 4,
        "created_at": _iso(at),
        "updated_at": _iso(at + 3600),
        "closed_at": None,
        "author_association": "NONE",
        "type": None,
        "active_lock_reason": None,
        "body": "The Acme skates stop mid-air.\r\n\r\n- version: 2.1\r\n- os: 🐧 Linux",
        "reactions": {
            "url": f"{api}/issues/{number}/reactions",
            "total_count": 3,
            "+1": 2,
            "-1": 0,
            "laugh": 0,
            "hooray": 0,
            "confused": 1,
            "heart": 0,
            "rocket": 0,
            "eyes": 0,
        },
        "timeline_url": f"{api}/issues/{number}/timeline",
        "performed_via_github_app": None,
        "state_reason": None,
        "score": 1.0,
    }
    item.update(extra)
    return item


_CREATED = re.compile(r"created:(>=|<=)?(\S+?)(?:\.\.(\S+))?(?:\s|$)")


@dataclass
class GitHub:
    """/search/issues over a list of issues, newest first, with the 1,000-result cap."""

    issues: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], dict[str, str]]] = field(default_factory=list)
    replies: list[web.Response] = field(default_factory=list)  # answered before searching
    remaining: int = 30

    async def search(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append((query, dict(request.headers)))
        if self.replies:
            return self.replies.pop(0)
        page, per_page = int(query.get("page", "1")), int(query.get("per_page", "30"))
        if page * per_page > 1000:
            return web.json_response(
                {
                    "message": "Only the first 1000 search results are available",
                    "documentation_url": "https://docs.github.com/v3/search/",
                },
                status=422,
            )
        q = query["q"]
        phrase = re.match(r'\s*(?:"([^"]+)"|(\S+))', q)
        assert phrase is not None
        words = (phrase.group(1) or phrase.group(2)).casefold()
        low, high = _range(q)
        found = [
            item
            for item in self.issues
            if words in f"{item.get('title')} {item.get('body')}".casefold()
            and ("is:issue" not in q or "pull_request" not in item)
            and low <= _stamp(item) <= high
        ]
        found.sort(key=_stamp, reverse=True)
        self.remaining = max(self.remaining - 1, 0)
        return web.json_response(
            {
                "total_count": len(found),
                "incomplete_results": False,
                "items": found[(page - 1) * per_page : page * per_page],
            },
            headers=self.rate_headers(),
        )

    def rate_headers(self, remaining: int | None = None) -> dict[str, str]:
        left = self.remaining if remaining is None else remaining
        return {
            "X-RateLimit-Limit": "30",
            "X-RateLimit-Remaining": str(left),
            "X-RateLimit-Reset": str(int(time.time()) + 42),
            "X-RateLimit-Used": str(30 - left),
            "X-RateLimit-Resource": "search",
        }


def _stamp(item: dict[str, Any]) -> int:
    try:
        return int(datetime.fromisoformat(item["created_at"]).timestamp())
    except (KeyError, TypeError, ValueError):
        return T0


def _range(q: str) -> tuple[int, int]:
    low, high = 0, 2**40
    found = _CREATED.search(q)
    if found:
        operator, first, second = found.groups()

        def stamp(value: str) -> int:
            return int(datetime.fromisoformat(value).timestamp())

        if second:
            low, high = stamp(first), stamp(second)
        elif operator == ">=":
            low = stamp(first)
        elif operator == "<=":
            high = stamp(first)
    return low, high


@pytest.fixture
async def api() -> AsyncIterator[tuple[GitHub, str]]:
    """A fake GitHub REST API and its base URL."""
    fake = GitHub()
    app = web.Application()
    app.router.add_get("/search/issues", fake.search)
    async with serve(app) as url:
        yield fake, url


async def test_an_issue_maps_every_field(api: tuple[GitHub, str], ctx: CollectContext) -> None:
    """Title, Markdown body, author, comments and reactions become a mention."""
    fake, url = api
    reported = issue(1347, T0, title="Acme rocket skates: brakes fail 🚀")
    fake.issues = [reported]
    page = await GitHubSource(base_url=url).fetch(ctx, target(), None)
    [mention] = page.mentions
    assert mention.source == "github" and mention.brand == BRAND
    assert mention.external_id == str(2_600_001_347)
    assert mention.title == "Acme rocket skates: brakes fail 🚀"
    assert mention.text == (
        "Acme rocket skates: brakes fail 🚀\n\n"
        "The Acme skates stop mid-air.\r\n\r\n- version: 2.1\r\n- os: 🐧 Linux"
    )
    assert mention.url == "https://github.com/acme-inc/rocket-skates/issues/1347"
    assert mention.created_at == datetime.fromtimestamp(T0, UTC)
    assert mention.engagement == {"replies": 4, "likes": 2, "reactions": 3}
    assert mention.author.id == "583231" and mention.author.handle == "wile-e"
    assert mention.author.url == "https://github.com/wile-e"
    assert mention.raw == reported
    query, headers = fake.requests[0]
    assert query["q"] == "acme is:issue"
    assert (query["sort"], query["order"], query["per_page"]) == ("created", "desc", "100")
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert headers["User-Agent"].startswith("goodwill/")
    assert "Authorization" not in headers


async def test_an_issue_without_body_is_its_title_and_long_bodies_stay_whole(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """A null body leaves the title as text; a very long unicode body is kept."""
    fake, url = api
    long = "Acme ünïcödé 🚀 ещё 日本語 " * 3000
    fake.issues = [issue(1, T0, body=None), issue(2, T0 + 1, body=long)]
    page = await GitHubSource(base_url=url).fetch(ctx, target(), None)
    by_number = {m.raw["number"]: m for m in page.mentions}
    assert by_number[1].text == "Acme skates break"
    assert by_number[2].text == f"Acme skates break\n\n{long.strip()}"


async def test_a_first_run_pages_back_to_since_and_stops(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """With since, created:>= bounds the search and pages run to the end."""
    fake, url = api
    fake.issues = [issue(100 + i, T0 + 60 * i) for i in range(25)]
    since = T0 + 60 * 5
    result = await run(GitHubSource(base_url=url, per_page=8), ctx, target(since=since))
    assert {m.raw["number"] for m in result.mentions} == set(range(105, 125))
    assert [q["page"] for q, _ in fake.requests] == ["1", "2", "3"]
    assert fake.requests[0][0]["q"] == f"acme is:issue created:>={_iso(since)}"
    assert fake.requests[1][0]["q"] == f"acme is:issue created:{_iso(since)}..{_iso(T0 + 60 * 24)}"
    assert term_state(result.cursor, "acme") == {"newest": T0 + 60 * 24, "walk": None}


async def test_a_first_run_without_since_takes_only_the_newest_page(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """No since and no cursor: the newest page only, no created qualifier."""
    fake, url = api
    fake.issues = [issue(100 + i, T0 + i) for i in range(12)]
    result = await run(GitHubSource(base_url=url, per_page=5), ctx, target())
    assert {m.raw["number"] for m in result.mentions} == set(range(107, 112))
    assert len(fake.requests) == 1 and "created:" not in fake.requests[0][0]["q"]


async def test_a_second_run_fetches_only_newer_issues(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """The next run's created:>= is the newest created_at already collected."""
    fake, url = api
    fake.issues = [issue(100 + i, T0 + 60 * i) for i in range(4)]
    source = GitHubSource(base_url=url)
    first = await run(source, ctx, target(since=T0))
    fake.issues += [issue(200, T0 + 900), issue(201, T0 + 960)]
    fake.requests.clear()
    second = await run(source, ctx, target(since=T0), first.cursor)
    assert fake.requests[0][0]["q"] == f"acme is:issue created:>={_iso(T0 + 180)}"
    assert {m.raw["number"] for m in second.mentions} - {103} == {200, 201}


async def test_the_1000_result_cap_slides_the_created_range(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """Past 1,000 results the created range's upper bound moves down; no page past 10."""
    fake, url = api
    fake.issues = [issue(i, T0 + 60 * i) for i in range(1150)]
    result = await run(GitHubSource(base_url=url), ctx, target(since=T0))
    assert len(result.ids) == 1150
    assert max(int(q["page"]) for q, _ in fake.requests) == 10
    uppers = [_range(q["q"])[1] for q, _ in fake.requests if ".." in q["q"]]
    assert uppers == sorted(uppers, reverse=True) and len(set(uppers)) == 2


async def test_pull_requests_are_left_out(api: tuple[GitHub, str], ctx: CollectContext) -> None:
    """is:issue keeps pull requests out; one that slips through is dropped."""
    fake, url = api
    pr = issue(7, T0 + 1, pull_request={"url": "https://api.github.com/repos/a/b/pulls/7"})
    fake.issues = [pr, issue(8, T0)]
    page = await GitHubSource(base_url=url).fetch(ctx, target(), None)
    assert [m.raw["number"] for m in page.mentions] == [8]
    fake.replies.append(
        web.json_response({"total_count": 1, "incomplete_results": False, "items": [pr]})
    )
    slipped = await GitHubSource(base_url=url).fetch(ctx, target(), None)
    assert slipped.mentions == [] and slipped.unparsed == []


async def test_each_term_is_searched_with_its_own_place_and_phrases_are_quoted(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """Terms are searched one after another; a phrase of several words is quoted."""
    fake, url = api
    fake.issues = [issue(1, T0, title="acme corp login"), issue(2, T0 + 5, title="roadrunner")]
    two_terms = target("acme corp", "roadrunner", since=T0)
    result = await run(GitHubSource(base_url=url, qualifiers="org:acme-inc"), ctx, two_terms)
    assert {m.raw["number"] for m in result.mentions} == {1, 2}
    queries = [q["q"] for q, _ in fake.requests]
    assert queries[0] == f'"acme corp" is:issue created:>={_iso(T0)} org:acme-inc'
    assert queries[1].startswith("roadrunner is:issue")
    assert term_state(result.cursor, "roadrunner")["newest"] == T0 + 5


async def test_duplicates_across_pages_do_not_make_the_cursor_loop(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """The same issue on two pages is passed on twice and the run ends."""
    fake, url = api
    fake.issues = [issue(10 + i, T0 + i) for i in range(5)]
    fake.issues.append(copy.deepcopy(fake.issues[2]))
    result = await run(GitHubSource(base_url=url, per_page=2), ctx, target(since=T0))
    assert len(result.mentions) == 6 and len(result.ids) == 5 and len(result.pages) == 3


async def test_an_empty_result_is_an_empty_last_page(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """No issues: no mentions, no more pages, and a newest time for the next run."""
    _, url = api
    page = await GitHubSource(base_url=url).fetch(ctx, target(), None)
    assert page.mentions == [] and page.more is False
    assert isinstance(term_state(page.cursor, "acme")["newest"], int)


async def test_an_unparseable_issue_is_dead_lettered_and_the_rest_kept(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """Issues without an id, a time or a title go to unparsed with their reason."""
    fake, url = api
    no_id = issue(1, T0 + 3)
    del no_id["id"]
    fake.issues = [
        no_id,
        issue(2, T0 + 2, created_at="last tuesday"),
        issue(3, T0 + 1, title=None, body="acme"),
        issue(4, T0),
    ]
    page = await GitHubSource(base_url=url).fetch(ctx, target(), None)
    assert [m.raw["number"] for m in page.mentions] == [4]
    assert {reason for reason, _ in page.unparsed} == {
        "issue has no numeric id",
        "issue has no ISO 8601 created_at",
        "issue has no title",
    }


async def test_a_spent_rate_limit_keeps_the_page_and_waits_for_the_reset(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """X-RateLimit-Remaining 0 with data: the page is kept, the next fetch waits for the reset."""
    fake, url = api
    fake.issues = [issue(10 + i, T0 + i) for i in range(4)]
    fake.remaining = 1
    source = GitHubSource(base_url=url, per_page=2)
    first = await source.fetch(ctx, target(since=T0), None)
    assert len(first.mentions) == 2 and first.more is True
    with pytest.raises(RateLimited, match="resets") as caught:
        await source.fetch(ctx, target(since=T0), first.cursor)
    assert 30 <= caught.value.retry_after <= 42
    assert len(fake.requests) == 1


async def test_a_403_with_rate_limit_headers_is_a_rate_limit_not_a_credentials_problem(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """403 with X-RateLimit-Remaining 0 waits until X-RateLimit-Reset."""
    fake, url = api
    body = {
        "message": "API rate limit exceeded for 203.0.113.7.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    }
    fake.replies.append(web.json_response(body, status=403, headers=fake.rate_headers(0)))
    with pytest.raises(RateLimited, match="rate limit exceeded") as caught:
        await GitHubSource(base_url=url).fetch(ctx, target(), None)
    assert 30 <= caught.value.retry_after <= 42


@pytest.mark.parametrize(("status", "retry_after", "wait"), [(403, "17", 17), (429, None, 60)])
async def test_a_secondary_rate_limit_waits_retry_after_or_a_minute(
    api: tuple[GitHub, str], ctx: CollectContext, status: int, retry_after: str | None, wait: int
) -> None:
    """Secondary limits (403/429, Retry-After or not) are rate limits."""
    fake, url = api
    body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
    headers = {"Retry-After": retry_after} if retry_after else {}
    fake.replies.append(web.json_response(body, status=status, headers=headers))
    with pytest.raises(RateLimited, match="secondary") as caught:
        await GitHubSource(base_url=url).fetch(ctx, target(), None)
    assert caught.value.retry_after == wait


@pytest.mark.parametrize(
    ("status", "message", "words"),
    [
        (401, "Bad credentials", "credentials"),
        (403, "Resource not accessible by personal access token", "GITHUB_TOKEN"),
        (422, "Validation Failed", "Validation Failed; The search is longer than 256"),
    ],
)
async def test_refusals_say_what_to_check(
    api: tuple[GitHub, str], ctx: CollectContext, status: int, message: str, words: str
) -> None:
    """401/403 without rate-limit headers point at the token; 422 at the query."""
    fake, url = api
    body: dict[str, Any] = {"message": message, "status": str(status)}
    if status == 422:
        body["errors"] = [
            {"message": "The search is longer than 256 characters.", "code": "invalid"}
        ]
    fake.replies.append(web.json_response(body, status=status))
    source = GitHubSource(base_url=url, token=SecretStr(TOKEN))
    with pytest.raises(SourceError, match=words) as caught:
        await source.fetch(ctx, target(), None)
    assert not isinstance(caught.value, RateLimited) and TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (lambda: web.Response(status=500, text="Internal Server Error"), SourceUnavailable, "HTTP 500"),
        (lambda: web.Response(status=502, text="<html>Unicorn!</html>", content_type="text/html"), SourceUnavailable, "HTTP 502"),
        (lambda: web.Response(text='{"total_count": 3, "items": [{"id"', content_type="application/json"), BadPayload, "not JSON"),
        (lambda: web.Response(text="<!DOCTYPE html><html><body>GitHub</body></html>", content_type="text/html"), BadPayload, "not JSON"),
        (lambda: web.json_response({"message": "ok"}), BadPayload, "'items'"),
    ],
)  # fmt: skip
async def test_failures_become_the_errors_the_runner_acts_on(
    api: tuple[GitHub, str],
    ctx: CollectContext,
    reply: Any,
    error: type[Exception],
    words: str,
) -> None:
    """5xx is retried; truncated JSON, an HTML page or a body without items is a bad payload."""
    fake, url = api
    fake.replies.append(reply())
    with pytest.raises(error, match=words) as caught:
        await GitHubSource(base_url=url, token=SecretStr(TOKEN)).fetch(ctx, target(), None)
    assert TOKEN not in str(caught.value)


async def test_the_token_is_sent_as_a_bearer_header_and_kept_out_of_mentions(
    api: tuple[GitHub, str], ctx: CollectContext
) -> None:
    """A token goes in Authorization: Bearer; no mention or cursor holds it."""
    fake, url = api
    fake.issues = [issue(1, T0)]
    page = await GitHubSource(base_url=url, token=SecretStr(TOKEN)).fetch(ctx, target(), None)
    assert fake.requests[0][1]["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in fake.requests[0][0]["q"]
    assert TOKEN not in page.mentions[0].model_dump_json() and TOKEN not in str(page.cursor)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_page": 0},
        {"per_page": 101},
        {"per_page": 1.5},
        {"qualifiers": 5},
        {"qualifiers": "created:>2020-01-01"},
        {"qualifiers": "is:pr"},
        {"user_agent": " "},
        {"base_url": "api.github.com"},
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kwargs: dict[str, Any]) -> None:
    """The constructor refuses values the search cannot take."""
    with pytest.raises(ValueError, match=r"must"):
        GitHubSource(**kwargs)


# --- Discussions, through the GraphQL search -------------------------------------------


def discussion(
    number: int, at: int, title: str = "Acme skates: ideas", **extra: Any
) -> dict[str, Any]:
    """A discussion node as search(type: DISCUSSION) returns it for the source's query."""
    node: dict[str, Any] = {
        "id": f"D_kwDOAbCdEf4AQx{number:04d}",
        "number": number,
        "title": title,
        "body": "Could the Acme skates get a brake? 🛼\r\n\r\n> quoted",
        "url": f"https://github.com/acme-inc/rocket-skates/discussions/{number}",
        "createdAt": _iso(at),
        "updatedAt": _iso(at + 600),
        "author": {"login": "road-runner", "url": "https://github.com/road-runner"},
        "upvoteCount": 7,
        "comments": {"totalCount": 5},
        "repository": {"nameWithOwner": "acme-inc/rocket-skates"},
    }
    node.update(extra)
    return node


@dataclass
class GraphQL:
    """POST /graphql answering search(type: DISCUSSION) over a list of nodes, newest first,
    and nodes(ids:) over users by node id (``lookups`` records those; ``requests`` the
    searches)."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[dict[str, Any], dict[str, str]]] = field(default_factory=list)
    replies: list[web.Response] = field(default_factory=list)  # answered before searching
    remaining: int = 5000
    reset_at: int = 0
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> User node
    lookups: list[tuple[dict[str, Any], dict[str, str]]] = field(default_factory=list)
    lookup_replies: list[web.Response] = field(default_factory=list)

    async def graphql(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "nodes(ids:" in body["query"]:
            return self.lookup(body, dict(request.headers))
        self.requests.append((body, dict(request.headers)))
        if self.replies:
            return self.replies.pop(0)
        assert "search(type: DISCUSSION" in body["query"]
        variables = body["variables"]
        q, first, after = variables["q"], variables["first"], variables["after"]
        phrase = re.match(r'\s*(?:"([^"]+)"|(\S+))', q)
        assert phrase is not None and q.endswith("sort:created-desc")
        words = (phrase.group(1) or phrase.group(2)).casefold()
        low, high = _range(q)
        found = [
            node
            for node in self.nodes
            if words in f"{node.get('title')} {node.get('body')}".casefold()
            and low <= _node_stamp(node) <= high
        ]
        found.sort(key=_node_stamp, reverse=True)
        start = int(after.removeprefix("cursor:")) if after else 0
        served = found[start : start + first]
        end = start + len(served)
        self.remaining = max(self.remaining - 1, 0)
        reset = self.reset_at or int(time.time()) + 3000
        return web.json_response(
            {
                "data": {
                    "rateLimit": {"remaining": self.remaining, "resetAt": _iso(reset)},
                    "search": {
                        "discussionCount": len(found),
                        "pageInfo": {
                            "hasNextPage": end < len(found),
                            "endCursor": f"cursor:{end}" if served else None,
                        },
                        "nodes": served,
                    },
                }
            }
        )

    def lookup(self, body: dict[str, Any], headers: dict[str, str]) -> web.Response:
        """nodes(ids:): each id's User node, or null and a NOT_FOUND error, in order."""
        self.lookups.append((body, headers))
        if self.lookup_replies:
            return self.lookup_replies.pop(0)
        ids = body["variables"]["ids"]
        if len(ids) > 100:
            return web.json_response(
                {"errors": [{"message": "You may not provide more than 100 node ids"}]}
            )
        found = [self.users.get(node_id) for node_id in ids]
        answer: dict[str, Any] = {
            "data": {
                "rateLimit": {"remaining": self.remaining, "resetAt": _iso(int(time.time()))},
                "nodes": found,
            }
        }
        missing = [node_id for node_id, node in zip(ids, found, strict=True) if node is None]
        if missing:
            answer["errors"] = [
                {
                    "type": "NOT_FOUND",
                    "path": ["nodes", ids.index(node_id)],
                    "message": f"Could not resolve to a node with the global id of '{node_id}'",
                }
                for node_id in missing
            ]
        return web.json_response(answer)


def user_node(user_id: int, followers: int) -> dict[str, Any]:
    """A User node as nodes(ids:) gives it for the source's query."""
    return {"databaseId": user_id, "followers": {"totalCount": followers}}


def _node_stamp(node: dict[str, Any]) -> int:
    try:
        return int(datetime.fromisoformat(node["createdAt"]).timestamp())
    except (KeyError, TypeError, ValueError):
        return T0


@pytest.fixture
async def both() -> AsyncIterator[tuple[GitHub, GraphQL, str]]:
    """A fake GitHub with both the REST issues search and the GraphQL endpoint."""
    rest, graph = GitHub(), GraphQL()
    app = web.Application()
    app.router.add_get("/search/issues", rest.search)
    app.router.add_post("/graphql", graph.graphql)
    async with serve(app) as url:
        yield rest, graph, url


def _with_discussions(url: str) -> GitHubSource:
    return GitHubSource(base_url=url, token=SecretStr(TOKEN), discussions=True)


async def _first_discussions_fetch(source: GitHubSource, ctx: CollectContext, since: int) -> Any:
    """Fetch the (empty) issues page; returns the cursor that goes on to discussions."""
    page = await source.fetch(ctx, target(since=since), None)
    assert page.mentions == [] and page.more is True
    return page.cursor


async def test_a_discussion_maps_every_field_and_is_searched_after_the_issues(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """Issues first, then the GraphQL search; a node becomes a mention with every field."""
    rest, graph, url = both
    rest.issues = [issue(1, T0 + 5)]
    node = discussion(42, T0 + 10, title="Acme rocket skates: brake ideas 🚀")
    graph.nodes = [node]
    result = await run(_with_discussions(url), ctx, target(since=T0))
    assert len(rest.requests) == 1 and len(graph.requests) == 1
    assert [m.external_id for m in result.mentions] == [str(2_600_000_001), node["id"]]
    mention = result.mentions[1]
    assert mention.source == "github" and mention.brand == BRAND
    assert mention.title == "Acme rocket skates: brake ideas 🚀"
    assert mention.text == (
        "Acme rocket skates: brake ideas 🚀\n\nCould the Acme skates get a brake? 🛼\r\n\r\n> quoted"
    )
    assert mention.url == "https://github.com/acme-inc/rocket-skates/discussions/42"
    assert mention.created_at == datetime.fromtimestamp(T0 + 10, UTC)
    assert mention.engagement == {"score": 7, "replies": 5}
    assert mention.author.handle == "road-runner"
    assert mention.author.url == "https://github.com/road-runner"
    assert mention.raw == node
    body, headers = graph.requests[0]
    assert body["variables"] == {
        "q": f"acme created:>={_iso(T0)} sort:created-desc",
        "first": 50,
        "after": None,
    }
    assert "rateLimit { remaining resetAt }" in body["query"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"].startswith("goodwill/")
    assert TOKEN not in str(result.cursor) and TOKEN not in mention.model_dump_json()
    assert term_state(result.cursor["discussions"], "acme") == {"newest": T0 + 10, "walk": None}


async def test_discussions_page_back_with_end_cursor_to_since(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """Pages follow endCursor as after until the window is exhausted."""
    _, graph, url = both
    graph.nodes = [discussion(i, T0 + 60 * i) for i in range(130)]
    since = T0 + 60 * 10
    result = await run(_with_discussions(url), ctx, target(since=since))
    assert {m.raw["number"] for m in result.mentions} == set(range(10, 130))
    afters = [body["variables"]["after"] for body, _ in graph.requests]
    assert afters == [None, "cursor:50", "cursor:100"]
    queries = [body["variables"]["q"] for body, _ in graph.requests]
    assert queries[1] == f"acme created:{_iso(since)}..{_iso(T0 + 60 * 129)} sort:created-desc"
    assert term_state(result.cursor["discussions"], "acme")["newest"] == T0 + 60 * 129


async def test_a_second_run_fetches_only_newer_discussions(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """The next run's created:>= is the newest createdAt already collected, per term."""
    rest, graph, url = both
    graph.nodes = [discussion(i, T0 + 60 * i) for i in range(3)]
    source = _with_discussions(url)
    first = await run(source, ctx, target(since=T0))
    graph.nodes += [discussion(200, T0 + 900)]
    graph.requests.clear()
    rest.requests.clear()
    second = await run(source, ctx, target(since=T0), first.cursor)
    assert len(rest.requests) == 1  # the issues are searched again too
    [(body, _)] = graph.requests
    assert body["variables"]["q"] == f"acme created:>={_iso(T0 + 120)} sort:created-desc"
    assert {m.raw["number"] for m in second.mentions} - {2} == {200}


async def test_discussions_without_a_token_are_refused() -> None:
    """Discussions search is GraphQL only, which needs a token."""
    with pytest.raises(ValueError, match="discussions search needs GOODWILL_GITHUB_TOKEN"):
        GitHubSource(discussions=True)


async def test_a_rate_limited_graphql_answer_waits_for_the_reset(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """errors type RATE_LIMITED with HTTP 200 is RateLimited until X-RateLimit-Reset."""
    _, graph, url = both
    body = {
        "data": None,
        "errors": [
            {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 583231."}
        ],
    }
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 900)}
    graph.replies.append(web.json_response(body, headers=headers))
    source = _with_discussions(url)
    cursor = await _first_discussions_fetch(source, ctx, T0)
    with pytest.raises(RateLimited, match="rate limit exceeded") as caught:
        await source.fetch(ctx, target(since=T0), cursor)
    assert 880 <= caught.value.retry_after <= 900


async def test_a_spent_graphql_limit_keeps_the_page_and_waits_for_reset_at(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """rateLimit.remaining 0 keeps the page; the next fetch waits until resetAt."""
    rest, graph, url = both
    graph.nodes = [discussion(i, T0 + i) for i in range(60)]
    graph.remaining, graph.reset_at = 1, int(time.time()) + 1200
    source = _with_discussions(url)
    cursor = await _first_discussions_fetch(source, ctx, T0)
    page = await source.fetch(ctx, target(since=T0), cursor)
    assert len(page.mentions) == 50 and page.more is True
    with pytest.raises(RateLimited) as caught:
        await source.fetch(ctx, target(since=T0), page.cursor)
    assert 1180 <= caught.value.retry_after <= 1200
    assert len(graph.requests) == 1 and len(rest.requests) == 1


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (lambda: web.json_response({"message": "Bad credentials", "documentation_url": "https://docs.github.com/graphql"}, status=401), SourceError, "HTTP 401: Bad credentials.*GOODWILL_GITHUB_TOKEN"),
        (lambda: web.json_response({"data": None, "errors": [{"type": "FORBIDDEN", "message": "Resource not accessible by personal access token"}]}), SourceError, "GOODWILL_GITHUB_TOKEN"),
        (lambda: web.json_response({"data": None, "errors": [{"message": "Parse error on \"}\" (RCURLY)"}]}), SourceError, "Parse error"),
        (lambda: web.json_response({"data": {"search": None}}), BadPayload, "data.search.nodes"),
        (lambda: web.Response(text="<html>Unicorn!</html>", content_type="text/html"), BadPayload, "not JSON"),
        (lambda: web.Response(status=502, text="Bad gateway"), SourceUnavailable, "HTTP 502"),
    ],
)  # fmt: skip
async def test_graphql_failures_become_the_errors_the_runner_acts_on(
    both: tuple[GitHub, GraphQL, str],
    ctx: CollectContext,
    reply: Any,
    error: type[Exception],
    words: str,
) -> None:
    """A bad token, refused or broken query and odd bodies name what to check, never the token."""
    _, graph, url = both
    graph.replies.append(reply())
    source = _with_discussions(url)
    cursor = await _first_discussions_fetch(source, ctx, T0)
    with pytest.raises(error, match=words) as caught:
        await source.fetch(ctx, target(since=T0), cursor)
    assert not isinstance(caught.value, RateLimited) and TOKEN not in str(caught.value)


async def test_an_unparseable_discussion_is_dead_lettered_and_the_rest_kept(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """A node that is no discussion, or lacks an id or a time, goes to unparsed."""
    _, graph, url = both
    no_id = discussion(1, T0 + 3)
    del no_id["id"]
    graph.nodes = [no_id, discussion(2, T0 + 2, createdAt="soon"), discussion(3, T0, author=None)]
    result = await run(_with_discussions(url), ctx, target(since=T0))
    [mention] = result.mentions
    assert mention.raw["number"] == 3 and mention.author.handle is None
    assert {reason for reason, _ in result.unparsed} == {
        "discussion has no id",
        "discussion has no ISO 8601 createdAt",
    }


async def test_an_issue_and_a_discussion_by_one_person_are_one_identity(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """Issues name their author by REST id, discussions by login: both now carry the id."""
    rest, graph, url = both
    rest.issues = [issue(1, T0 + 5)]  # by wile-e, REST id 583231
    graph.nodes = [
        discussion(
            42,
            T0 + 10,
            author={"login": "wile-e", "url": "https://github.com/wile-e", "databaseId": 583231},
        )
    ]
    result = await run(_with_discussions(url), ctx, target(since=T0))
    keys = {identity_key("github", m.author.model_dump()) for m in result.mentions}
    assert keys == {"github:id:583231"}
    assert "databaseId" in graph.requests[0][0]["query"]


def rest_user(login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    """A REST simple-user object, as an issue's ``user``."""
    return {
        "login": login,
        "id": user_id,
        "node_id": f"MDQ6VXNlcj{user_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "url": f"https://api.github.com/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": kind,
        "site_admin": False,
    }


async def test_a_deleted_account_is_no_identity_and_a_bot_is_one(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """REST's shared "ghost" user and GraphQL's null author name nobody; a bot's REST id and
    GraphQL databaseId are one identity."""
    rest, graph, url = both
    rest.issues = [
        issue(1, T0 + 1, user=rest_user("ghost", 10137)),
        issue(2, T0 + 2, user=rest_user("dependabot[bot]", 49699333, "Bot")),
    ]
    bot = {
        "login": "dependabot",
        "url": "https://github.com/apps/dependabot",
        "databaseId": 49699333,
    }
    graph.nodes = [discussion(3, T0 + 3, author=None), discussion(4, T0 + 4, author=bot)]
    result = await run(_with_discussions(url), ctx, target(since=T0))
    keys = {m.external_id: identity_key("github", m.author.model_dump()) for m in result.mentions}
    assert keys == {
        str(2_600_000_001): None,
        str(2_600_000_002): "github:id:49699333",
        discussion(3, T0)["id"]: None,
        discussion(4, T0)["id"]: "github:id:49699333",
    }
    assert {m.author.display_name for m in result.mentions if m.author.id is None} == {"ghost"}
    assert "... on Mannequin { databaseId }" in graph.requests[0][0]["query"]
    assert graph.lookups == []  # neither the ghost nor a bot has followers to look up


async def test_authors_followers_come_with_discussions_and_are_looked_up_once_for_issues(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext
) -> None:
    """Discussions bring followers { totalCount }; with the token, issue authors are looked
    up in one nodes(ids:) query per page, and an author known from either is not asked for
    again."""
    rest, graph, url = both
    coyote, runner = rest_user("wile-e", 583231), rest_user("road-runner", 1001)
    rest.issues = [issue(1, T0 + 1, user=coyote), issue(2, T0 + 2, user=coyote)]
    graph.users = {coyote["node_id"]: user_node(583231, 12)}
    author = {
        "login": "road-runner",
        "url": "https://github.com/road-runner",
        "databaseId": 1001,
        "followers": {"totalCount": 40_000},
    }
    graph.nodes = [discussion(3, T0 + 3, author=author)]
    source = _with_discussions(url)
    first = await run(source, ctx, target(since=T0))
    assert {m.author.handle: m.author.followers for m in first.mentions} == {
        "wile-e": 12,
        "road-runner": 40_000,
    }
    [(body, headers)] = graph.lookups
    assert body["variables"] == {"ids": [coyote["node_id"]]}
    assert "followers { totalCount }" in body["query"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert "followers { totalCount }" in graph.requests[0][0]["query"]

    rest.issues += [issue(5, T0 + 5, user=coyote), issue(6, T0 + 6, user=runner)]
    second = await run(source, ctx, target(since=T0), first.cursor)
    new = {m.external_id: m.author.followers for m in second.mentions}
    assert new[str(2_600_000_005)] == 12 and new[str(2_600_000_006)] == 40_000
    assert len(graph.lookups) == 1  # both from the cache

    # Without a token there is no GraphQL, and REST would cost a request per author.
    tokenless = await run(GitHubSource(base_url=url), ctx, target(since=T0))
    assert {m.author.followers for m in tokenless.mentions} == {None}
    assert len(graph.lookups) == 1


@pytest.mark.parametrize(
    ("reply", "paused_for"),
    [
        (lambda: web.Response(status=502, text="Bad gateway"), 60),
        (
            lambda: web.json_response(
                {"data": None, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]},
                headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 900)},
            ),
            900,
        ),
        (lambda: web.json_response({"data": {"rateLimit": None}}), 60),
    ],
)  # fmt: skip
async def test_a_failed_followers_lookup_keeps_the_issues_and_pauses_lookups(
    both: tuple[GitHub, GraphQL, str], ctx: CollectContext, reply: Any, paused_for: int
) -> None:
    """A lookup that fails (down, rate limited, odd body) keeps the page without followers;
    no lookup is tried again until the pause (a rate limit's reset, if later) is over."""
    rest, graph, url = both
    rest.issues = [issue(1, T0 + 1)]
    graph.users = {"MDQ6VXNlcjU4MzIzMQ==": user_node(583231, 12)}
    graph.lookup_replies.append(reply())
    now = [1_000.0]
    source = GitHubSource(base_url=url, token=SecretStr(TOKEN))
    source.reach = ReachCache(clock=lambda: now[0])
    first = await run(source, ctx, target(since=T0))
    assert [m.author.followers for m in first.mentions] == [None]
    rest.issues.append(issue(2, T0 + 2))
    now[0] += paused_for - 5
    second = await run(source, ctx, target(since=T0), first.cursor)
    assert [m.author.followers for m in second.mentions][-1] is None
    assert len(graph.lookups) == 1
    rest.issues.append(issue(3, T0 + 3))
    now[0] += 10
    third = await run(source, ctx, target(since=T0), second.cursor)
    assert [m.author.followers for m in third.mentions][-1] == 12
    assert len(graph.lookups) == 2
