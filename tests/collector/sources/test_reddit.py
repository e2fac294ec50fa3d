"""The Reddit source against a local server that speaks Reddit's listings and app-only OAuth."""

from __future__ import annotations

import base64
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
from collector.runner import Job, Runner
from collector.sources.reddit import RedditSource
from config.query import Query
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable
from store import Database
from tests.collector.sources._server_devforums import (
    BRAND,
    T0,
    client_context,
    run,
    serve,
    target,
)

ctx = client_context  # the shared `ctx` fixture

CLIENT_ID = "p-jcoLKBynTLew"
CLIENT_SECRET = "gko_LXELoV07ZBNUXrvWZfzE3aI"
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IlNIQTI1NjpzS3dsMnlsV0VtMjVmcXhwTU40cWY4MXE2OWFFdWFyMnpLMUdhVGxjdWNZIiwidHlwIjoiSldUIn0"


def post(
    number: int, at: float, title: str | None = "Acme rocket skates review", **extra: Any
) -> dict[str, Any]:
    """A t3 child of a listing, as Reddit returns it with raw_json=1."""
    post_id = f"1g{number:05d}"
    data: dict[str, Any] = {
        "approved_at_utc": None,
        "subreddit": "rocketskates",
        "selftext": "Bought the Acme skates & they're fast. <3",
        "author_fullname": "t2_8x9y0z",
        "saved": False,
        "gilded": 0,
        "clicked": False,
        "title": title,
        "link_flair_richtext": [],
        "subreddit_name_prefixed": "r/rocketskates",
        "hidden": False,
        "pwls": 6,
        "downs": 0,
        "hide_score": False,
        "name": f"t3_{post_id}",
        "quarantine": False,
        "upvote_ratio": 0.94,
        "subreddit_type": "public",
        "ups": 57,
        "total_awards_received": 0,
        "media_embed": {},
        "is_original_content": False,
        "user_reports": [],
        "secure_media": None,
        "score": 57,
        "approved_by": None,
        "thumbnail": "self",
        "edited": False,
        "gildings": {},
        "is_self": True,
        "created": at,
        "removed_by_category": None,
        "banned_by": None,
        "domain": "self.rocketskates",
        "selftext_html": '&lt;!-- SC_OFF --&gt;&lt;div class="md"&gt;...&lt;/div&gt;',
        "likes": None,
        "view_count": None,
        "archived": False,
        "over_18": False,
        "locked": False,
        "distinguished": None,
        "subreddit_id": "t5_2qh1i",
        "id": post_id,
        "author": "wile_e",
        "num_comments": 12,
        "permalink": f"/r/rocketskates/comments/{post_id}/acme_rocket_skates_review/",
        "stickied": False,
        "url": f"https://www.reddit.com/r/rocketskates/comments/{post_id}/acme_rocket_skates_review/",
        "subreddit_subscribers": 48213,
        "created_utc": at,
        "num_crossposts": 0,
        "media": None,
        "is_video": False,
    }
    data.update(extra)
    return {"kind": "t3", "data": data}


@dataclass
class Reddit:
    """Reddit's listings (public .json and OAuth paths) and its access_token endpoint."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    token_requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    replies: list[web.Response] = field(default_factory=list)  # answered before the listing
    remaining: float = 99.0
    tokens_issued: int = 0
    revoked: set[str] = field(default_factory=set)
    stuck_after: str | None = None  # answer this `after` whatever is asked
    depth: int = 1000  # a listing holds at most about 1,000 posts; its `after` is null at the end

    async def access_token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append((dict(request.headers), form))
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"})
        self.tokens_issued += 1
        return web.json_response(
            {
                "access_token": f"{TOKEN}{self.tokens_issued}",
                "token_type": "bearer",
                "expires_in": 86400,
                "scope": "*",
            }
        )

    async def listing(self, request: web.Request) -> web.Response:
        path = request.path
        self.requests.append((path, dict(request.query), dict(request.headers)))
        oauth = not path.endswith(".json")
        if oauth:
            token = request.headers.get("Authorization", "").removeprefix("bearer ")
            if not token.startswith(TOKEN) or token in self.revoked:
                return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        if self.replies:
            return self.replies.pop(0)
        query = request.query
        subs = request.match_info.get("subs")
        wanted = {s.casefold() for s in subs.split("+")} if subs else None
        phrases = [p.casefold() for p in re.findall(r'"([^"]+)"', query.get("q", ""))]
        found = [
            child
            for child in self.posts
            if (wanted is None or str(child["data"].get("subreddit")).casefold() in wanted)
            and (
                path.rstrip("/").removesuffix(".json").endswith("/new")
                or any(p in _words(child) for p in phrases)
            )
        ]
        found.sort(key=_stamp, reverse=True)
        found = found[: self.depth]
        after = query.get("after")
        if after:
            names = [child["data"].get("name") for child in found]
            found = found[names.index(after) + 1 :] if after in names else []
        limit = int(query.get("limit", "25"))
        served = found[:limit]
        next_after = served[-1]["data"].get("name") if len(found) > limit else None
        if self.stuck_after:
            next_after = self.stuck_after
        self.remaining = max(self.remaining - 1, 0)
        return web.json_response(
            {
                "kind": "Listing",
                "data": {
                    "after": next_after,
                    "dist": len(served),
                    "modhash": "",
                    "geo_filter": "",
                    "children": served,
                    "before": None,
                },
            },
            headers={
                "X-Ratelimit-Used": str(100 - int(self.remaining)),
                "X-Ratelimit-Remaining": f"{self.remaining:.1f}",
                "X-Ratelimit-Reset": "312",
            },
        )


def _words(child: dict[str, Any]) -> str:
    data = child.get("data", {})
    return f"{data.get('title')} {data.get('selftext')}".casefold()


def _stamp(child: dict[str, Any]) -> float:
    value = child.get("data", {}).get("created_utc")
    return value if isinstance(value, int | float) else T0


@pytest.fixture
async def reddit() -> AsyncIterator[tuple[Reddit, str]]:
    """A fake Reddit (www and oauth hosts in one) and its base URL."""
    fake = Reddit()
    app = web.Application()
    app.router.add_post("/api/v1/access_token", fake.access_token)
    for path in ("/search.json", "/search", "/r/{subs}/search.json", "/r/{subs}/search"):
        app.router.add_get(path, fake.listing)
    for path in ("/r/{subs}/new.json", "/r/{subs}/new"):
        app.router.add_get(path, fake.listing)
    async with serve(app) as url:
        yield fake, url


def _source(url: str, **kwargs: Any) -> RedditSource:
    return RedditSource(
        base_url=url, oauth_url=url, auth_url=f"{url}/api/v1/access_token", **kwargs
    )


def _oauth(url: str, **kwargs: Any) -> RedditSource:
    return _source(
        url, client_id=SecretStr(CLIENT_ID), client_secret=SecretStr(CLIENT_SECRET), **kwargs
    )


async def test_a_post_maps_every_field(reddit: tuple[Reddit, str], ctx: CollectContext) -> None:
    """Title, selftext, permalink, author, score and comments become a mention."""
    fake, url = reddit
    child = post(1, T0 + 0.5, title="Acme rocket skates: 10/10 🚀 would crash again")
    fake.posts = [child]
    page = await _source(url).fetch(ctx, target(), None)
    [mention] = page.mentions
    assert mention.source == "reddit" and mention.brand == BRAND
    assert mention.external_id == "1g00001"
    assert mention.title == "Acme rocket skates: 10/10 🚀 would crash again"
    assert mention.text == (
        "Acme rocket skates: 10/10 🚀 would crash again\n\nBought the Acme skates & they're fast. <3"
    )
    assert mention.url == (
        "https://www.reddit.com/r/rocketskates/comments/1g00001/acme_rocket_skates_review/"
    )
    assert mention.created_at == datetime.fromtimestamp(T0 + 0.5, UTC)
    assert mention.engagement == {"score": 57, "replies": 12}
    assert mention.author.id == "t2_8x9y0z" and mention.author.handle == "wile_e"
    assert mention.author.url == "https://www.reddit.com/user/wile_e"
    assert mention.raw == child
    path, query, headers = fake.requests[0]
    assert path == "/search.json"
    assert query == {
        "q": '"acme"',
        "sort": "new",
        "t": "all",
        "type": "link",
        "limit": "100",
        "raw_json": "1",
    }
    assert headers["User-Agent"].startswith("python:goodwill:")
    assert "Authorization" not in headers


async def test_a_link_post_without_selftext_and_a_long_unicode_post(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """A link post's text is its title; a very long selftext in many scripts is kept whole."""
    fake, url = reddit
    long = "Acme ünïcödé 🚀 ещё 日本語 " * 3000
    fake.posts = [post(1, T0, selftext="", is_self=False), post(2, T0 + 1, selftext=long)]
    page = await _source(url).fetch(ctx, target(), None)
    by_id = {m.external_id: m for m in page.mentions}
    assert by_id["1g00001"].text == "Acme rocket skates review"
    assert by_id["1g00002"].text == f"Acme rocket skates review\n\n{long.strip()}"


async def test_terms_are_quoted_and_ored_into_one_search(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """All terms go into one query: "a" OR "b"."""
    fake, url = reddit
    fake.posts = [post(1, T0, title="acme corp"), post(2, T0 + 1, title="Roadrunner")]
    page = await _source(url).fetch(ctx, target("acme corp", "roadrunner"), None)
    assert fake.requests[0][1]["q"] == '"acme corp" OR "roadrunner"'
    assert {m.external_id for m in page.mentions} == {"1g00001", "1g00002"}


async def test_subreddits_restrict_the_search(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """With subreddits, the search runs under /r/A+B with restrict_sr."""
    fake, url = reddit
    fake.posts = [post(1, T0), post(2, T0 + 1, subreddit="elsewhere")]
    page = await _source(url, subreddits=["rocketskates", "r/AcmeCorp"]).fetch(ctx, target(), None)
    path, query, _ = fake.requests[0]
    assert path == "/r/rocketskates+AcmeCorp/search.json" and query["restrict_sr"] == "1"
    assert [m.external_id for m in page.mentions] == ["1g00001"]


async def test_the_new_listing_reads_every_new_post_of_the_subreddits(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """listing='new' reads /r/A+B/new without a query; the runner filters by the brand."""
    fake, url = reddit
    fake.posts = [post(1, T0, title="Unrelated skates"), post(2, T0 + 1)]
    page = await _source(url, subreddits=["rocketskates"], listing="new").fetch(ctx, target(), None)
    path, query, _ = fake.requests[0]
    assert path == "/r/rocketskates/new.json" and "q" not in query
    assert {m.external_id for m in page.mentions} == {"1g00001", "1g00002"}


async def test_a_first_run_pages_with_after_back_to_since(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """With since, pages follow the listing's after fullname until a post is older than since."""
    fake, url = reddit
    fake.posts = [post(100 + i, T0 + 60 * i) for i in range(25)]
    since = T0 + 60 * 5
    result = await run(_source(url, limit=8), ctx, target(since=since))
    assert result.ids == {f"1g{100 + i:05d}" for i in range(5, 25)}
    afters = [query.get("after") for _, query, _ in fake.requests]
    assert afters == [None, "t3_1g00117", "t3_1g00109"]
    assert result.cursor["newest"] == T0 + 60 * 24 and result.cursor["walk"] is None


async def test_a_first_run_without_since_takes_only_the_newest_page(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """No since and no cursor: one page."""
    fake, url = reddit
    fake.posts = [post(100 + i, T0 + i) for i in range(12)]
    result = await run(_source(url, limit=5), ctx, target())
    assert result.ids == {f"1g{100 + i:05d}" for i in range(7, 12)}
    assert len(fake.requests) == 1


async def test_a_second_run_stops_at_what_it_already_has(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """The next run pages only until it meets the newest post of the last run."""
    fake, url = reddit
    fake.posts = [post(100 + i, T0 + 60 * i) for i in range(30)]
    source = _source(url, limit=10)
    first = await run(source, ctx, target(since=T0))
    assert len(first.ids) == 30
    fake.posts += [post(200 + i, T0 + 5000 + i) for i in range(3)]
    fake.requests.clear()
    second = await run(source, ctx, target(since=T0), first.cursor)
    assert second.ids - {"1g00129"} == {"1g00200", "1g00201", "1g00202"}
    assert len(fake.requests) == 1


async def test_the_end_of_the_listing_ends_the_run(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """after null (Reddit's ~1,000-post end of a listing) ends the run even before since."""
    fake, url = reddit
    fake.posts = [post(100 + i, T0 + i) for i in range(7)]
    result = await run(_source(url, limit=3), ctx, target(since=T0 - 10**6))
    assert len(result.ids) == 7 and len(fake.requests) == 3


async def test_a_listing_cut_at_its_cap_before_what_was_collected_names_the_window(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """1,200 new posts since the last run: the listing ends at 1,000, short of the newest collected."""
    fake, url = reddit
    fake.posts = [post(i, T0 + i) for i in range(5)]
    source = _source(url)
    first = await run(source, ctx, target(since=T0))
    assert first.pages[-1].truncated is None
    fake.posts += [post(1000 + i, T0 + 3600 + 60 * i) for i in range(1200)]
    second = await run(source, ctx, target(since=T0), first.cursor)
    assert len(second.ids) == 1000 and len(second.pages) == 10
    assert [page.truncated for page in second.pages[:-1]] == [None] * 9
    last = second.pages[-1]
    assert last.truncated is not None and "cap of about 1,000 posts" in last.truncated
    assert "the newest post collected before" in last.truncated
    oldest_reached = T0 + 3600 + 60 * 200  # posts 1000..1199 of the 1,200 were not served
    assert last.truncated_window == (
        datetime.fromtimestamp(T0 + 4, UTC),
        datetime.fromtimestamp(oldest_reached, UTC),
    )


async def test_a_backfill_cut_at_the_cap_says_so_and_a_short_listing_does_not(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """Short of since after ~1,000 posts is the cap; short of since after 7 is the listing's start."""
    fake, url = reddit
    fake.posts = [post(i, T0 + 60 * i) for i in range(1100)]
    since = T0 - 86_400
    cut = await run(_source(url), ctx, target(since=since))
    assert (
        cut.pages[-1].truncated is not None and "before reaching since" in cut.pages[-1].truncated
    )
    assert cut.pages[-1].truncated_window == (
        datetime.fromtimestamp(since, UTC),
        datetime.fromtimestamp(T0 + 60 * 100, UTC),
    )
    fake.posts, fake.requests = [post(i, T0 + i) for i in range(7)], []
    short = await run(_source(url, limit=3), ctx, target(since=since))
    assert len(short.ids) == 7 and all(page.truncated is None for page in short.pages)


async def test_duplicates_and_a_repeating_after_do_not_make_the_run_loop(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """The same post twice is passed on; an after that does not move ends the run."""
    fake, url = reddit
    fake.posts = [post(10 + i, T0 + i) for i in range(4)]
    fake.posts.append(copy.deepcopy(fake.posts[1]))
    fake.stuck_after = "t3_1g00011"
    result = await run(_source(url, limit=3), ctx, target(since=T0))
    assert len(result.pages) == 2
    assert {m.external_id for m in result.mentions} >= {"1g00013", "1g00012", "1g00011"}


async def test_removed_and_deleted_posts_are_dropped(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """Posts removed by moderators or deleted by their authors are placeholders, not mentions."""
    fake, url = reddit
    fake.posts = [
        post(1, T0 + 3, selftext="[removed]", removed_by_category="moderator"),
        post(2, T0 + 2, selftext="[deleted]", author="[deleted]", removed_by_category="deleted"),
        post(3, T0 + 1, removed_by_category="reddit"),
        post(4, T0),
    ]
    page = await _source(url).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == ["1g00004"] and page.unparsed == []


async def test_an_unparseable_child_is_dead_lettered_and_the_rest_kept(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """Children without id, time or title, or not posts, go to unparsed with their reason."""
    fake, url = reddit
    no_id = post(1, T0 + 4)
    del no_id["data"]["id"]
    comment = post(2, T0 + 3)
    comment["kind"] = "t1"
    fake.posts = [
        no_id,
        comment,
        post(3, T0 + 2, created_utc="yesterday"),
        post(4, T0 + 1, title=None),
        post(5, T0),
    ]
    page = await _source(url).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == ["1g00005"]
    assert {reason for reason, _ in page.unparsed} == {
        "post has no id",
        "listing child is a 't1', not a post (t3)",
        "post has no numeric created_utc",
        "post has no title",
    }


async def test_an_empty_listing_is_an_empty_last_page(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """No posts: no mentions, no more pages, and a newest time for the next run."""
    _, url = reddit
    page = await _source(url).fetch(ctx, target(), None)
    assert page.mentions == [] and page.more is False
    assert isinstance(page.cursor["newest"], float)


async def test_oauth_gets_an_app_token_once_and_calls_the_oauth_host(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """Client credentials are exchanged with basic auth; the API gets 'bearer TOKEN', no .json."""
    fake, url = reddit
    fake.posts = [post(1, T0)]
    source = _oauth(url)
    page = await source.fetch(ctx, target(), None)
    await source.fetch(ctx, target(), page.cursor)
    assert len(fake.token_requests) == 1
    headers, form = fake.token_requests[0]
    assert form == {"grant_type": "client_credentials"}
    assert headers["User-Agent"].startswith("python:goodwill:")
    path, _, api_headers = fake.requests[0]
    assert path == "/search" and api_headers["Authorization"] == f"bearer {TOKEN}1"
    dumped = page.mentions[0].model_dump_json() + str(page.cursor)
    assert all(secret not in dumped for secret in (CLIENT_ID, CLIENT_SECRET, TOKEN))


async def test_an_expired_token_is_replaced_once(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """A 401 from the API with a cached token gets a new token and the request again."""
    fake, url = reddit
    fake.posts = [post(1, T0)]
    source = _oauth(url)
    await source.fetch(ctx, target(), None)
    fake.revoked.add(f"{TOKEN}1")
    page = await source.fetch(ctx, target(), None)
    assert len(page.mentions) == 1 and fake.tokens_issued == 2


async def test_wrong_credentials_say_what_to_check_and_show_no_secret(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """A refused token request is a SourceError naming the settings, with no secret in it."""
    _, url = reddit
    source = _source(url, client_id=SecretStr(CLIENT_ID), client_secret=SecretStr("wrong-secret"))
    with pytest.raises(SourceError, match="credentials") as caught:
        await source.fetch(ctx, target(), None)
    assert "wrong-secret" not in str(caught.value) and CLIENT_ID not in str(caught.value)


async def test_a_spent_budget_keeps_the_page_and_waits_for_the_reset(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """X-Ratelimit-Remaining 0: the page is kept; the next fetch waits X-Ratelimit-Reset."""
    fake, url = reddit
    fake.posts = [post(10 + i, T0 + i) for i in range(6)]
    fake.remaining = 1.0
    source = _source(url, limit=2)
    page = await source.fetch(ctx, target(since=T0), None)
    assert len(page.mentions) == 2 and page.more is True
    assert page.cursor["not_before"] == pytest.approx(time.time() + 312, abs=5)
    with pytest.raises(RateLimited, match="resets") as caught:
        await source.fetch(ctx, target(since=T0), page.cursor)
    assert 300 <= caught.value.retry_after <= 312
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"Retry-After": "9"}, 9), ({"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "41"}, 41)],
)
async def test_a_429_waits_retry_after_or_the_reset(
    reddit: tuple[Reddit, str], ctx: CollectContext, headers: dict[str, str], wait: int
) -> None:
    """429 is RateLimited for Retry-After, or else for X-Ratelimit-Reset."""
    fake, url = reddit
    fake.replies.append(
        web.json_response(
            {"message": "Too Many Requests", "error": 429}, status=429, headers=headers
        )
    )
    with pytest.raises(RateLimited) as caught:
        await _source(url).fetch(ctx, target(), None)
    assert caught.value.retry_after == wait


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (403, {"reason": "private", "message": "Forbidden", "error": 403}, "is private"),
        (404, {"reason": "banned", "message": "Not Found", "error": 404}, "does not exist or is banned"),
        (403, {"message": "Forbidden", "error": 403}, "user_agent"),
    ],
)  # fmt: skip
async def test_refusals_say_what_to_change(
    reddit: tuple[Reddit, str], ctx: CollectContext, status: int, body: Any, words: str
) -> None:
    """A private or banned subreddit, or a blocked client, is a SourceError that says why."""
    fake, url = reddit
    fake.replies.append(web.json_response(body, status=status))
    with pytest.raises(SourceError, match=words) as caught:
        await _source(url, subreddits=["acmeinternal"]).fetch(ctx, target(), None)
    assert not isinstance(caught.value, RateLimited)


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (lambda: web.Response(status=500, text="Internal Server Error"), SourceUnavailable, "HTTP 500"),
        (lambda: web.Response(status=503, text="<html>Our CDN was unable to reach our servers</html>", content_type="text/html"), SourceUnavailable, "HTTP 503"),
        (lambda: web.Response(text='{"kind": "Listing", "data": {"children": [', content_type="application/json"), SourceUnavailable, "JSON cut short"),
        (lambda: web.Response(text="<!doctype html><html><title>Blocked</title></html>", content_type="text/html"), SourceUnavailable, "HTML page instead of JSON"),
        (lambda: web.Response(text="not json at all", content_type="application/json"), BadPayload, "not JSON"),
        (lambda: web.json_response({"kind": "t3", "data": {}}), BadPayload, "not a Listing"),
    ],
)  # fmt: skip
async def test_failures_become_the_errors_the_runner_acts_on(
    reddit: tuple[Reddit, str],
    ctx: CollectContext,
    reply: Any,
    error: type[Exception],
    words: str,
) -> None:
    """5xx, truncated JSON or an HTML page is retried; other text or a non-listing is a bad payload."""
    fake, url = reddit
    fake.replies.append(reply())
    with pytest.raises(error, match=words) as caught:
        await _oauth(url).fetch(ctx, target(), None)
    assert all(secret not in str(caught.value) for secret in (CLIENT_SECRET, TOKEN))


async def test_a_changed_query_starts_again_from_since(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """Editing the terms makes a new search: it is collected back to since, not from the old place."""
    fake, url = reddit
    fake.posts = [post(1, T0, title="roadrunner"), post(2, T0 + 100)]
    source = _source(url)
    first = await run(source, ctx, target(since=T0))
    second = await run(source, ctx, target("acme", "roadrunner", since=T0), first.cursor)
    assert "1g00001" in second.ids


@pytest.mark.parametrize(
    "kwargs",
    [
        {"client_id": SecretStr("x")},
        {"subreddits": ["no spaces"]},
        {"listing": "new"},
        {"listing": "hot"},
        {"limit": 0},
        {"limit": 101},
        {"limit": "5"},
        {"subreddits": "python"},
        {"user_agent": ""},
        {"base_url": "www.reddit.com"},
        {"owned_subreddits": ["r/not a subreddit"]},
        {"owned_subreddits": "acme"},
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kwargs: dict[str, Any]) -> None:
    """The constructor refuses values Reddit cannot take."""
    with pytest.raises(ValueError, match=r"must"):
        RedditSource(**kwargs)


# --- owned subreddits ------------------------------------------------------------------


async def test_the_owned_subreddits_new_posts_are_walked_after_the_search_and_are_owned(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """The search first, then /r/OWN/new with its own place; every post there is owned,
    however it was found, and the next run reads only newer ones."""
    fake, url = reddit
    fake.posts = [
        post(1, T0 + 1),  # names Acme, in r/rocketskates
        post(2, T0 + 2, subreddit="AcmeCorp"),  # names Acme, in the brand's own subreddit
        post(3, T0 + 3, subreddit="AcmeCorp", title="Love the new colours!", selftext=""),
    ]
    source = _source(url, owned_subreddits=["r/acmecorp"])
    first = await run(source, ctx, target(since=T0))
    paths = [path for path, _, _ in fake.requests]
    assert paths == ["/search.json", "/r/acmecorp/new.json"]
    owned = sorted((m.external_id, m.owned) for m in first.mentions)
    assert owned == [("1g00001", False), ("1g00002", True), ("1g00002", True), ("1g00003", True)]
    assert first.cursor["owned"]["newest"] == T0 + 3 and first.cursor["owned"]["due"] is False

    fake.posts.append(post(4, T0 + 10, subreddit="AcmeCorp", title="Colours?", selftext=""))
    fake.requests.clear()
    second = await run(source, ctx, target(since=T0), first.cursor)
    assert [path for path, _, _ in fake.requests] == ["/search.json", "/r/acmecorp/new.json"]
    assert second.ids - {"1g00002", "1g00003"} == {"1g00004"}

    # An owned subreddit added later is walked from the start (since), not from the others' place.
    fake.posts.append(post(5, T0 + 5, subreddit="AcmeHelp", title="Login?", selftext=""))
    added = _source(url, owned_subreddits=["acmecorp", "AcmeHelp"])
    third = await run(added, ctx, target(since=T0), second.cursor)
    assert {"1g00005", "1g00003"} <= third.ids


async def test_owned_subreddits_already_read_by_the_new_listing_are_not_read_twice(
    reddit: tuple[Reddit, str], ctx: CollectContext
) -> None:
    """listing='new' over the owned subreddit: one listing, its posts owned, the rest not."""
    fake, url = reddit
    fake.posts = [post(1, T0 + 1), post(2, T0 + 2, subreddit="AcmeCorp")]
    source = _source(
        url, subreddits=["rocketskates", "AcmeCorp"], listing="new", owned_subreddits=["AcmeCorp"]
    )
    result = await run(source, ctx, target())
    assert [path for path, _, _ in fake.requests] == ["/r/rocketskates+AcmeCorp/new.json"]
    assert sorted((m.external_id, m.owned) for m in result.mentions) == [
        ("1g00001", False),
        ("1g00002", True),
    ]


async def test_an_owned_subreddit_s_post_is_stored_without_naming_the_brand(
    reddit: tuple[Reddit, str], ctx: CollectContext, store: Database
) -> None:
    """Through the runner: the brand's own subreddit's post is kept, the same words in a
    subreddit read for the brand's query are dropped."""
    fake, url = reddit
    words = "Love the new colours! When do they ship to Canada?"
    fake.posts = [
        post(1, T0 + 1, subreddit="AcmeCorp", title=words, selftext=""),
        post(2, T0 + 2, title=words, selftext=""),
        post(3, T0 + 3),  # names Acme
    ]
    source = _source(url, subreddits=["rocketskates"], listing="new", owned_subreddits=["AcmeCorp"])
    job = Job(BRAND, source, 60, terms=("acme",), query=Query.parse("acme"))
    result = await Runner(store, [job], ctx.session, budgets={}).run_job(job.id)
    assert result.error is None
    docs = [doc async for doc in store.collection("mentions").find({})]
    assert sorted((doc["external_id"], doc["owned"]) for doc in docs) == [
        ("1g00001", True),
        ("1g00003", False),
    ]
