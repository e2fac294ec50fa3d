"""The Jetstream source against a real aiohttp websocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import stamina
from aiohttp import web

from collector.base import CollectContext, Target
from collector.runner import Job, Runner
from collector.sources.jetstream import JetstreamSource
from goodwill.errors import RateLimited, SourceError, SourceUnavailable
from goodwill.models import Author
from store import Database
from tests.conftest import free_port

BRAND = "Acme"
TERMS = ("acme", "acme corp")
T0 = 1_795_000_000_000_000  # 2026-11-18, in microseconds
WINDOW = 0.3


def _iso(time_us: int) -> str:
    when = datetime.fromtimestamp(time_us / 1_000_000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _create(number: int, time_us: int, text: str, **record: Any) -> dict[str, Any]:
    """A post create as Jetstream sends it (github.com/bluesky-social/jetstream, README)."""
    return {
        "did": f"did:plc:author{number:018d}",
        "time_us": time_us,
        "kind": "commit",
        "commit": {
            "rev": f"3l3qo2vutsw{number:02d}",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": f"3l3qo2vuowo{number:02d}",
            "record": {
                "$type": "app.bsky.feed.post",
                "createdAt": _iso(time_us - 250_000),
                "langs": ["en"],
                "text": text,
                **record,
            },
            "cid": f"bafyreidc6sydkkbchcyg62v77wbhzvb2mvytlmsychqgwf2xojjtirmz{number:02d}",
        },
    }


def _stream() -> list[dict[str, Any] | str]:
    """A stream of 40 events: matching posts, other posts, deletes, identity and account events."""
    events: list[dict[str, Any] | str] = []
    for n in range(40):
        time_us = T0 + n * 1_000_000
        kind = n % 5
        if kind == 0:
            events.append(_create(n, time_us, f"Loving my new ACME rocket #{n} 🚀 — ça marche"))
        elif kind == 1:
            events.append(_create(n, time_us, f"nothing to see here {n}"))
        elif kind == 2:
            events.append(
                {
                    "did": f"did:plc:author{n:018d}",
                    "time_us": time_us,
                    "kind": "commit",
                    "commit": {
                        "rev": "3l3f6nzl3cv2s",
                        "operation": "delete",
                        "collection": "app.bsky.feed.post",
                        "rkey": "3l3f6nzl3cv2s",
                    },
                }
            )
        elif kind == 3:
            events.append(
                {
                    "did": f"did:plc:author{n:018d}",
                    "time_us": time_us,
                    "kind": "identity",
                    "identity": {
                        "did": f"did:plc:author{n:018d}",
                        "handle": f"someone{n}.bsky.social",
                        "seq": 1409752997 + n,
                        "time": _iso(time_us),
                    },
                }
            )
        else:
            events.append(
                {
                    "did": f"did:plc:author{n:018d}",
                    "time_us": time_us,
                    "kind": "account",
                    "account": {
                        "active": True,
                        "did": f"did:plc:author{n:018d}",
                        "seq": 1409753013 + n,
                        "time": _iso(time_us),
                    },
                }
            )
    return events


@dataclass
class FakeJetstream:
    """Streams ``events`` from the cursor a client asks for, like Jetstream's /subscribe."""

    events: list[dict[str, Any] | str] = field(default_factory=_stream)
    drop_after: list[int] = field(default_factory=list)  # per connection: close after N events
    abrupt: bool = False  # drop by cutting the TCP connection instead of a close frame
    close_code: int = aiohttp.WSCloseCode.GOING_AWAY
    refuse_from: int | None = None  # connections from this number on get HTTP 503
    delay: float = 0.0  # between events
    connections: list[dict[str, str]] = field(default_factory=list)
    # getProfiles: every DID named has a profile unless listed in ``gone``.
    gone: set[str] = field(default_factory=set)
    profiles_canned: list[web.Response] = field(default_factory=list)
    profiles_delay: float = 0.0
    profile_calls: list[list[str]] = field(default_factory=list)

    async def get_profiles(self, request: web.Request) -> web.Response:
        """app.bsky.actor.getProfiles: profileViewDetailed of each actor, gone accounts left out."""
        actors = request.query.getall("actors", [])
        self.profile_calls.append(actors)
        await asyncio.sleep(self.profiles_delay)
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
        return web.json_response(
            {"profiles": [_profile_view(did) for did in actors if did not in self.gone]}
        )

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_from is not None and len(self.connections) >= self.refuse_from:
            self.connections.append(dict(request.query))
            return web.Response(status=503, text="overloaded")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections.append(dict(request.query))
        cursor = int(request.query.get("cursor", "0"))
        drop = self.drop_after.pop(0) if self.drop_after else None

        async def send() -> None:
            sent = 0
            for event in self.events:
                if isinstance(event, dict) and event.get("time_us", cursor) < cursor:
                    continue
                if drop is not None and sent == drop:
                    if self.abrupt:
                        assert request.transport is not None
                        request.transport.abort()
                    else:
                        await ws.close(code=self.close_code, message=b"restarting")
                    return
                await ws.send_str(event if isinstance(event, str) else json.dumps(event))
                sent += 1
                if self.delay:
                    await asyncio.sleep(self.delay)

        sender = asyncio.create_task(send())
        async for _ in ws:  # until the client closes; answers its close frame
            pass
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        return ws


def _profile_view(did: str) -> dict[str, Any]:
    """A profileViewDetailed as the AppView gives it (app.bsky.actor.defs), for an author here."""
    number = int(did.rsplit("author", 1)[1]) if "author" in did else 0
    return {
        "did": did,
        "handle": f"someone{number}.bsky.social",
        "displayName": f"Someone {number} 🦋",
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkrei{number:06d}@jpeg",
        "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
        "indexedAt": "2026-11-01T10:00:00.000Z",
        "createdAt": "2024-02-01T10:00:00.000Z",
        "description": "",
        "followersCount": 100 * number + 7,
        "followsCount": 12,
        "postsCount": 340,
        "labels": [],
    }


def _source(url: str, **params: Any) -> JetstreamSource:
    """A source on the fake, asking the same server for profiles."""
    params.setdefault("window_seconds", WINDOW)
    return JetstreamSource(base_url=url, profiles_url=url.replace("ws://", "http://"), **params)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeJetstream, str]]:
    """A fake Jetstream (and AppView for getProfiles) on a free port, and its ws:// base URL."""
    state = FakeJetstream()
    app = web.Application()
    app.router.add_get("/subscribe", state.subscribe)
    app.router.add_get("/xrpc/app.bsky.actor.getProfiles", state.get_profiles)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"ws://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def ctx() -> AsyncIterator[CollectContext]:
    """A context with one real client session."""
    async with aiohttp.ClientSession() as session:
        yield CollectContext(session=session)


def _matching(events: list[dict[str, Any] | str]) -> set[str]:
    return {
        f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}"
        for e in events
        if isinstance(e, dict)
        and e["kind"] == "commit"
        and "acme" in e["commit"].get("record", {}).get("text", "").casefold()
    }


async def test_post_creates_naming_a_term_become_mentions(fake: Any, ctx: CollectContext) -> None:
    """Matching creates are mapped; other posts, deletes, identity and account events are skipped."""
    state, url = fake
    source = _source(url)
    page = await source.fetch(ctx, Target(BRAND, TERMS), {"time_us": T0})
    assert {m.external_id for m in page.mentions} == _matching(state.events)
    assert len(page.mentions) == 8 and page.unparsed == [] and page.more is False
    deletes = [
        e
        for e in state.events
        if isinstance(e, dict) and e.get("commit", {}).get("operation") == "delete"
    ]
    assert page.deleted == [
        ("bluesky", f"at://{e['did']}/app.bsky.feed.post/{e['commit']['rkey']}") for e in deletes
    ]
    first = page.mentions[0]
    event = state.events[0]
    assert isinstance(event, dict)
    did, rkey = event["did"], event["commit"]["rkey"]
    assert first.source == "bluesky" and first.brand == BRAND  # one post, one mention (#15)
    assert first.external_id == f"at://{did}/app.bsky.feed.post/{rkey}"
    assert first.text == "Loving my new ACME rocket #0 🚀 — ça marche"
    # The author as the search gives it: DID, handle, name, and followers from getProfiles.
    assert first.url == f"https://bsky.app/profile/someone0.bsky.social/post/{rkey}"
    assert first.author.model_dump() == {
        "id": did,
        "handle": "someone0.bsky.social",
        "display_name": "Someone 0 🦋",
        "followers": 7,
        "url": "https://bsky.app/profile/someone0.bsky.social",
    }
    assert first.lang == "en"
    assert first.created_at == datetime.fromtimestamp((T0 - 250_000) / 1_000_000, UTC)
    assert first.raw == event and first.engagement == {}
    # The cursor is the last event's time, even though that event (an account event) was skipped.
    assert page.cursor == {"time_us": T0 + 39_000_000}
    assert state.connections == [
        {"wantedCollections": "app.bsky.feed.post", "cursor": str(T0 - 3_000_000)}
    ]


async def test_a_long_text_and_a_phrase_term_match_case_insensitively(
    fake: Any, ctx: CollectContext
) -> None:
    """The prefilter ignores case and Unicode width; a 3000-character post is kept whole."""
    state, url = fake
    long = "ｱ " + "Ünïcödé 👩‍👩‍👧 " * 250 + " ACME   CORP rules"
    state.events = [_create(1, T0, long), _create(2, T0 + 1, "acme-free zone? no: ａｃｍｅ")]
    page = await _source(url).fetch(ctx, Target(BRAND, ("acme corp", "ａｃｍｅ")), None)
    assert [m.text for m in page.mentions] == [long, "acme-free zone? no: ａｃｍｅ"]
    assert len(page.mentions[0].text) > 3000


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "cut-connection"])
async def test_a_dropped_connection_resumes_without_loss(
    fake: Any, ctx: CollectContext, abrupt: bool
) -> None:
    """The server drops mid-stream: the page keeps what was read, the next fetch resumes from it."""
    state, url = fake
    state.drop_after, state.abrupt = [17], abrupt
    source = _source(url, overlap_seconds=2)
    target = Target(BRAND, TERMS)
    first = await source.fetch(ctx, target, {"time_us": T0})
    assert first.cursor == {"time_us": T0 + 16_000_000}  # the 17th event
    assert len(first.mentions) == 4  # events 0, 5, 10, 15
    assert first.more is True  # the runner reconnects at once from the cursor
    second = await source.fetch(ctx, target, json.loads(json.dumps(first.cursor)))
    assert state.connections[1]["cursor"] == str(T0 + 14_000_000)
    collected = {m.external_id for m in first.mentions + second.mentions}
    assert collected == _matching(state.events)
    # The overlap's repeat (event 15) has the same id, so the store deduplicates it.
    assert len(first.mentions) + len(second.mentions) == 9
    assert second.cursor == {"time_us": T0 + 39_000_000}


async def test_max_events_ends_the_fetch_and_says_more(fake: Any, ctx: CollectContext) -> None:
    """After max_events the fetch returns with more=True and the next one carries on."""
    state, url = fake
    source = _source(url, window_seconds=5, max_events=12, overlap_seconds=0)
    target = Target(BRAND, TERMS)
    page = await source.fetch(ctx, target, {"time_us": T0})
    assert page.more is True and page.cursor == {"time_us": T0 + 11_000_000}
    assert len(page.mentions) == 3  # events 0, 5, 10
    follow = await source.fetch(ctx, target, page.cursor)
    assert state.connections[1]["cursor"] == str(T0 + 11_000_000)
    assert {m.external_id for m in follow.mentions} >= {
        f"at://did:plc:author{15:018d}/app.bsky.feed.post/3l3qo2vuowo15"
    }


async def test_the_window_ends_a_fetch_on_a_slow_stream(fake: Any, ctx: CollectContext) -> None:
    """A stream that trickles events is read for window_seconds, then the fetch returns."""
    state, url = fake
    state.delay = 0.05
    source = _source(url, overlap_seconds=0)
    page = await source.fetch(ctx, Target(BRAND, TERMS), {"time_us": T0})
    read = (page.cursor["time_us"] - T0) // 1_000_000 + 1
    assert 1 <= read < 40 and page.more is False
    assert {m.external_id for m in page.mentions} <= _matching(state.events)


async def test_since_is_the_first_runs_replay_point(fake: Any, ctx: CollectContext) -> None:
    """A first run replays from target.since; back-dated posts older than since are skipped."""
    state, url = fake
    state.events = [
        _create(1, T0 + 20_000_000, "acme import", createdAt="2019-05-01T10:00:00.000Z"),
        _create(2, T0 + 21_000_000, "acme today"),
    ]
    since = datetime.fromtimestamp(T0 / 1_000_000, UTC) + timedelta(seconds=10)
    page = await _source(url).fetch(ctx, Target(BRAND, TERMS, since), None)
    assert state.connections[0]["cursor"] == str(T0 + 10_000_000)
    assert [m.text for m in page.mentions] == ["acme today"]


async def test_a_first_run_without_since_tails_live_and_keeps_a_cursor(
    fake: Any, ctx: CollectContext
) -> None:
    """With neither cursor nor since there is no cursor parameter, and the page still has one."""
    state, url = fake
    state.events = []
    page = await _source(url).fetch(ctx, Target(BRAND, TERMS), None)
    assert state.connections == [{"wantedCollections": "app.bsky.feed.post"}]
    assert page.mentions == [] and page.cursor["time_us"] > T0


async def test_malformed_events_are_unparsed_and_the_rest_kept(
    fake: Any, ctx: CollectContext
) -> None:
    """Events that are not JSON, lack time_us, text or a valid date go to unparsed with a reason."""
    state, url = fake
    no_text = _create(3, T0 + 3, "acme")
    del no_text["commit"]["record"]["text"]
    state.events = [
        _create(1, T0 + 1, "acme one"),
        '{"did": "did:plc:x", "time_us": 17',
        {"did": "did:plc:x", "kind": "commit"},
        no_text,
        _create(4, T0 + 4, "acme bad date", createdAt="last tuesday"),
        _create(5, T0 + 5, "acme five"),
    ]
    page = await _source(url, overlap_seconds=0).fetch(ctx, Target(BRAND, TERMS), {"time_us": T0})
    assert [m.text for m in page.mentions] == ["acme one", "acme five"]
    assert [reason for reason, _ in page.unparsed] == [
        "event is not JSON",
        "event has no integer time_us",
        "post record has no text",
        "post record has no valid createdAt",
    ]
    assert page.cursor == {"time_us": T0 + 5}


async def test_the_cursor_never_moves_back_into_the_overlap(fake: Any, ctx: CollectContext) -> None:
    """A window that reads only the overlap's replay keeps the stored cursor, not an older time."""
    state, url = fake
    state.events = [_create(1, T0 + 8_000_000, "acme"), _create(2, T0 + 9_000_000, "acme")]
    source = _source(url, overlap_seconds=3)
    page = await source.fetch(ctx, Target(BRAND, TERMS), {"time_us": T0 + 10_000_000})
    assert state.connections[0]["cursor"] == str(T0 + 7_000_000)
    assert len(page.mentions) == 2 and page.more is False
    assert page.cursor == {"time_us": T0 + 10_000_000}


async def test_a_drop_while_replaying_the_overlap_is_unavailable(
    fake: Any, ctx: CollectContext
) -> None:
    """Dropped before any event newer than the cursor: SourceUnavailable (retried with back-off),
    not a page whose ``more`` has the runner reconnect at once and forever."""
    state, url = fake
    state.drop_after, state.close_code = [1], aiohttp.WSCloseCode.INTERNAL_ERROR
    source = _source(url, overlap_seconds=3)
    with pytest.raises(SourceUnavailable, match=r"before any new event \(closed \(1011"):
        await source.fetch(ctx, Target(BRAND, TERMS), {"time_us": T0 + 10_000_000})


async def test_a_drop_before_any_event_is_unavailable(fake: Any, ctx: CollectContext) -> None:
    """A server that closes at once is SourceUnavailable (retried), not an empty success."""
    state, url = fake
    state.drop_after = [0]
    with pytest.raises(SourceUnavailable, match="dropped"):
        await _source(url).fetch(ctx, Target(BRAND, TERMS), {"time_us": T0})


async def test_no_server_is_unavailable(ctx: CollectContext) -> None:
    """A refused connection raises SourceUnavailable."""
    source = JetstreamSource(base_url=f"ws://127.0.0.1:{free_port()}", window_seconds=WINDOW)
    with pytest.raises(SourceUnavailable, match="could not connect"):
        await source.fetch(ctx, Target(BRAND, TERMS), None)


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, SourceUnavailable), (429, RateLimited), (400, SourceError)],
)
async def test_a_refused_handshake_maps_to_the_right_error(
    ctx: CollectContext, status: int, error: type[Exception]
) -> None:
    """HTTP 5xx on the upgrade is unavailable, 429 waits its Retry-After, other 4xx is an error."""

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=status, text="no", headers={"Retry-After": "9"})

    app = web.Application()
    app.router.add_get("/subscribe", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        source = JetstreamSource(base_url=f"ws://127.0.0.1:{port}", window_seconds=WINDOW)
        with pytest.raises(error) as caught:
            await source.fetch(ctx, Target(BRAND, TERMS), None)
    finally:
        await runner.cleanup()
    assert type(caught.value) is error
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 9


@pytest.mark.parametrize(
    "params",
    [
        {"base_url": "https://jetstream2.us-east.bsky.network"},
        {"window_seconds": 0},
        {"max_events": 0},
        {"overlap_seconds": -1},
        {"connect_timeout": 0},
        {"profiles_url": "wss://public.api.bsky.app"},
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any]) -> None:
    """A non-websocket URL, a profiles URL not http(s), a non-positive window, event cap or
    timeout is a ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        JetstreamSource(**params)


def _deletion(number: int, time_us: int) -> dict[str, Any]:
    created = _create(number, 0, "")
    return {
        "did": created["did"],
        "time_us": time_us,
        "kind": "commit",
        "commit": {"rev": "x", "operation": "delete", "collection": "app.bsky.feed.post",
                   "rkey": created["commit"]["rkey"]},
    }  # fmt: skip


async def test_a_backfill_dropped_with_1011_reconnects_and_reads_the_whole_window(
    fake: Any, ctx: CollectContext, store: Database
) -> None:
    """Error 1011 mid-backfill: the runner reconnects from the cursor and reads the rest;
    a post deleted later in the stream leaves the store."""
    state, url = fake
    state.events = [*state.events, _deletion(0, T0 + 45_000_000)]
    state.drop_after, state.close_code = [17], aiohttp.WSCloseCode.INTERNAL_ERROR
    job = Job(BRAND, _source(url), 60, terms=TERMS)
    result = await Runner(store, [job], ctx.session).run_job(
        job.id, since=datetime.fromtimestamp(T0 / 1_000_000, UTC)
    )
    assert result.error is None and len(state.connections) >= 2
    stored = {doc["external_id"] async for doc in store.collection("mentions").find({})}
    first = f"at://did:plc:author{0:018d}/app.bsky.feed.post/3l3qo2vuowo00"
    assert stored == _matching(state.events) - {first}
    assert {doc["source"] async for doc in store.collection("mentions").find({})} == {"bluesky"}


async def test_a_reconnection_that_fails_is_a_window_not_read(
    fake: Any, ctx: CollectContext, store: Database
) -> None:
    """The stream drops and will not take the reconnection: the run fails and says what is unread."""
    state, url = fake
    state.drop_after, state.close_code = [17], aiohttp.WSCloseCode.INTERNAL_ERROR
    state.refuse_from = 1
    job = Job(BRAND, _source(url), 60, terms=TERMS)
    stamina.set_testing(True, attempts=2)
    try:
        result = await Runner(store, [job], ctx.session).run_job(job.id)
    finally:
        stamina.set_testing(False)
    assert result.error is not None and "503" in result.error
    assert result.inserted == 4  # what was read before the drop is kept
    cursor = await store.cursors.get(BRAND, "jetstream")
    assert len(cursor.gaps) == 1 and "503" in cursor.gaps[0]["reason"]


async def test_authors_are_looked_up_25_at_a_time_and_kept_a_day(
    fake: Any, ctx: CollectContext
) -> None:
    """A window's authors are asked of getProfiles at most 25 a call, then not again for a day;
    an account the AppView leaves out (gone) stays its DID, linked by DID."""
    state, url = fake
    state.events = [_create(n, T0 + n, f"acme {n}") for n in range(1, 31)]
    gone = f"did:plc:author{30:018d}"
    state.gone = {gone}
    source = _source(url, overlap_seconds=0)
    now = [1_000.0]
    source._profiles.clock = lambda: now[0]
    target = Target(BRAND, TERMS)
    page = await source.fetch(ctx, target, {"time_us": T0})
    assert [len(call) for call in state.profile_calls] == [25, 5]
    authors = {m.author.id: m.author for m in page.mentions}
    assert len(authors) == 30
    first = f"did:plc:author{1:018d}"
    assert authors[first].followers == 107 and authors[first].handle == "someone1.bsky.social"
    assert authors[gone] == Author(id=gone, url=f"https://bsky.app/profile/{gone}")
    gone_post = next(m for m in page.mentions if m.author.id == gone)
    assert gone_post.url == f"https://bsky.app/profile/{gone}/post/3l3qo2vuowo30"

    await source.fetch(ctx, target, {"time_us": T0})  # the same authors, within the day
    assert len(state.profile_calls) == 2
    now[0] += 86_400 + 1
    again = await source.fetch(ctx, target, {"time_us": T0})
    assert [len(call) for call in state.profile_calls[2:]] == [25, 5]
    assert {m.author.id: m.author for m in again.mentions}[first].followers == 107


@pytest.mark.parametrize(
    "failure",
    ["http-500", "rate-limited", "html-page", "no-profiles-list", "too-slow"],
)
async def test_a_failed_profile_lookup_never_fails_the_page(
    fake: Any, ctx: CollectContext, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    """The page is stored without followers, the failure logged at debug level; lookups pause,
    then resume and fill the followers in."""
    state, url = fake
    state.events = [_create(1, T0 + 1, "acme one"), _create(2, T0 + 2, "acme two")]
    state.profiles_canned = {
        "http-500": [web.Response(status=500, text="upstream failed")],
        "rate-limited": [web.Response(status=429, headers={"Retry-After": "120"})],
        "html-page": [web.Response(text="<html>sign in to the proxy</html>")],
        "no-profiles-list": [web.json_response({"error": "nope"})],
        "too-slow": [],
    }[failure]
    if failure == "too-slow":
        state.profiles_delay = 1.0
    source = _source(url, overlap_seconds=0)
    source._profiles.timeout = 0.3
    now = [1_000.0]
    source._profiles.clock = lambda: now[0]
    target = Target(BRAND, TERMS)
    caplog.set_level(logging.DEBUG, logger="collector.sources._bsky_profiles")

    page = await source.fetch(ctx, target, {"time_us": T0})
    assert len(state.profile_calls) == 1
    assert [m.text for m in page.mentions] == ["acme one", "acme two"]
    assert all(m.author.followers is None and m.author.handle is None for m in page.mentions)
    assert page.unparsed == []
    [record] = [r for r in caplog.records if r.name == "collector.sources._bsky_profiles"]
    assert record.levelno == logging.DEBUG and "stored without followers" in record.getMessage()

    await source.fetch(ctx, target, {"time_us": T0})  # within the pause: not asked again
    assert len(state.profile_calls) == 1
    state.profiles_delay = 0.0
    now[0] += 121
    later = await source.fetch(ctx, target, {"time_us": T0})
    assert len(state.profile_calls) == 2
    assert [m.author.followers for m in later.mentions] == [107, 207]


async def test_a_stream_that_keeps_dropping_before_new_events_fails_the_run(
    fake: Any, ctx: CollectContext, store: Database
) -> None:
    """After a drop, reconnections that drop again while replaying the overlap are retried with
    back-off and then fail the run, with the window from the last page saved not read; the run
    does not spin through reconnections and end as a success."""
    state, url = fake
    state.drop_after = [17, *[1] * 60]
    state.close_code = aiohttp.WSCloseCode.INTERNAL_ERROR
    job = Job(BRAND, _source(url, overlap_seconds=3), 60, terms=TERMS)
    stamina.set_testing(True, attempts=3)
    try:
        result = await Runner(store, [job], ctx.session, budgets={}).run_job(
            job.id, since=datetime.fromtimestamp(T0 / 1_000_000, UTC)
        )
    finally:
        stamina.set_testing(False)
    assert result.error is not None
    assert "dropped the connection before any new event" in result.error and "1011" in result.error
    # What was read before the drop is kept: events 5, 10, 15 (event 0 was written before since).
    assert result.pages == 1 and result.inserted == 3
    assert len(state.connections) == 1 + 3
    assert all(c["cursor"] == str(T0 + 13_000_000) for c in state.connections[1:])
    cursor = await store.cursors.get(BRAND, "jetstream/backfill")
    assert cursor.cursor == {"time_us": T0 + 16_000_000}
    assert len(cursor.gaps) == 1
