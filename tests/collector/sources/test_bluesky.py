"""The Bluesky search source against a real aiohttp server on 127.0.0.1 that speaks XRPC."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from collector.base import CollectContext, Page, Target
from collector.sources.bluesky import BlueskySource
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable
from tests.conftest import free_port

BRAND = "Acme"
HANDLE = "goodwill-bot.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"  # the shape of a Bluesky app password
START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

# A PostView as app.bsky.feed.searchPosts returns it (docs.bsky.app, app.bsky.feed.defs#postView).
DOCUMENTED_POST: dict[str, Any] = {
    "uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l6oveex3ii2l",
    "cid": "bafyreihwh3ucpiqk6f5l4bbd4f4hgr7i4sqdzy4a6z7yb5q7ekbf4cdvzm",
    "author": {
        "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        "handle": "atproto.com",
        "displayName": "AT Protocol Developers 🦋",
        "avatar": "https://cdn.bsky.app/img/avatar/plain/did:plc:ewvi7nxzyoun6zhxrhs64oiz/bafkreifjldy2fbgjfli7dson343u2bepzwypt7vlffb45ipsll6bjklphy@jpeg",
        "associated": {"chat": {"allowIncoming": "all"}},
        "labels": [],
        "createdAt": "2023-04-20T22:51:38.473Z",
    },
    "record": {
        "$type": "app.bsky.feed.post",
        "createdAt": "2026-11-24T11:58:31.112Z",
        "facets": [
            {
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "acme"}],
                "index": {"byteStart": 55, "byteEnd": 60},
            }
        ],
        "langs": ["fr", "en"],
        "text": "Le café d'Acme Corp est incroyable ☕️🔥 — merci l'équipe #acme",
    },
    "embed": {
        "$type": "app.bsky.embed.external#view",
        "external": {
            "uri": "https://acme.example/coffee",
            "title": "Acme coffee",
            "description": "",
        },
    },
    "replyCount": 3,
    "repostCount": 14,
    "likeCount": 127,
    "quoteCount": 2,
    "bookmarkCount": 6,
    "indexedAt": "2026-11-24T11:58:31.904Z",
    "viewer": {"threadMuted": False, "embeddingDisabled": False},
    "labels": [],
}


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _post(number: int, when: datetime, text: str | None = None) -> dict[str, Any]:
    did = f"did:plc:user{number:020d}"
    return {
        "uri": f"at://{did}/app.bsky.feed.post/3lpost{number:07d}",
        "cid": f"bafyrei{number:052d}",
        "author": {
            "did": did,
            "handle": f"user{number}.bsky.social",
            "displayName": f"User {number}",
        },
        "record": {
            "$type": "app.bsky.feed.post",
            "createdAt": _iso(when),
            "langs": ["en"],
            "text": text or f"post {number} about acme 🚀",
        },
        "replyCount": 0,
        "repostCount": 0,
        "likeCount": number % 7,
        "quoteCount": 0,
        "indexedAt": _iso(when + timedelta(milliseconds=400)),
        "labels": [],
    }


def _profile_view(did: str) -> dict[str, Any]:
    """A profileViewDetailed as getProfiles gives it (app.bsky.actor.defs), for an author here."""
    if did == DOCUMENTED_POST["author"]["did"]:
        handle, name, followers = "atproto.com", "AT Protocol Developers 🦋", 31_337
    else:
        number = int(did.removeprefix("did:plc:user"))
        handle, name, followers = f"user{number}.bsky.social", f"User {number}", 3 * number + 1
    return {
        "did": did,
        "handle": handle,
        "displayName": name,
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkreiabc@jpeg",
        "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
        "indexedAt": "2026-11-01T10:00:00.000Z",
        "createdAt": "2024-02-01T10:00:00.000Z",
        "description": "",
        "followersCount": followers,
        "followsCount": 12,
        "postsCount": 340,
        "labels": [],
    }


def _sort_at(post: dict[str, Any]) -> datetime:
    created = datetime.fromisoformat(post["record"]["createdAt"])
    indexed = datetime.fromisoformat(post["indexedAt"])
    return min(created, indexed)


@dataclass
class FakeBluesky:
    """A Bluesky AppView + PDS: searchPosts over ``posts``, createSession and refreshSession."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    require_auth: bool = False
    remaining: int = 2999
    reset: int = 0
    canned: list[web.Response] = field(default_factory=list)  # answered before searching
    login_canned: list[web.Response] = field(default_factory=list)  # answered before logging in
    searches: list[dict[str, Any]] = field(default_factory=list)
    logins: list[Any] = field(default_factory=list)
    refreshes: list[str] = field(default_factory=list)
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    refuse_refresh: bool = False
    # getProfiles: every DID named has a profile unless listed in ``gone``.
    gone: set[str] = field(default_factory=set)
    profiles_canned: list[web.Response] = field(default_factory=list)
    profile_calls: list[dict[str, Any]] = field(default_factory=list)
    _issued: int = 0

    def _headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": "3000",
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset or int(time.time()) + 300),
            "RateLimit-Policy": "3000;w=300",
        }

    def _issue(self) -> dict[str, Any]:
        self._issued += 1
        access, refresh = f"access-{self._issued}", f"refresh-{self._issued}"
        self.access.add(access)
        self.refresh.add(refresh)
        return {
            "did": "did:plc:goodwillbot0000000000000",
            "handle": HANDLE,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
        }

    async def search(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        self.searches.append({"query": dict(request.query), "auth": auth, "path": request.path})
        if self.canned:
            return self.canned.pop(0)
        token = auth.removeprefix("Bearer ")
        if token in self.expired:
            return web.json_response(
                {"error": "ExpiredToken", "message": "Token has expired"}, status=400
            )
        if self.require_auth and token not in self.access:
            return web.json_response(
                {"error": "AuthMissing", "message": "Authentication Required"}, status=403
            )
        needle = request.query["q"].strip('"').casefold()
        since = request.query.get("since")
        found = [p for p in self.posts if needle in p["record"]["text"].casefold()]
        if since:
            floor = datetime.fromisoformat(since)
            found = [p for p in found if _sort_at(p) >= floor]
        found.sort(key=_sort_at, reverse=True)
        offset = int(request.query.get("cursor", "0"))
        limit = int(request.query.get("limit", "25"))
        body: dict[str, Any] = {"posts": found[offset : offset + limit], "hitsTotal": len(found)}
        if offset + limit < len(found):
            body["cursor"] = str(offset + limit)
        return web.json_response(body, headers=self._headers())

    async def get_profiles(self, request: web.Request) -> web.Response:
        """app.bsky.actor.getProfiles: a profileViewDetailed per actor, gone accounts left out."""
        actors = request.query.getall("actors", [])
        self.profile_calls.append({"actors": actors, "auth": request.headers.get("Authorization")})
        if self.profiles_canned:
            return self.profiles_canned.pop(0)
        if len(actors) > 25:
            return web.json_response(
                {
                    "error": "InvalidRequest",
                    "message": "actors must not have more than 25 elements",
                },
                status=400,
            )
        profiles = [_profile_view(did) for did in actors if did not in self.gone]
        return web.json_response({"profiles": profiles}, headers=self._headers())

    async def create_session(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.logins.append(body)
        if self.login_canned:
            return self.login_canned.pop(0)
        if body != {"identifier": HANDLE, "password": PASSWORD}:
            return web.json_response(
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
                status=401,
            )
        return web.json_response(self._issue(), headers=self._headers())

    async def refresh_session(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.refreshes.append(token)
        if self.refuse_refresh or token not in self.refresh:
            return web.json_response(
                {"error": "ExpiredToken", "message": "Token has expired"}, status=400
            )
        self.refresh.discard(token)
        return web.json_response(self._issue())


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeBluesky, str]]:
    """A fake Bluesky on a free port, and its base URL."""
    state = FakeBluesky()
    app = web.Application()
    app.router.add_get("/xrpc/app.bsky.feed.searchPosts", state.search)
    app.router.add_get("/xrpc/app.bsky.actor.getProfiles", state.get_profiles)
    app.router.add_post("/xrpc/com.atproto.server.createSession", state.create_session)
    app.router.add_post("/xrpc/com.atproto.server.refreshSession", state.refresh_session)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def ctx() -> AsyncIterator[CollectContext]:
    """A context with one real client session."""
    async with aiohttp.ClientSession() as session:
        yield CollectContext(session=session)


def _source(url: str, **params: Any) -> BlueskySource:
    return BlueskySource(base_url=url, pds_url=url, **params)


def _logged_in(url: str, **params: Any) -> BlueskySource:
    return _source(url, handle=HANDLE, app_password=SecretStr(PASSWORD), **params)


async def _run(
    source: BlueskySource, ctx: CollectContext, target: Target, cursor: Any
) -> tuple[list[Page], Any]:
    """Fetch pages as the runner does (until ``more`` is False); the pages and the last cursor."""
    pages = []
    while True:
        page = await source.fetch(ctx, target, cursor)
        pages.append(page)
        cursor = json.loads(json.dumps(page.cursor))  # as stored in MongoDB
        if not page.more:
            return pages, cursor
        assert len(pages) < 50, "the source never stopped"


async def test_documented_post_maps_to_every_mention_field(fake: Any, ctx: CollectContext) -> None:
    """Each PostView field the docs show lands in its Mention field; raw is the post as received."""
    state, url = fake
    state.posts = [DOCUMENTED_POST]
    page = await _source(url).fetch(ctx, Target(BRAND, ("acme",)), None)
    [mention] = page.mentions
    assert mention.source == "bluesky" and mention.brand == BRAND
    assert mention.external_id == DOCUMENTED_POST["uri"]
    assert mention.text == DOCUMENTED_POST["record"]["text"]
    assert mention.url == "https://bsky.app/profile/atproto.com/post/3l6oveex3ii2l"
    assert mention.author.id == "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    assert mention.author.handle == "atproto.com"
    assert mention.author.display_name == "AT Protocol Developers 🦋"
    assert mention.author.url == "https://bsky.app/profile/atproto.com"
    assert mention.author.followers == 31_337  # from getProfiles: the search's view has none
    assert mention.lang == "fr"
    assert mention.created_at == datetime(2026, 11, 24, 11, 58, 31, 112000, tzinfo=UTC)
    assert mention.engagement == {
        "likes": 127,
        "reposts": 14,
        "replies": 3,
        "quotes": 2,
        "bookmarks": 6,
    }
    assert mention.raw == DOCUMENTED_POST
    assert state.searches[0]["query"] == {"q": "acme", "sort": "latest", "limit": "100"}
    assert state.searches[0]["path"] == "/xrpc/app.bsky.feed.searchPosts"
    assert page.more is False and page.unparsed == []


async def test_a_long_unicode_post_and_an_invalid_handle_are_kept(
    fake: Any, ctx: CollectContext
) -> None:
    """A 3000-character text survives whole; a handle.invalid author has no handle and links by
    DID instead."""
    state, url = fake
    long = _post(1, START, "acme " + "ünïcödé 👩‍👩‍👧 " * 250)
    long["author"]["handle"] = "handle.invalid"
    state.posts = [long]
    [mention] = (await _source(url).fetch(ctx, Target(BRAND, ("acme",)), None)).mentions
    assert mention.text == long["record"]["text"] and len(mention.text) > 3000
    did = long["author"]["did"]
    assert mention.url == f"https://bsky.app/profile/{did}/post/3lpost0000001"
    assert mention.author.handle is None and mention.author.id == did
    assert mention.author.url == f"https://bsky.app/profile/{did}"


async def test_first_run_pages_back_to_since_and_no_further(fake: Any, ctx: CollectContext) -> None:
    """A first run with since follows the API cursor until the posts older than since run out."""
    state, url = fake
    state.posts = [_post(n, START - timedelta(minutes=n)) for n in range(300)]
    since = START - timedelta(minutes=249, seconds=30)
    pages, cursor = await _run(_source(url), ctx, Target(BRAND, ("acme",), since), None)
    ids = [m.external_id for p in pages for m in p.mentions]
    assert len(pages) == 3 and len(ids) == len(set(ids)) == 250
    assert {p["uri"] for p in state.posts[:250]} == set(ids)
    queries = [s["query"] for s in state.searches]
    assert [q.get("cursor") for q in queries] == [None, "100", "200"]
    assert all(q["since"] == "2026-11-24T07:50:30.000Z" for q in queries)
    assert cursor["due"] == [] and cursor["terms"]["acme"] == {"newest": _iso(START)}


async def test_first_run_without_since_reads_the_newest_page_only(
    fake: Any, ctx: CollectContext
) -> None:
    """With no since, a first run takes the newest page and does not page back into history."""
    state, url = fake
    state.posts = [_post(n, START - timedelta(minutes=n)) for n in range(250)]
    pages, _ = await _run(_source(url), ctx, Target(BRAND, ("acme",)), None)
    assert len(pages) == 1 and len(pages[0].mentions) == 100
    assert "since" not in state.searches[0]["query"]


async def test_a_second_run_fetches_only_newer_posts(fake: Any, ctx: CollectContext) -> None:
    """The second run searches since the newest post seen (less the overlap) and gets only new ones."""
    state, url = fake
    state.posts = [_post(n, START - timedelta(minutes=n)) for n in range(120)]
    source = _source(url, overlap_seconds=30)
    target = Target(BRAND, ("acme",), START - timedelta(hours=3))
    _, cursor = await _run(source, ctx, target, None)
    state.posts += [_post(1000 + n, START + timedelta(minutes=n + 1)) for n in range(5)]
    state.searches.clear()
    pages, cursor = await _run(_source(url, overlap_seconds=30), ctx, target, cursor)  # restart
    ids = {m.external_id for p in pages for m in p.mentions}
    assert ids == {p["uri"] for p in state.posts[-5:]} | {state.posts[0]["uri"]}
    assert state.searches[0]["query"]["since"] == "2026-11-24T11:59:30.000Z"
    assert cursor["terms"]["acme"]["newest"] == _iso(START + timedelta(minutes=5))


async def test_each_term_is_searched_in_turn_and_phrases_are_quoted(
    fake: Any, ctx: CollectContext
) -> None:
    """Terms are searched one after another (Bluesky ANDs words); a multi-word term is a phrase."""
    state, url = fake
    state.posts = [_post(1, START, "acme rocks"), _post(2, START, "I like Acme Corp: it's fine")]
    source = _source(url)
    target = Target(BRAND, ("acme", "acme corp", "#acme"))
    first = await source.fetch(ctx, target, None)
    assert first.more and first.cursor["due"] == ["acme corp", "#acme"]
    pages, _ = await _run(source, ctx, target, first.cursor)
    assert [s["query"]["q"] for s in state.searches] == ["acme", '"acme corp"', "#acme"]
    assert [len(p.mentions) for p in [first, *pages]] == [2, 1, 0]


async def test_an_api_that_repeats_its_cursor_and_posts_does_not_loop(
    fake: Any, ctx: CollectContext
) -> None:
    """The same posts and cursor twice end the pass instead of looping; duplicates are kept."""
    state, url = fake
    posts = [_post(n, START - timedelta(minutes=n)) for n in range(3)]
    body = json.dumps({"posts": posts, "cursor": "3"})
    state.canned = [web.Response(text=body, content_type="application/json") for _ in range(2)]
    pages, cursor = await _run(
        _source(url), ctx, Target(BRAND, ("acme",), START - timedelta(days=1)), None
    )
    assert len(pages) == 2 and [len(p.mentions) for p in pages] == [3, 3]
    assert cursor["due"] == [] and "page" not in cursor["terms"]["acme"]


async def test_429_with_retry_after_is_rate_limited(fake: Any, ctx: CollectContext) -> None:
    """HTTP 429 with Retry-After raises RateLimited with that wait."""
    state, url = fake
    state.canned = [web.Response(status=429, headers={"Retry-After": "42"})]
    with pytest.raises(RateLimited) as caught:
        await _source(url).fetch(ctx, Target(BRAND, ("acme",)), None)
    assert caught.value.retry_after == 42


async def test_429_without_retry_after_waits_for_ratelimit_reset(
    fake: Any, ctx: CollectContext
) -> None:
    """Bluesky's 429 names its reset in RateLimit-Reset (epoch seconds); the wait runs to it."""
    state, url = fake
    reset = int(time.time()) + 120
    state.canned = [
        web.json_response(
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            status=429,
            headers={"RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)},
        )
    ]
    with pytest.raises(RateLimited, match="RateLimitExceeded") as caught:
        await _source(url).fetch(ctx, Target(BRAND, ("acme",)), None)
    assert 100 < caught.value.retry_after <= 120


async def test_a_spent_budget_returns_the_page_then_waits(fake: Any, ctx: CollectContext) -> None:
    """RateLimit-Remaining 0 on a page: the page is kept, and the next fetch waits for the reset."""
    state, url = fake
    state.posts = [_post(n, START - timedelta(minutes=n)) for n in range(150)]
    state.remaining, state.reset = 0, int(time.time()) + 90
    source = _source(url)
    target = Target(BRAND, ("acme",), START - timedelta(days=1))
    page = await source.fetch(ctx, target, None)
    assert len(page.mentions) == 100 and page.more is False
    assert page.cursor["not_before"] == state.reset
    with pytest.raises(RateLimited) as caught:
        await source.fetch(ctx, target, json.loads(json.dumps(page.cursor)))
    assert 80 < caught.value.retry_after <= 90 and len(state.searches) == 1
    cursor = dict(page.cursor, not_before=time.time() - 1)  # the reset has passed
    state.remaining = 100
    rest = await source.fetch(ctx, target, cursor)
    assert len(rest.mentions) == 50 and state.searches[-1]["query"]["cursor"] == "100"


async def test_500_is_unavailable(fake: Any, ctx: CollectContext) -> None:
    """A 5xx answer raises SourceUnavailable, which the runner retries."""
    state, url = fake
    state.canned = [web.json_response({"error": "InternalServerError"}, status=500)]
    with pytest.raises(SourceUnavailable):
        await _source(url).fetch(ctx, Target(BRAND, ("acme",)), None)


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (
            '{"posts": [{"uri": "at://did:plc:x/app.bsky.feed.post/1", "rec',
            "application/json",
            SourceUnavailable,
        ),
        (
            "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
            SourceUnavailable,
        ),
        ('{"feed": []}', "application/json", BadPayload),
    ],
    ids=["truncated-json", "html-page", "no-posts-list"],
)
async def test_bodies_that_are_not_a_search_answer_are_errors_of_their_kind(
    fake: Any, ctx: CollectContext, body: str, content_type: str, error: type[Exception]
) -> None:
    """Truncated JSON or an HTML page: another try later; JSON without posts: BadPayload."""
    state, url = fake
    state.canned = [web.Response(text=body, content_type=content_type)]
    with pytest.raises(error):
        await _source(url).fetch(ctx, Target(BRAND, ("acme",)), None)


async def test_an_empty_answer_ends_the_pass(fake: Any, ctx: CollectContext) -> None:
    """No posts: an empty page, no more, and the next run searches from since again."""
    _, url = fake
    since = START - timedelta(hours=1)
    page = await _source(url).fetch(ctx, Target(BRAND, ("acme",), since), None)
    assert page.mentions == [] and page.more is False
    assert page.cursor["terms"]["acme"] == {"newest": _iso(since)}


async def test_an_unparseable_post_is_set_aside_and_the_rest_kept(
    fake: Any, ctx: CollectContext
) -> None:
    """A post without text or with a bad date goes to unparsed with its reason; others are kept."""
    state, url = fake
    no_text = _post(2, START)
    del no_text["record"]["text"]
    bad_date = _post(3, START)
    bad_date["record"]["createdAt"] = "yesterday"
    posts: list[Any] = [_post(1, START), no_text, bad_date, "not a post", _post(4, START)]
    body = json.dumps({"posts": posts})
    state.canned = [web.Response(text=body, content_type="application/json")]
    page = await _source(url).fetch(ctx, Target(BRAND, ("acme",)), None)
    assert [m.external_id for m in page.mentions] == [posts[0]["uri"], posts[4]["uri"]]
    assert [reason for reason, _ in page.unparsed] == [
        "post record has no text",
        "post record has no valid createdAt",
        "post is not a JSON object",
    ]
    assert page.unparsed[0][1] == no_text


@pytest.mark.parametrize(
    "refusal",
    [
        web.json_response(
            {"error": "AuthMissing", "message": "Authentication Required"}, status=403
        ),
        web.json_response(
            {"error": "AuthMissing", "message": "Authentication Required"}, status=401
        ),
        web.Response(
            status=403,
            text="<html><head><title>403 Forbidden</title></head><body>Request forbidden by administrative rules.</body></html>",
            content_type="text/html",
        ),
    ],
    ids=["403-json", "401-json", "403-html"],
)
async def test_anonymous_search_refused_says_which_settings_to_set(
    fake: Any, ctx: CollectContext, refusal: web.Response
) -> None:
    """The public AppView refusing anonymous search names GOODWILL_BLUESKY_HANDLE / _APP_PASSWORD."""
    state, url = fake
    state.canned = [refusal]
    with pytest.raises(SourceError) as caught:
        await _source(url).fetch(ctx, Target(BRAND, ("acme",)), None)
    message = str(caught.value)
    assert "GOODWILL_BLUESKY_HANDLE" in message and "GOODWILL_BLUESKY_APP_PASSWORD" in message
    assert not isinstance(caught.value, RateLimited | SourceUnavailable | BadPayload)


async def test_login_sends_the_app_password_once_and_searches_with_the_bearer_token(
    fake: Any, ctx: CollectContext
) -> None:
    """createSession gets {identifier, password}; searches carry Bearer accessJwt; no secret in raw."""
    state, url = fake
    state.require_auth = True
    state.posts = [_post(1, START)]
    source = _logged_in(url)
    target = Target(BRAND, ("acme",))
    page = await source.fetch(ctx, target, None)
    await source.fetch(ctx, target, page.cursor)
    assert state.logins == [{"identifier": HANDLE, "password": PASSWORD}]
    assert [s["auth"] for s in state.searches] == ["Bearer access-1", "Bearer access-1"]
    stored = json.dumps([m.model_dump(mode="json") for m in page.mentions]) + json.dumps(
        page.cursor
    )
    assert PASSWORD not in stored and "access-1" not in stored and "refresh-1" not in stored
    assert PASSWORD not in repr(source.__dict__)


async def test_an_expired_token_is_refreshed_and_the_search_retried(
    fake: Any, ctx: CollectContext
) -> None:
    """An ExpiredToken 400 refreshes the session with the refresh token and retries once."""
    state, url = fake
    state.require_auth = True
    state.posts = [_post(1, START)]
    source = _logged_in(url)
    target = Target(BRAND, ("acme",))
    page = await source.fetch(ctx, target, None)
    state.expired.add("access-1")
    again = await source.fetch(ctx, target, page.cursor)
    assert state.refreshes == ["refresh-1"] and len(state.logins) == 1
    assert [s["auth"] for s in state.searches] == [
        "Bearer access-1",
        "Bearer access-1",
        "Bearer access-2",
    ]
    assert len(again.mentions) == 1


async def test_a_refused_refresh_logs_in_again(fake: Any, ctx: CollectContext) -> None:
    """When the refresh token is refused too, the source creates a new session."""
    state, url = fake
    state.require_auth = True
    state.refuse_refresh = True
    source = _logged_in(url)
    target = Target(BRAND, ("acme",))
    await source.fetch(ctx, target, None)
    state.expired.add("access-1")
    await source.fetch(ctx, target, None)
    assert len(state.logins) == 2 and state.searches[-1]["auth"] == "Bearer access-2"


async def test_a_wrong_app_password_names_the_settings_but_not_the_secret(
    fake: Any, ctx: CollectContext
) -> None:
    """A refused login is a SourceError naming the settings, without the password in it."""
    state, url = fake
    source = _source(url, handle=HANDLE, app_password=SecretStr("wrong-pass-word-1234"))
    with pytest.raises(SourceError) as caught:
        await source.fetch(ctx, Target(BRAND, ("acme",)), None)
    message = str(caught.value)
    assert "GOODWILL_BLUESKY_APP_PASSWORD" in message and "Invalid identifier" in message
    assert "wrong-pass-word-1234" not in message and state.searches == []


async def test_a_rate_limited_login_is_rate_limited(fake: Any, ctx: CollectContext) -> None:
    """createSession's own limit (30 per 5 minutes) answering 429 raises RateLimited."""
    state, url = fake
    state.login_canned = [
        web.json_response(
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            status=429,
            headers={"RateLimit-Reset": str(int(time.time()) + 200)},
        )
    ]
    with pytest.raises(RateLimited) as caught:
        await _logged_in(url).fetch(ctx, Target(BRAND, ("acme",)), None)
    assert caught.value.retry_after > 150


@pytest.mark.parametrize(
    "params",
    [
        {"base_url": "public.api.bsky.app"},
        {"pds_url": "ftp://bsky.social"},
        {"handle": HANDLE},
        {"app_password": SecretStr(PASSWORD)},
        {"limit": 0},
        {"limit": 101},
        {"overlap_seconds": -1},
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any]) -> None:
    """A bad base URL, a handle without a password (or the reverse) or a bad limit is a ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        BlueskySource(**params)


async def test_a_server_ignoring_since_does_not_walk_back_through_history(
    fake: Any, ctx: CollectContext
) -> None:
    """Posts older than since are dropped and end the pass, even if the API offers another page."""
    state, url = fake
    posts = [_post(n, START - timedelta(minutes=10 * n)) for n in range(6)]
    body = json.dumps({"posts": posts, "cursor": "6"})
    state.canned = [web.Response(text=body, content_type="application/json")]
    since = START - timedelta(minutes=25)
    pages, cursor = await _run(_source(url), ctx, Target(BRAND, ("acme",), since), None)
    assert len(pages) == 1 and len(state.searches) == 1
    assert [m.external_id for m in pages[0].mentions] == [p["uri"] for p in posts[:3]]
    assert cursor["terms"]["acme"] == {"newest": _iso(START)}


async def test_followers_come_from_get_profiles_25_authors_a_call_once_a_day(
    fake: Any, ctx: CollectContext
) -> None:
    """A page's authors are asked of getProfiles (no login) 25 a call; an author is asked once a
    day; an account the AppView leaves out (gone) is stored without followers."""
    state, url = fake
    state.posts = [_post(n, START - timedelta(minutes=n)) for n in range(1, 31)]
    state.posts.append(_post(1, START - timedelta(minutes=40), "acme again from user 1"))
    gone = state.posts[29]["author"]["did"]
    state.gone = {gone}
    source = _logged_in(url)
    now = [1_000.0]
    source._profiles.clock = lambda: now[0]
    target = Target(BRAND, ("acme",))
    page = await source.fetch(ctx, target, None)
    assert [len(call["actors"]) for call in state.profile_calls] == [25, 5]
    assert all(call["auth"] is None for call in state.profile_calls)  # the public AppView
    followers = {m.external_id: m.author.followers for m in page.mentions}
    assert followers[state.posts[0]["uri"]] == 4 and followers[state.posts[30]["uri"]] == 4
    assert followers[state.posts[6]["uri"]] == 22
    assert followers[state.posts[29]["uri"]] is None  # gone

    await source.fetch(ctx, target, None)  # the same authors, within the day
    assert len(state.profile_calls) == 2
    now[0] += 86_400 + 1
    await source.fetch(ctx, target, None)
    assert [len(call["actors"]) for call in state.profile_calls[2:]] == [25, 5]


@pytest.mark.parametrize("failure", ["unreachable", "http-502", "no-profiles-list"])
async def test_a_failed_profile_lookup_never_fails_the_page(
    fake: Any, ctx: CollectContext, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    """The page is stored without followers, the failure logged at debug level; no lookup for a
    minute, then the lookup is tried again (and the followers arrive once it answers)."""
    state, url = fake
    state.require_auth = True
    state.posts = [_post(1, START), _post(2, START - timedelta(minutes=1))]
    # Logged in, searches go through the PDS; profiles are asked of the AppView at base_url.
    appview = f"http://127.0.0.1:{free_port()}" if failure == "unreachable" else url
    source = BlueskySource(
        base_url=appview, pds_url=url, handle=HANDLE, app_password=SecretStr(PASSWORD)
    )
    state.profiles_canned = {
        "unreachable": [],
        "http-502": [web.Response(status=502, text="<html>Bad Gateway</html>")],
        "no-profiles-list": [web.json_response({"actors": []})],
    }[failure]
    now = [1_000.0]
    source._profiles.clock = lambda: now[0]
    target = Target(BRAND, ("acme",))
    caplog.set_level(logging.DEBUG, logger="collector.sources._bsky_profiles")

    page = await source.fetch(ctx, target, None)
    assert [m.author.followers for m in page.mentions] == [None, None]
    assert [m.author.handle for m in page.mentions] == ["user1.bsky.social", "user2.bsky.social"]
    assert page.unparsed == [] and len(state.searches) == 1
    [record] = [r for r in caplog.records if r.name == "collector.sources._bsky_profiles"]
    assert record.levelno == logging.DEBUG and "stored without followers" in record.getMessage()
    asked = len(state.profile_calls)
    assert asked == (0 if failure == "unreachable" else 1)

    await source.fetch(ctx, target, None)  # within the pause: not asked again
    assert len(state.profile_calls) == asked
    now[0] += 61
    later = await source.fetch(ctx, target, None)
    if failure == "unreachable":  # asked again, and still failing quietly
        assert [m.author.followers for m in later.mentions] == [None, None]
        assert len([r for r in caplog.records if r.name == record.name]) == 2
    else:
        assert len(state.profile_calls) == asked + 1
        assert [m.author.followers for m in later.mentions] == [4, 7]
