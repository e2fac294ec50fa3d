"""The Jetstream source against a real aiohttp websocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
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


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeJetstream, str]]:
    """A fake Jetstream on a free port, and its ws:// base URL."""
    state = FakeJetstream()
    app = web.Application()
    app.router.add_get("/subscribe", state.subscribe)
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
    source = JetstreamSource(base_url=url, window_seconds=WINDOW)
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
    assert first.url == f"https://bsky.app/profile/{did}/post/{rkey}"
    assert first.author.id == did and first.author.handle is None
    assert first.author.url == f"https://bsky.app/profile/{did}"
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
    page = await JetstreamSource(base_url=url, window_seconds=WINDOW).fetch(
        ctx, Target(BRAND, ("acme corp", "ａｃｍｅ")), None
    )
    assert [m.text for m in page.mentions] == [long, "acme-free zone? no: ａｃｍｅ"]
    assert len(page.mentions[0].text) > 3000


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "cut-connection"])
async def test_a_dropped_connection_resumes_without_loss(
    fake: Any, ctx: CollectContext, abrupt: bool
) -> None:
    """The server drops mid-stream: the page keeps what was read, the next fetch resumes from it."""
    state, url = fake
    state.drop_after, state.abrupt = [17], abrupt
    source = JetstreamSource(base_url=url, window_seconds=WINDOW, overlap_seconds=2)
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
    source = JetstreamSource(base_url=url, window_seconds=5, max_events=12, overlap_seconds=0)
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
    source = JetstreamSource(base_url=url, window_seconds=WINDOW, overlap_seconds=0)
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
    page = await JetstreamSource(base_url=url, window_seconds=WINDOW).fetch(
        ctx, Target(BRAND, TERMS, since), None
    )
    assert state.connections[0]["cursor"] == str(T0 + 10_000_000)
    assert [m.text for m in page.mentions] == ["acme today"]


async def test_a_first_run_without_since_tails_live_and_keeps_a_cursor(
    fake: Any, ctx: CollectContext
) -> None:
    """With neither cursor nor since there is no cursor parameter, and the page still has one."""
    state, url = fake
    state.events = []
    page = await JetstreamSource(base_url=url, window_seconds=WINDOW).fetch(
        ctx, Target(BRAND, TERMS), None
    )
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
    page = await JetstreamSource(base_url=url, window_seconds=WINDOW, overlap_seconds=0).fetch(
        ctx, Target(BRAND, TERMS), {"time_us": T0}
    )
    assert [m.text for m in page.mentions] == ["acme one", "acme five"]
    assert [reason for reason, _ in page.unparsed] == [
        "event is not JSON",
        "event has no integer time_us",
        "post record has no text",
        "post record has no valid createdAt",
    ]
    assert page.cursor == {"time_us": T0 + 5}


async def test_the_cursor_never_moves_back_into_the_overlap(fake: Any, ctx: CollectContext) -> None:
    """A drop while replaying the overlap keeps the stored cursor, not the older replayed time."""
    state, url = fake
    state.drop_after = [1]
    source = JetstreamSource(base_url=url, window_seconds=WINDOW, overlap_seconds=3)
    page = await source.fetch(ctx, Target(BRAND, TERMS), {"time_us": T0 + 10_000_000})
    assert page.cursor == {"time_us": T0 + 10_000_000}


async def test_a_drop_before_any_event_is_unavailable(fake: Any, ctx: CollectContext) -> None:
    """A server that closes at once is SourceUnavailable (retried), not an empty success."""
    state, url = fake
    state.drop_after = [0]
    with pytest.raises(SourceUnavailable, match="dropped"):
        await JetstreamSource(base_url=url, window_seconds=WINDOW).fetch(
            ctx, Target(BRAND, TERMS), {"time_us": T0}
        )


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
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any]) -> None:
    """A non-websocket URL or a non-positive window, event cap or timeout is a ValueError."""
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
    job = Job(BRAND, JetstreamSource(base_url=url, window_seconds=WINDOW), 60, terms=TERMS)
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
    job = Job(BRAND, JetstreamSource(base_url=url, window_seconds=WINDOW), 60, terms=TERMS)
    stamina.set_testing(True, attempts=2)
    try:
        result = await Runner(store, [job], ctx.session).run_job(job.id)
    finally:
        stamina.set_testing(False)
    assert result.error is not None and "503" in result.error
    assert result.inserted == 4  # what was read before the drop is kept
    cursor = await store.cursors.get(BRAND, "jetstream")
    assert len(cursor.gaps) == 1 and "503" in cursor.gaps[0]["reason"]
