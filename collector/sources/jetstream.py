"""Bluesky's Jetstream: the network's new posts as they happen, over a websocket.

API: ``{base_url}/subscribe?wantedCollections=app.bsky.feed.post&cursor={time_us}``
(https://github.com/bluesky-social/jetstream, "Consuming Jetstream"). Each websocket message is
one JSON event ``{"did", "time_us", "kind": "commit" | "identity" | "account", "commit": {"rev",
"operation": "create" | "update" | "delete", "collection", "rkey", "record", "cid"}}``.
``cursor`` is a Unix time in microseconds to replay from (Jetstream keeps about a day of events);
without one the stream starts at the live tail. Compression (zstd) is not requested.

Credentials: none; Jetstream is public.

Paging and cursor: a stream has no pages, so one fetch connects, reads events for at most
``window_seconds`` or ``max_events`` events, and returns the posts created in that time whose
text contains one of the target's terms (case- and width-insensitive; a cheap filter before the
runner applies the brand's full query; a target without terms keeps every post). The cursor is
``{"time_us": the last event's time_us}``; the next fetch reconnects from it less
``overlap_seconds``, as Jetstream's documentation advises for gapless replay (the repeats have
the same ``at://`` id, so the store deduplicates them).
A connection dropped mid-window (an error close such as 1011, a reset) returns what was read
with the cursor of the last event read and ``more`` set, so the runner reconnects at once from
that cursor. A connection dropped before it gave an event newer than the stored cursor (at once,
or while replaying the overlap) raises ``SourceUnavailable``: the runner retries it with
back-off, and a reconnection that keeps failing is recorded as the job's failure, with the
window from the last page saved as not read. So a drop never passes for the end of a run: the
run goes on from the cursor, or fails; it ends as a success only when a window's time is up
with the stream read that far. ``more`` is also True when ``max_events`` cut the window short
(a backlog is waiting). A first run replays from ``target.since`` when given.

One post, one mention: a post is stored as source ``bluesky`` with its ``at://`` URI and its
author's DID, exactly as the ``bluesky`` search source stores it, so whichever path sees it
first stores it and the other finds it there (the search adds its engagement).

Deletions and edits: a ``delete`` of a post goes in ``Page.deleted`` (the store removes the
post wherever it was stored, and keeps it from coming back); an ``update`` that carries a post
record goes in ``Page.edited`` (new text, scored again).

Authors: an event names only the author's DID, so after each window the matching posts'
authors are looked up with ``app.bsky.actor.getProfiles`` at ``profiles_url`` (handle, display
name, follower count; 25 a call, each author kept a day: ``collector.sources._bsky_profiles``)
and built exactly as the search builds them. A lookup that fails leaves the authors as their
DID only, linked by DID, and never fails the page. Engagement is unknown (the post is new), and
an empty engagement never blanks the one the search stored.

Rate limits: Jetstream publishes none for subscribers; a 429 on the handshake is honoured.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import ValidationError

from collector.base import CollectContext, Page, Target
from collector.http import parse_retry_after
from collector.sources._bsky_profiles import Profiles, author, post_url
from collector.sources._time import parse_time as _parse_time
from goodwill.errors import RateLimited, SourceError, SourceUnavailable
from goodwill.models import Mention, normalise_text

__all__ = ["JetstreamSource"]

log = logging.getLogger(__name__)

NAME = "jetstream"
#: The source its posts are stored under: the network's, shared with the search source.
MENTION_SOURCE = "bluesky"
_POST = "app.bsky.feed.post"
_CLOSE_TIMEOUT = 3.0
_DISCONNECTED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


class JetstreamSource:
    """Reads Bluesky's Jetstream for a short window per fetch, keeping posts that name a term.

    Args:
        base_url: the Jetstream instance (``wss://jetstream{1,2}.us-{east,west}.bsky.network``).
        profiles_url: the AppView asked for authors' profiles (``getProfiles``, no login).
        window_seconds: how long one fetch reads the stream.
        max_events: the most events one fetch reads (of every kind); reaching it sets ``more``.
        overlap_seconds: how far before the stored cursor a fetch replays, for gapless playback.
        connect_timeout: how long the websocket handshake may take.
    """

    name = NAME

    def __init__(
        self,
        *,
        base_url: str = "wss://jetstream2.us-east.bsky.network",
        profiles_url: str = "https://public.api.bsky.app",
        window_seconds: float = 20.0,
        max_events: int = 5000,
        overlap_seconds: float = 3.0,
        connect_timeout: float = 15.0,
    ) -> None:
        if not base_url.startswith(("ws://", "wss://")):
            raise ValueError(
                "base_url must be a websocket URL, e.g. wss://jetstream2.us-east.bsky.network"
            )
        if not profiles_url.startswith(("http://", "https://")):
            raise ValueError(
                "profiles_url must be an http(s) URL, e.g. https://public.api.bsky.app"
            )
        if not 0 < window_seconds <= 600:
            raise ValueError("window_seconds is how long one fetch reads, between 0 and 600")
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        if overlap_seconds < 0:
            raise ValueError("overlap_seconds cannot be negative")
        if connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.window_seconds = window_seconds
        self.max_events = max_events
        self.overlap_us = int(overlap_seconds * 1_000_000)
        self.connect_timeout = connect_timeout
        self._profiles = Profiles(profiles_url, NAME)

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """Posts naming a term, read for one window from where the last fetch stopped."""
        if ctx.session is None:
            raise SourceError(f"{NAME}: no HTTP session was given to the collector", source=NAME)
        since = target.since
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        resume = _stored_time(cursor)
        # Dropped before an event later than ``floor``, a fetch read nothing new (None: the
        # live tail, where any event is new).
        floor = resume
        params: dict[str, str | int] = {"wantedCollections": _POST}
        if resume is not None:
            params["cursor"] = max(resume - self.overlap_us, 0)
        elif since is not None:
            resume = int(since.timestamp() * 1_000_000)
            params["cursor"] = resume
            floor = resume - 1
        else:
            # The live tail; should this window see no event, the next fetch replays from here.
            resume = time.time_ns() // 1000
        url = f"{self.base_url}/subscribe"
        try:
            ws = await asyncio.wait_for(
                ctx.session.ws_connect(
                    url, params=params, timeout=aiohttp.ClientWSTimeout(ws_close=_CLOSE_TIMEOUT)
                ),
                timeout=self.connect_timeout,
            )
        except aiohttp.WSServerHandshakeError as error:
            raise _handshake_error(error, url, target.brand) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise SourceUnavailable(
                f"{NAME}: could not connect to {url} ({error.__class__.__name__}: {error})",
                source=NAME,
                brand=target.brand,
                url=url,
            ) from None

        terms = [normalise_text(term) for term in target.terms if term.strip()]
        mentions: list[Mention] = []
        edited: list[Mention] = []
        deleted: list[tuple[str, str]] = []
        unparsed: list[tuple[str, Any]] = []
        last: int | None = None
        events = 0
        dropped: str | None = None
        deadline = asyncio.get_running_loop().time() + self.window_seconds
        async with ws:
            while events < self.max_events:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    message = await ws.receive(timeout=remaining)
                except TimeoutError:
                    break
                except (aiohttp.ClientError, ConnectionError) as error:
                    dropped = f"{error.__class__.__name__}: {error}"
                    break
                if message.type in _DISCONNECTED:
                    dropped = f"closed ({ws.close_code}: {message.extra or message.data or ''})"
                    break
                events += 1
                if message.type is not aiohttp.WSMsgType.TEXT:
                    unparsed.append(("event is not a text frame", repr(message.data)[:2000]))
                    continue
                outcome = _read_event(message.data, target.brand, since, terms)
                if isinstance(outcome, tuple):
                    reason, payload, time_us = outcome
                    unparsed.append((reason, payload))
                elif isinstance(outcome, _Change):
                    time_us = outcome.time_us
                    if outcome.edited is not None:
                        edited.append(outcome.edited)
                    else:
                        deleted.append((MENTION_SOURCE, outcome.uri))
                elif isinstance(outcome, Mention):
                    mentions.append(outcome)
                    time_us = int(outcome.raw["time_us"])
                else:
                    time_us = outcome
                if time_us is not None:
                    last = time_us if last is None else max(last, time_us)
        if dropped is not None:
            if last is None or (floor is not None and last <= floor):
                # Nothing newer than the stored cursor was read (a drop at once, or while
                # replaying the overlap): a failure to retry with back-off, not a page.
                read = "before any event" if events == 0 else "before any new event"
                raise SourceUnavailable(
                    f"{NAME}: {url} dropped the connection {read} ({dropped}); "
                    "the stream is read again from the stored cursor",
                    source=NAME,
                    brand=target.brand,
                    url=url,
                )
            log.info(
                "%s: connection dropped after %d events (%s); reconnecting from the last one",
                NAME,
                events,
                dropped,
            )
        mentions = await self._with_authors(ctx, mentions)
        # Never move the cursor backwards: the overlap replays events before the stored time.
        newest = max(resume, last) if last is not None else resume
        more = events >= self.max_events or dropped is not None
        return Page(
            mentions,
            {"time_us": newest},
            more=more,
            unparsed=unparsed,
            deleted=deleted,
            edited=edited,
        )

    async def _with_authors(self, ctx: CollectContext, mentions: list[Mention]) -> list[Mention]:
        """The mentions with their authors' handle, name and followers, where known."""
        profiles = await self._profiles.lookup(ctx, (m.author.id for m in mentions if m.author.id))
        known = []
        for mention in mentions:
            profile = profiles.get(mention.author.id or "")
            if profile is not None:
                rkey = mention.external_id.rsplit("/", 1)[1]
                mention = mention.model_copy(
                    update={
                        "author": author(
                            profile.did, profile.handle, profile.display_name, profile.followers
                        ),
                        "url": post_url(profile.did, profile.handle, rkey),
                    }
                )
            known.append(mention)
        return known


def _stored_time(cursor: Any) -> int | None:
    if cursor is None:
        return None
    value = cursor.get("time_us") if isinstance(cursor, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    log.warning("%s: stored cursor %r is not one of ours; starting afresh", NAME, cursor)
    return None


def _handshake_error(error: aiohttp.WSServerHandshakeError, url: str, brand: str) -> SourceError:
    said = f"HTTP {error.status}: {error.message}"
    if error.status == 429:
        headers = error.headers
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        wait = retry_after if retry_after is not None else 60.0
        return RateLimited(
            f"{NAME}: {url} refused the connection ({said}); waiting {wait:.0f} s",
            source=NAME,
            brand=brand,
            url=url,
            retry_after=wait,
        )
    if error.status >= 500 or error.status == 200:  # 200: not a websocket endpoint right now
        return SourceUnavailable(
            f"{NAME}: could not connect to {url} ({said})", source=NAME, brand=brand, url=url
        )
    return SourceError(
        f"{NAME}: {url} refused the subscription ({said}); check base_url",
        source=NAME,
        brand=brand,
        url=url,
    )


@dataclass(frozen=True)
class _Change:
    """A post deleted (``edited`` None) or edited (the post with its new text), at ``time_us``."""

    uri: str
    time_us: int
    edited: Mention | None = None


def _read_event(
    data: str, brand: str, since: datetime | None, terms: list[str]
) -> Mention | _Change | int | tuple[str, Any, int | None]:
    """A matching post as a mention; else the event's time_us (kept for the cursor), or why not.

    Returns a Mention, a deletion or an edit of a post, the time_us of an event that is
    skipped, or (reason, payload, time_us) for an event that cannot be read.
    """
    try:
        event = json.loads(data)
    except ValueError:
        return ("event is not JSON", data[:10_000], None)
    if not isinstance(event, dict):
        return ("event is not a JSON object", event, None)
    time_us = event.get("time_us")
    if not isinstance(time_us, int) or isinstance(time_us, bool):
        return ("event has no integer time_us", event, None)
    # Identity and account events, and likes/follows should the server send them, are not posts.
    if event.get("kind") != "commit":
        return time_us
    commit = event.get("commit")
    if not isinstance(commit, dict):
        return ("commit event has no commit object", event, time_us)
    operation = commit.get("operation")
    if commit.get("collection") != _POST or operation not in ("create", "update", "delete"):
        return time_us
    did, rkey, record = event.get("did"), commit.get("rkey"), commit.get("record")
    if operation == "delete":  # no record: the post is gone wherever it was stored
        if isinstance(did, str) and did.startswith("did:") and isinstance(rkey, str) and rkey:
            return _Change(f"at://{did}/{_POST}/{rkey}", time_us)
        return ("delete event has no did or rkey", event, time_us)
    if not isinstance(did, str) or not did.startswith("did:"):
        return ("post event has no did", event, time_us)
    if not isinstance(rkey, str) or not rkey:
        return ("post event has no rkey", event, time_us)
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        return ("post record has no text", event, time_us)
    text: str = record["text"]
    if operation == "create" and terms and not any(term in normalise_text(text) for term in terms):
        return time_us  # an edit is kept whatever it says: the store changes only posts it holds
    created = _parse_time(record.get("createdAt"))
    if created is None:
        return ("post record has no valid createdAt", event, time_us)
    if since is not None and created < since:
        return time_us  # a back-dated post (an import) older than the target's start
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    try:
        mention = Mention(
            source=MENTION_SOURCE,
            external_id=f"at://{did}/{_POST}/{rkey}",
            brand=brand,
            text=text,
            url=post_url(did, None, rkey),
            author=author(did),
            lang=lang,
            created_at=created,
            raw=event,
        )
    except ValidationError as error:
        return (f"post does not fit a mention: {error.errors()[0]['msg']}", event, time_us)
    if operation == "update":
        return _Change(mention.external_id, time_us, edited=mention)
    return mention
