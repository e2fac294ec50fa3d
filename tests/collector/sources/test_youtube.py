"""The YouTube source against a local server that speaks the YouTube Data API v3 as documented."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from pydantic import SecretStr

from collector.base import CollectContext, Target
from collector.runner import Job, Runner
from collector.sources._reach import DAY, ReachCache
from collector.sources.youtube import YouTubeSource
from config.query import Query
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable
from goodwill.models import utcnow
from store import Database
from tests.collector.sources._server_mray import (
    Api,
    Seen,
    context,
    json_response,
    run,
    serve,
    stored,
)

BRAND = "Acme"
KEY = "AIzaSyD-test-key-0123456789abcdefghijk"
VIDEO = "dQw4w9WgXcQ"
OTHER = "9bZkp7q19f0"
CHANNEL = "UCuAXFkgsw1L7xaCfnd5JJOw"
OWN = "UCacmeOfficial0000000000"  # the brand's own channel
OWN_VIDEO = "acmeLaunch1"
H0 = datetime(2026, 10, 30, 16, 0, tzinfo=UTC)
LONG = "Acme skates changed my life!! 🛼🔥 Ünïcödé — " * 300


def thread(
    video: str,
    number: int,
    at: datetime,
    text: str | None = None,
    *,
    channel: str = CHANNEL,
    **extra: Any,
) -> dict[str, Any]:
    """A commentThread resource with part=snippet, as the API returns it (on ``channel``)."""
    ident = f"Ugz{number:06d}kLmNoPqRsTuV4AaABAg"
    words = text if text is not None else f"Acme comment {number} 👍"
    comment = {
        "channelId": channel,
        "videoId": video,
        "textDisplay": words,
        "textOriginal": words,
        "authorDisplayName": f"@skatefan{number}",
        "authorProfileImageUrl": "https://yt3.ggpht.com/ytc/AIdro_abc=s48-c-k-c0x00ffffff-no-rj",
        "authorChannelUrl": f"http://www.youtube.com/@skatefan{number}",
        "authorChannelId": {"value": f"UCfan{number:019d}"},
        "canRate": True,
        "viewerRating": "none",
        "likeCount": 42,
        "publishedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updatedAt": (at + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    comment.update(extra)
    return {
        "kind": "youtube#commentThread",
        "etag": f"etag-{number}",
        "id": ident,
        "snippet": {
            "channelId": channel,
            "videoId": video,
            "topLevelComment": {
                "kind": "youtube#comment",
                "etag": f"etag-c-{number}",
                "id": ident,
                "snippet": comment,
            },
            "canReply": True,
            "totalReplyCount": 3,
            "isPublic": True,
        },
    }


def error_body(
    code: int, reason: str, message: str, domain: str = "youtube.commentThread"
) -> dict[str, Any]:
    """Google's JSON error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


@dataclass
class YouTube:
    """The fake API's data: threads per video, which videos refuse comments, search hits,
    channels' subscriber counts (None: hidden; a channel left out is closed)."""

    threads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    found: list[str] = field(default_factory=list)
    subscribers: dict[str, int | None] = field(default_factory=dict)
    channels_failure: web.Response | None = None  # how channels.list answers, when set
    channels_delay: float = 0.0  # seconds channels.list takes to answer


def _published(item: dict[str, Any]) -> str:
    return str(item["snippet"]["topLevelComment"]["snippet"]["publishedAt"])


def routes(youtube: YouTube) -> Any:
    def add(app: web.Application, api: Api) -> None:
        def refused(request: web.Request) -> web.Response | None:
            if request.query.get("key") != KEY:
                body = error_body(
                    400, "badRequest", "API key not valid. Please pass a valid API key.", "global"
                )
                body["error"]["status"] = "INVALID_ARGUMENT"
                body["error"]["details"] = [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "youtube.googleapis.com"},
                    }
                ]
                return json_response(body, status=400)
            return None

        async def comment_threads(request: web.Request) -> web.Response:
            if (answer := refused(request)) is not None:
                return answer
            video = request.query.get("videoId")
            channel = request.query.get("allThreadsRelatedToChannelId")
            if video in youtube.disabled:
                message = 'The video identified by the <code><a href="/youtube/v3/docs/commentThreads/list#videoId">videoId</a></code> parameter has disabled comments.'
                return json_response(error_body(403, "commentsDisabled", message), status=403)
            if video is not None and video not in youtube.threads:
                message = 'The video identified by the <code><a href="/youtube/v3/docs/commentThreads/list#videoId">videoId</a></code> parameter could not be found.'
                return json_response(error_body(404, "videoNotFound", message), status=404)
            if channel is not None:  # threads on the channel and on its videos
                items = [
                    t
                    for threads in youtube.threads.values()
                    for t in threads
                    if t["snippet"]["channelId"] == channel
                ]
            else:
                items = list(youtube.threads[video or ""])
            items.sort(key=_published, reverse=True)
            size = int(request.query.get("maxResults", "20"))
            token = request.query.get("pageToken")
            try:
                start = int(base64.b64decode(token, validate=True).decode()) if token else 0
            except ValueError:
                message = "The request specifies an invalid page token."
                refusal = error_body(400, "invalidPageToken", message, "youtube.parameter")
                return json_response(refusal, status=400)
            page = items[start : start + size]
            body: dict[str, Any] = {
                "kind": "youtube#commentThreadListResponse",
                "etag": "etag-list",
                "pageInfo": {"totalResults": len(page), "resultsPerPage": size},
                "items": page,
            }
            if start + size < len(items):
                body["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
            return json_response(body)

        async def search(request: web.Request) -> web.Response:
            if (answer := refused(request)) is not None:
                return answer
            items = [
                {
                    "kind": "youtube#searchResult",
                    "etag": f"etag-s-{video}",
                    "id": {"kind": "youtube#video", "videoId": video},
                    "snippet": {
                        "publishedAt": "2026-10-29T12:00:00Z",
                        "channelId": CHANNEL,
                        "title": "Acme rocket skates review",
                        "description": "Are they worth it?",
                        "thumbnails": {
                            "default": {
                                "url": f"https://i.ytimg.com/vi/{video}/default.jpg",
                                "width": 120,
                                "height": 90,
                            }
                        },
                        "channelTitle": "Skate Reviews",
                        "liveBroadcastContent": "none",
                        "publishTime": "2026-10-29T12:00:00Z",
                    },
                }
                for video in youtube.found
            ]
            return json_response(
                {
                    "kind": "youtube#searchListResponse",
                    "etag": "etag-search",
                    "regionCode": "US",
                    "pageInfo": {"totalResults": len(items), "resultsPerPage": 50},
                    "items": items,
                }
            )

        async def channels(request: web.Request) -> web.Response:
            if (answer := refused(request)) is not None:
                return answer
            await asyncio.sleep(youtube.channels_delay)
            if youtube.channels_failure is not None:
                return youtube.channels_failure
            ids = request.query.get("id", "").split(",")
            if len(ids) > 50:
                message = "The request specifies too many channel ids."
                return json_response(error_body(400, "badRequest", message, "global"), status=400)
            items = []
            for ident in ids:
                if ident not in youtube.subscribers:
                    continue  # closed or suspended: not in the answer
                count = youtube.subscribers[ident]
                statistics: dict[str, Any] = {
                    "viewCount": "1234567",
                    "hiddenSubscriberCount": count is None,
                    "videoCount": "42",
                }
                if count is not None:
                    statistics["subscriberCount"] = str(count)
                items.append(
                    {
                        "kind": "youtube#channel",
                        "etag": f"etag-ch-{ident}",
                        "id": ident,
                        "statistics": statistics,
                    }
                )
            return json_response(
                {
                    "kind": "youtube#channelListResponse",
                    "etag": "etag-channels",
                    "pageInfo": {"totalResults": len(items), "resultsPerPage": 50},
                    "items": items,
                }
            )

        app.router.add_get("/youtube/v3/commentThreads", comment_threads)
        app.router.add_get("/youtube/v3/search", search)
        app.router.add_get("/youtube/v3/channels", channels)

    return add


@pytest.fixture
def youtube() -> YouTube:
    """One video with 250 comments, one every 10 minutes before H0."""
    return YouTube({VIDEO: [thread(VIDEO, n, H0 - timedelta(minutes=10 * n)) for n in range(250)]})


@pytest.fixture
async def api(youtube: YouTube) -> AsyncIterator[Api]:
    """The fake API, served on 127.0.0.1."""
    async with serve(routes(youtube)) as served:
        yield served


@pytest.fixture
async def ctx() -> AsyncIterator[CollectContext]:
    """A context with one real client session."""
    async with context() as value:
        yield value


def target(since: datetime | None = None, terms: tuple[str, ...] = ("acme", "acme corp")) -> Target:
    return Target(BRAND, terms, since)


def threads_asked(api: Api) -> list[Seen]:
    """The commentThreads requests the server received (subscriber lookups left out)."""
    return [seen for seen in api.seen if seen.path == "/youtube/v3/commentThreads"]


def source(api: Api, **kwargs: Any) -> YouTubeSource:
    kwargs.setdefault("video_ids", [VIDEO])
    kwargs.setdefault("api_key", SecretStr(KEY))
    return YouTubeSource(base_url=f"{api.url}/youtube/v3", **kwargs)


async def test_a_documented_thread_maps_every_field(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """Thread id, text, author channel, time, likes and replies are mapped; raw is the item."""
    item = thread(VIDEO, 7, H0, LONG)
    youtube.threads[VIDEO] = [item]
    [mention] = (await source(api).fetch(ctx, target(), None)).mentions
    assert mention.source == "youtube" and mention.brand == BRAND
    assert mention.external_id == item["id"]
    assert mention.text == LONG.strip()
    assert mention.url == f"https://www.youtube.com/watch?v={VIDEO}&lc={item['id']}"
    assert mention.author.id == "UCfan0000000000000000007"
    assert mention.author.handle == "@skatefan7" and mention.author.display_name == "@skatefan7"
    assert mention.author.url == "http://www.youtube.com/@skatefan7"
    assert mention.created_at == H0
    assert mention.engagement == {"likes": 42, "replies": 3}
    assert mention.raw == item


async def test_the_request_is_the_documented_one_with_the_key(
    api: Api, ctx: CollectContext
) -> None:
    """part, videoId, order=time, maxResults=100, textFormat=plainText and key are sent."""
    result = await run(source(api), ctx, target())
    request = api.seen[0]
    assert request.path == "/youtube/v3/commentThreads"
    assert request.query == {
        "part": ["snippet"],
        "videoId": [VIDEO],
        "order": ["time"],
        "maxResults": ["100"],
        "textFormat": ["plainText"],
        "key": [KEY],
    }
    assert KEY not in repr(result.cursor)
    assert all(KEY not in repr(mention.raw) for mention in result.mentions)


async def test_the_text_falls_back_to_text_display(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """Without textOriginal (not the author's key) the plain-text textDisplay is used."""
    item = thread(VIDEO, 1, H0, "Acme &amp; me")
    del item["snippet"]["topLevelComment"]["snippet"]["textOriginal"]
    youtube.threads[VIDEO] = [item]
    [mention] = (await source(api).fetch(ctx, target(), None)).mentions
    assert mention.text == "Acme &amp; me"  # plainText: taken as written, not unescaped


async def test_a_first_run_without_since_reads_the_newest_page(
    api: Api, ctx: CollectContext
) -> None:
    """No since: the 100 newest threads, one request."""
    result = await run(source(api), ctx, target())
    assert len(result.mentions) == 100 and len(threads_asked(api)) == 1


async def test_a_first_run_pages_back_to_since(api: Api, ctx: CollectContext) -> None:
    """With since, nextPageToken is followed until threads are older than since."""
    since = H0 - timedelta(minutes=10 * 149)
    result = await run(source(api), ctx, target(since))
    assert len(result.mentions) == 150 and len(set(result.ids)) == 150
    assert [page.more for page in result.pages] == [True, False]
    assert threads_asked(api)[1].param("pageToken") == base64.b64encode(b"100").decode()


async def test_paging_runs_to_the_last_page(api: Api, ctx: CollectContext) -> None:
    """A back-fill further than the video's first comment ends at the last page."""
    result = await run(source(api), ctx, target(H0 - timedelta(days=30)))
    assert len(result.mentions) == 250 and len(result.pages) == 3


async def test_a_second_run_reads_only_newer_threads(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """The next run stops at the newest thread of the last; one in the same second is kept."""
    first = await run(source(api), ctx, target())
    tie = thread(VIDEO, 900, H0)
    newer = [thread(VIDEO, 1000 + n, H0 + timedelta(seconds=n + 1)) for n in range(120)]
    youtube.threads[VIDEO] += [tie, *newer]
    second = await run(source(api), ctx, target(), first.cursor)
    assert sorted(second.ids) == sorted([tie["id"]] + [t["id"] for t in newer])
    third = await run(source(api), ctx, target(), second.cursor)
    assert third.mentions == [] and len(third.pages) == 1


async def test_a_channel_reads_all_threads_related_to_it(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """channel_ids use allThreadsRelatedToChannelId; each stream is read once per run."""
    youtube.threads[OTHER] = [thread(OTHER, 5000, H0 + timedelta(minutes=1))]
    result = await run(source(api, channel_ids=[CHANNEL]), ctx, target())
    asked = threads_asked(api)
    assert [r.param("videoId") for r in asked] == [VIDEO, None]
    assert asked[1].param("allThreadsRelatedToChannelId") == CHANNEL
    assert [page.more for page in result.pages] == [True, False]
    assert len(result.mentions) == 200


async def test_disabled_comments_skip_the_video_without_failing(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """commentsDisabled (403) and videoNotFound (404) are noted; the other videos go on."""
    youtube.threads[OTHER] = []
    youtube.disabled.add(OTHER)
    result = await run(source(api, video_ids=[OTHER, "gone0000000", VIDEO]), ctx, target())
    assert len(result.mentions) == 100
    notes = {s["id"]: s.get("note") for s in result.cursor["streams"]}
    assert notes[OTHER].startswith("commentsDisabled")
    assert notes["gone0000000"].startswith("videoNotFound")
    assert notes[VIDEO] is None


async def test_quota_exceeded_waits_until_midnight_pacific(api: Api, ctx: CollectContext) -> None:
    """quotaExceeded is RateLimited until the quota resets; no request is sent until then."""

    async def spent(request: web.Request) -> web.Response:
        message = 'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.'
        return json_response(error_body(403, "quotaExceeded", message, "youtube.quota"), status=403)

    api.override = spent
    src = source(api)
    with pytest.raises(RateLimited) as caught:
        await src.fetch(ctx, target(), None)
    now = utcnow()
    pacific = now.astimezone(ZoneInfo("America/Los_Angeles"))
    midnight = (pacific + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert abs(caught.value.retry_after - (midnight - now).total_seconds()) < 5
    assert "midnight Pacific" in str(caught.value)
    with pytest.raises(RateLimited):
        await src.fetch(ctx, target(), None)
    assert len(api.seen) == 1


async def test_rate_limit_exceeded_waits_a_minute(api: Api, ctx: CollectContext) -> None:
    """rateLimitExceeded (403) is a RateLimited of 60 s."""

    async def busy(request: web.Request) -> web.Response:
        return json_response(
            error_body(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"), status=403
        )

    api.override = busy
    with pytest.raises(RateLimited) as caught:
        await source(api).fetch(ctx, target(), None)
    assert caught.value.retry_after == 60


async def test_429_with_retry_after_is_rate_limited(api: Api, ctx: CollectContext) -> None:
    """A 429 with Retry-After is a RateLimited with that wait, without the key."""

    async def limited(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "9"})

    api.override = limited
    with pytest.raises(RateLimited) as caught:
        await source(api).fetch(ctx, target(), None)
    assert caught.value.retry_after == 9 and KEY not in str(caught.value)


async def test_an_invalid_key_names_the_setting_and_never_the_key(
    api: Api, ctx: CollectContext
) -> None:
    """400 API_KEY_INVALID: a SourceError pointing at GOODWILL_YOUTUBE_API_KEY."""
    src = source(api, api_key=SecretStr("AIzaSy-wrong-" + KEY))
    with pytest.raises(SourceError, match="GOODWILL_YOUTUBE_API_KEY") as caught:
        await src.fetch(ctx, target(), None)
    assert KEY not in str(caught.value) and KEY not in str(caught.value.url)
    assert "API key not valid" in str(caught.value)


async def test_500_is_unavailable_without_the_key(api: Api, ctx: CollectContext) -> None:
    """A 5xx is a SourceUnavailable whose message has no key."""

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503, text=f"backend error for {request.query_string}")

    api.override = broken
    with pytest.raises(SourceUnavailable) as caught:
        await source(api).fetch(ctx, target(), None)
    assert KEY not in str(caught.value)


async def test_a_network_error_naming_the_url_never_shows_the_key(
    api: Api, ctx: CollectContext
) -> None:
    """Endless redirects come back as a transient failure that never shows the key."""

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.rel_url))

    api.override = loop
    with pytest.raises(SourceUnavailable) as caught:
        await source(api).fetch(ctx, target(), None)
    assert "redirected more than" in str(caught.value) and KEY not in str(caught.value)
    assert caught.value.__context__ is None and caught.value.__cause__ is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "youtube#commentThreadListResponse", "items": [{"id": "Ugz',
        b"<html><head><title>Error 502 (Server Error)!!1</title></head><body>That's an error.</body></html>",
        b'{"kind": "youtube#commentThreadListResponse"}',
    ],
)
async def test_a_body_that_is_not_a_thread_list_is_bad_payload(
    api: Api, ctx: CollectContext, body: bytes
) -> None:
    """Truncated JSON, an HTML page or a list without items is a BadPayload, without the key."""

    async def bad(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    api.override = bad
    with pytest.raises(BadPayload) as caught:
        await source(api).fetch(ctx, target(), None)
    assert KEY not in str(caught.value)


async def test_a_video_without_comments_is_an_empty_page(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """No threads: no mentions, no error, the run ends."""
    youtube.threads[VIDEO] = []
    result = await run(source(api), ctx, target())
    assert result.mentions == [] and len(result.pages) == 1


async def test_an_unparseable_thread_is_dead_lettered_and_the_rest_kept(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """A thread without a snippet or with a bad time goes to unparsed; the others are kept."""
    no_snippet = thread(VIDEO, 2, H0)
    del no_snippet["snippet"]
    bad_time = thread(VIDEO, 3, H0, publishedAt="soon")

    async def answer(request: web.Request) -> web.Response:
        items = [thread(VIDEO, 1, H0), no_snippet, bad_time]
        return json_response({"kind": "youtube#commentThreadListResponse", "items": items})

    api.override = answer
    page = await source(api).fetch(ctx, target(), None)
    assert len(page.mentions) == 1
    assert sorted(reason for reason, _ in page.unparsed) == [
        "comment has no valid publishedAt",
        "comment thread has no snippet.topLevelComment.snippet",
    ]


async def test_an_expired_page_token_restarts_the_sweep(api: Api, ctx: CollectContext) -> None:
    """invalidPageToken: the sweep starts again from the newest page, no failure."""
    src = source(api)
    page = await src.fetch(ctx, target(H0 - timedelta(days=30)), None)
    cursor = stored(page.cursor)
    cursor["streams"][0]["sweep"]["token"] = "expired!"
    restarted = await src.fetch(ctx, target(H0 - timedelta(days=30)), cursor)
    assert restarted.more and restarted.mentions == []
    assert restarted.cursor["streams"][0]["sweep"]["token"] is None
    rest = await run(src, ctx, target(H0 - timedelta(days=30)), restarted.cursor)
    assert len(set(rest.ids) | {m.external_id for m in page.mentions}) == 250


async def test_search_finds_videos_then_reads_their_comments(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """search=true: one search for the OR'ed terms, then each found video's threads."""
    youtube.threads[OTHER] = [thread(OTHER, 7000, H0)]
    youtube.found = [OTHER]
    src = source(api, video_ids=None, search=True)
    result = await run(src, ctx, target())
    searched = api.seen[0]
    assert searched.path == "/youtube/v3/search"
    assert searched.param("q") == 'acme|"acme corp"'
    assert (searched.param("type"), searched.param("order"), searched.param("part")) == (
        "video",
        "date",
        "snippet",
    )
    published_after = datetime.fromisoformat(searched.param("publishedAfter") or "")
    assert abs(published_after - (utcnow() - timedelta(days=7))) < timedelta(minutes=1)
    assert result.ids == [youtube.threads[OTHER][0]["id"]]
    api.seen.clear()
    again = await run(src, ctx, target(), result.cursor)
    assert api.paths() == ["/youtube/v3/commentThreads"]  # no search before the interval
    assert again.mentions == []


async def test_found_videos_are_followed_for_search_days(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """A video found longer ago than search_days is no longer read."""
    youtube.threads[OTHER] = [thread(OTHER, 7000, H0)]
    youtube.found = [OTHER]
    src = source(api, video_ids=None, search=True)
    result = await run(src, ctx, target())
    cursor = result.cursor
    cursor["streams"][0]["found_at"] = (utcnow() - timedelta(days=8)).isoformat()
    youtube.found = []
    api.seen.clear()
    later = await run(src, ctx, target(), cursor)
    assert api.paths() == []  # the search is not due, the only video has aged out
    assert later.cursor["streams"] == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"video_ids": [VIDEO]}, "GOODWILL_YOUTUBE_API_KEY"),
        ({"api_key": SecretStr(" "), "video_ids": [VIDEO]}, "GOODWILL_YOUTUBE_API_KEY"),
        ({"api_key": SecretStr(KEY)}, "video_ids, channel_ids or owned_channel_ids"),
        (
            {"api_key": SecretStr(KEY), "owned_channel_ids": ["UC not a channel"]},
            "not a YouTube id",
        ),
        ({"api_key": SecretStr(KEY), "video_ids": ["not a video"]}, "not a YouTube id"),
        ({"api_key": SecretStr(KEY), "video_ids": [VIDEO], "max_results": 101}, "max_results"),
        ({"api_key": SecretStr(KEY), "search": True, "search_days": 0}, "search_days"),
        (
            {"api_key": SecretStr(KEY), "video_ids": [VIDEO], "base_url": "googleapis.com"},
            "base_url",
        ),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any], words: str) -> None:
    """A missing key or a bad watch-list value raises ValueError naming what is wrong."""
    with pytest.raises(ValueError, match=words) as caught:
        YouTubeSource(**kwargs)
    assert KEY not in str(caught.value)


# --- owned channels ------------------------------------------------------------------


async def test_every_comment_on_the_brand_s_own_channel_or_videos_is_owned(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """owned_channel_ids reads the channel's threads; a comment on its videos is owned
    however it was found, a comment elsewhere is not."""
    youtube.threads = {
        OWN_VIDEO: [thread(OWN_VIDEO, 1, H0, "Love the new colours!", channel=OWN)],
        OTHER: [thread(OTHER, 2, H0, "Love the new colours!")],
    }
    src = source(api, video_ids=[OTHER, OWN_VIDEO], owned_channel_ids=[OWN], channel_ids=[OWN])
    result = await run(src, ctx, target())
    assert src.channel_ids == []  # listed and owned: read once, as owned
    asked = threads_asked(api)
    assert [r.param("allThreadsRelatedToChannelId") for r in asked] == [None, None, OWN]
    owned = {(m.raw["snippet"]["videoId"], m.owned) for m in result.mentions}
    assert owned == {(OWN_VIDEO, True), (OTHER, False)}
    assert len(result.mentions) == 3  # the own video's thread came twice, owned both times


async def test_an_owned_channel_s_comment_is_stored_without_naming_the_brand(
    youtube: YouTube, api: Api, ctx: CollectContext, store: Database
) -> None:
    """Through the runner: the brand's own channel's comment is kept, the same words on a
    video found by search are dropped by the brand's query."""
    words = "Love the new colours! When does it ship to Canada?"
    youtube.threads = {
        OWN_VIDEO: [thread(OWN_VIDEO, 1, H0, words, channel=OWN)],
        OTHER: [thread(OTHER, 2, H0, words), thread(OTHER, 3, H0, "Acme skates rock")],
    }
    youtube.found = [OTHER]
    src = source(api, video_ids=None, owned_channel_ids=[OWN], search=True)
    job = Job(BRAND, src, 60, terms=("acme",), query=Query.parse("acme"))
    result = await Runner(store, [job], ctx.session, budgets={}).run_job(job.id)
    assert result.error is None
    docs = [doc async for doc in store.collection("mentions").find({})]
    kept = {(doc["text"], doc["owned"]) for doc in docs}
    assert kept == {(words, True), ("Acme skates rock", False)}


# --- subscribers as followers ------------------------------------------------------


def _channels_asked(api: Api) -> list[Seen]:
    return [seen for seen in api.seen if seen.path == "/youtube/v3/channels"]


async def test_comment_authors_get_their_subscribers_looked_up_once_a_day(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """channels.list statistics gives followers; a cached author is not asked for again
    until a day has passed; a hidden count or a closed channel is no count."""
    youtube.threads = {VIDEO: [thread(VIDEO, n, H0 - timedelta(minutes=n)) for n in range(3)]}
    fans = [f"UCfan{n:019d}" for n in range(3)]
    youtube.subscribers = {fans[0]: 12_345, fans[1]: None}  # fans[2]'s channel is closed
    now = [1_000.0]
    src = source(api)
    src.reach = ReachCache(clock=lambda: now[0])
    first = await run(src, ctx, target())
    followers = {m.author.id: m.author.followers for m in first.mentions}
    assert followers == {fans[0]: 12_345, fans[1]: None, fans[2]: None}
    [asked] = _channels_asked(api)
    assert asked.query == {
        "part": ["statistics"],
        "id": [",".join(fans)],
        "maxResults": ["50"],
        "key": [KEY],
    }

    youtube.threads[VIDEO].append(thread(VIDEO, 0, H0 + timedelta(minutes=1)))  # fans[0] again
    youtube.threads[VIDEO][-1]["id"] = "UgzAgain"
    second = await run(src, ctx, target(), first.cursor)
    assert [m.author.followers for m in second.mentions] == [12_345]
    assert len(_channels_asked(api)) == 1  # from the cache

    now[0] += DAY + 1
    youtube.subscribers[fans[0]] = 12_400
    youtube.threads[VIDEO].append(thread(VIDEO, 0, H0 + timedelta(minutes=2)))
    youtube.threads[VIDEO][-1]["id"] = "UgzNextDay"
    third = await run(src, ctx, target(), second.cursor)
    assert [m.author.followers for m in third.mentions] == [12_400]
    assert len(_channels_asked(api)) == 2


async def test_subscribers_are_asked_for_fifty_channels_at_a_time(
    api: Api, ctx: CollectContext
) -> None:
    """A page of 100 comments by 100 people costs two channels.list calls of 50 ids."""
    await run(source(api), ctx, target())
    sizes = [len((r.param("id") or "").split(",")) for r in _channels_asked(api)]
    assert sizes == [50, 50]


@pytest.mark.parametrize(
    "failure",
    [
        lambda: web.Response(status=503, text="backend error"),
        lambda: json_response(
            error_body(403, "quotaExceeded", "You have exceeded your quota.", "youtube.quota"),
            status=403,
        ),
        lambda: web.Response(body=b'{"items": [', content_type="application/json"),
    ],
)
async def test_a_failed_subscriber_lookup_keeps_the_page(
    youtube: YouTube, api: Api, ctx: CollectContext, failure: Any
) -> None:
    """A lookup that fails (down, quota, garbage) leaves the comments without followers,
    and nothing is cached."""
    youtube.threads = {VIDEO: [thread(VIDEO, 1, H0)]}
    youtube.subscribers = {"UCfan0000000000000000001": 77}
    youtube.channels_failure = failure()
    src = source(api)
    page = await src.fetch(ctx, target(), None)
    assert [(m.external_id, m.author.followers) for m in page.mentions] == [
        (youtube.threads[VIDEO][0]["id"], None)
    ]
    assert len(src.reach) == 0


async def test_after_a_failed_lookup_none_is_tried_for_a_while(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """A failed lookup pauses lookups for a minute; then the author is asked for again."""
    youtube.threads = {VIDEO: [thread(VIDEO, 1, H0)]}
    youtube.subscribers = {"UCfan0000000000000000001": 77}
    youtube.channels_failure = web.Response(status=503, text="backend error")
    now = [1_000.0]
    src = source(api)
    src.reach = ReachCache(clock=lambda: now[0])
    first = await run(src, ctx, target())
    youtube.channels_failure = None
    youtube.threads[VIDEO].append(thread(VIDEO, 1, H0 + timedelta(minutes=1)))
    youtube.threads[VIDEO][-1]["id"] = "UgzPaused"
    paused = await run(src, ctx, target(), first.cursor)
    assert [m.author.followers for m in paused.mentions] == [None]
    assert len(_channels_asked(api)) == 1
    now[0] += 61
    youtube.threads[VIDEO].append(thread(VIDEO, 1, H0 + timedelta(minutes=2)))
    youtube.threads[VIDEO][-1]["id"] = "UgzResumed"
    resumed = await run(src, ctx, target(), paused.cursor)
    assert [m.author.followers for m in resumed.mentions] == [77]


async def test_a_slow_lookup_is_given_up_and_the_page_kept(
    youtube: YouTube, api: Api, ctx: CollectContext
) -> None:
    """Lookups that outlast their timeout leave the page's comments without followers;
    once the pause is over a quick answer gives the count."""
    youtube.threads = {VIDEO: [thread(VIDEO, 1, H0)]}
    youtube.subscribers = {"UCfan0000000000000000001": 77}
    youtube.channels_delay = 1.0
    now = [1_000.0]
    src = source(api)
    src.reach = ReachCache(timeout=0.1, clock=lambda: now[0])
    first = await run(src, ctx, target())
    assert [m.author.followers for m in first.mentions] == [None]
    youtube.channels_delay = 0.0
    now[0] += 61
    youtube.threads[VIDEO].append(thread(VIDEO, 1, H0 + timedelta(minutes=1)))
    youtube.threads[VIDEO][-1]["id"] = "UgzQuick"
    second = await run(src, ctx, target(), first.cursor)
    assert [m.author.followers for m in second.mentions] == [77]
