"""One Bluesky post, one mention: the search and the firehose store the same post as one.

A real aiohttp server on 127.0.0.1 plays Bluesky's public AppView (``searchPosts``,
``getProfiles``) and Jetstream (``/subscribe``, a real websocket); the runner stores what the
``bluesky`` and ``jetstream`` sources fetch in the real MongoDB-protocol store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from collector.runner import Job, Runner
from collector.sources.bluesky import BlueskySource
from collector.sources.jetstream import JetstreamSource
from config.query import Query
from store import Database

DID = "did:plc:vwzwgnygau7ed7b7wt5ux7y2"
HANDLE = "maria.bsky.social"
RKEY = "3lbg6k3v7ss2c"
URI = f"at://{DID}/app.bsky.feed.post/{RKEY}"
TEXT = "Switched from Acme to Globex: Globex support answered in minutes"
CREATED = "2026-12-01T09:30:12.345Z"
T0 = 1_796_117_412_600_000  # 2026-12-01 09:30:12.6 UTC, in microseconds
BRANDS = {"Acme": "acme", "Globex": "globex"}


def _post_view() -> dict[str, Any]:
    """The post as app.bsky.feed.searchPosts gives it (app.bsky.feed.defs#postView)."""
    return {
        "uri": URI,
        "cid": "bafyreigh7yods3ndrsxrhkjl5ay4fbxdfkz2sdybvnjlylsrj4mb2bp7pu",
        "author": {"did": DID, "handle": HANDLE, "displayName": "María 🌻", "labels": []},
        "record": {
            "$type": "app.bsky.feed.post",
            "createdAt": CREATED,
            "langs": ["en"],
            "text": TEXT,
        },
        "replyCount": 1,
        "repostCount": 3,
        "likeCount": 12,
        "quoteCount": 0,
        "indexedAt": "2026-12-01T09:30:13.001Z",
        "labels": [],
    }


def _commit(operation: str, time_us: int, text: str | None = None) -> dict[str, Any]:
    """A Jetstream commit event on the post (github.com/bluesky-social/jetstream, README)."""
    commit: dict[str, Any] = {
        "rev": f"3lbg6k3vbcs2{operation[0]}",
        "operation": operation,
        "collection": "app.bsky.feed.post",
        "rkey": RKEY,
    }
    if text is not None:
        commit["record"] = {
            "$type": "app.bsky.feed.post",
            "createdAt": CREATED,
            "langs": ["en"],
            "text": text,
        }
        commit["cid"] = "bafyreigh7yods3ndrsxrhkjl5ay4fbxdfkz2sdybvnjlylsrj4mb2bp7pu"
    return {"did": DID, "time_us": time_us, "kind": "commit", "commit": commit}


@dataclass
class FakeBluesky:
    """The AppView's searchPosts and getProfiles, and Jetstream's subscribe, on one server."""

    posts: list[dict[str, Any]] = field(default_factory=lambda: [_post_view()])
    events: list[dict[str, Any]] = field(default_factory=list)
    profile_calls: list[list[str]] = field(default_factory=list)

    async def search(self, request: web.Request) -> web.Response:
        needle = request.query["q"].strip('"').casefold()
        found = [p for p in self.posts if needle in p["record"]["text"].casefold()]
        return web.json_response({"posts": found, "hitsTotal": len(found)})

    async def get_profiles(self, request: web.Request) -> web.Response:
        actors = request.query.getall("actors", [])
        self.profile_calls.append(actors)
        profiles = [
            {
                "did": DID,
                "handle": HANDLE,
                "displayName": "María 🌻",
                "followersCount": 1_234,
                "followsCount": 56,
                "postsCount": 789,
                "indexedAt": "2026-11-30T08:00:00.000Z",
                "labels": [],
            }
        ]
        return web.json_response({"profiles": [p for p in profiles if p["did"] in actors]})

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for event in self.events:
            await ws.send_str(json.dumps(event))
        async for _ in ws:  # until the client closes; answers its close frame
            pass
        return ws


@pytest.fixture
async def bluesky() -> AsyncIterator[tuple[FakeBluesky, int]]:
    """The fake Bluesky on a free port, and its port."""
    state = FakeBluesky()
    app = web.Application()
    app.router.add_get("/xrpc/app.bsky.feed.searchPosts", state.search)
    app.router.add_get("/xrpc/app.bsky.actor.getProfiles", state.get_profiles)
    app.router.add_get("/subscribe", state.subscribe)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, port
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The process's one HTTP session."""
    async with aiohttp.ClientSession() as opened:
        yield opened


def _runner(store: Database, session: aiohttp.ClientSession, port: int) -> Runner:
    """Both Bluesky paths for both brands, as a watch list naming them would give."""
    search = BlueskySource(base_url=f"http://127.0.0.1:{port}", pds_url=f"http://127.0.0.1:{port}")
    stream = JetstreamSource(
        base_url=f"ws://127.0.0.1:{port}",
        profiles_url=f"http://127.0.0.1:{port}",
        window_seconds=0.3,
    )
    jobs = [
        Job(brand, source, 60, terms=(term,), query=Query.parse(f'"{term}"'))
        for brand, term in BRANDS.items()
        for source in (search, stream)
    ]
    return Runner(store, jobs, session, budgets={})


async def _run(runner: Runner, source: str) -> None:
    for brand in BRANDS:
        result = await runner.run_job(f"{source}:{brand}")
        assert result.error is None, result.error


async def _stored(store: Database) -> list[dict[str, Any]]:
    found = store.collection("mentions").find({}, {"_id": 0})
    return sorted([doc async for doc in found], key=lambda doc: doc["brand"])


@pytest.mark.parametrize("first", ["bluesky", "jetstream"], ids=["search-first", "stream-first"])
async def test_a_post_seen_by_search_and_stream_is_one_mention_per_brand(
    bluesky: Any, session: aiohttp.ClientSession, store: Database, first: str
) -> None:
    """Whichever path sees it first, the post is one mention per brand it names, as source
    ``bluesky``, its author one identity (DID, handle, followers), with the search's engagement;
    Jetstream's update gives both the new text, its delete removes both, for good."""
    state, port = bluesky
    state.events = [_commit("create", T0, TEXT)]
    runner = _runner(store, session, port)
    await _run(runner, first)
    await _run(runner, "jetstream" if first == "bluesky" else "bluesky")

    stored = await _stored(store)
    assert [(d["brand"], d["source"], d["external_id"]) for d in stored] == [
        ("Acme", "bluesky", URI),
        ("Globex", "bluesky", URI),
    ]
    for doc in stored:
        assert doc["engagement"] == {"likes": 12, "reposts": 3, "replies": 1, "quotes": 0}
        assert doc["author"] == {
            "id": DID,
            "handle": HANDLE,
            "display_name": "María 🌻",
            "followers": 1_234,
            "url": f"https://bsky.app/profile/{HANDLE}",
        }
        assert doc["url"] == f"https://bsky.app/profile/{HANDLE}/post/{RKEY}"
        assert doc["text"] == TEXT
    # The author is looked up once per source (its cache), not once per job run or page.
    assert state.profile_calls == [[DID], [DID]]

    # The stream's edit reaches both brands' mentions, whichever path stored them ...
    edited = "Switched from Acme to Globex: Globex support never answered, refund please"
    state.events = [_commit("update", T0 + 60_000_000, edited)]
    await _run(runner, "jetstream")
    assert [doc["text"] for doc in await _stored(store)] == [edited, edited]

    # ... and its delete removes them all: the post is gone for every brand.
    state.events = [_commit("delete", T0 + 120_000_000)]
    result = await runner.run_job("jetstream:Acme")
    assert result.error is None
    assert await _stored(store) == []

    await _run(runner, "bluesky")  # the search index still lists it for a while
    assert await _stored(store) == []
