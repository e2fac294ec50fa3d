"""YouTube: comments on chosen videos and channels, and on videos found for the brand's terms.

API: YouTube Data API v3 (https://developers.google.com/youtube/v3/docs).

* ``GET /youtube/v3/commentThreads?part=snippet&videoId=ID`` (or
  ``allThreadsRelatedToChannelId=ID``) ``&order=time&maxResults=100&textFormat=plainText
  &pageToken=..&key=KEY`` (https://developers.google.com/youtube/v3/docs/commentThreads/list):
  top-level comments, newest first, with ``nextPageToken`` for older ones. 1 quota unit.
* With ``search = true``: ``GET /youtube/v3/search?part=snippet&type=video&q=TERMS
  &order=date&publishedAfter=..&maxResults=50&key=KEY``
  (https://developers.google.com/youtube/v3/docs/search/list) finds recent videos for the
  brand's terms (OR'ed with ``|``), whose comments are then followed for
  ``search_days`` days. 100 quota units, so it runs at most every
  ``search_interval_hours``.
* ``GET /youtube/v3/channels?part=statistics&id=ID1,ID2,..&maxResults=50&key=KEY``
  (https://developers.google.com/youtube/v3/docs/channels/list): the subscriber counts
  (``statistics.subscriberCount``; none where ``hiddenSubscriberCount``) of the comments'
  authors, up to 50 channels a request, 1 quota unit. Each author is looked up at most
  once a day (a cache in the source); a failed lookup never fails the page: its comments
  are kept without the count.

Owned channels: ``owned_channel_ids`` names the brand's own channels. Their threads
(``allThreadsRelatedToChannelId``: comments on the channel and on its videos) are read like
``channel_ids``, and every comment on the brand's own channel or videos, however it was
found (``snippet.channelId``), is marked ``owned``: it is about the brand whatever its
words, so the brand's query does not filter it.

Credentials: an API key, required (``GOODWILL_YOUTUBE_API_KEY``): in the Google Cloud
console create a project, enable "YouTube Data API v3", then Credentials > Create
credentials > API key. It is sent as the ``key`` parameter and never appears in errors,
logs or stored payloads.

Paging and limits: each video or channel is a stream, read newest first page by page
until a comment of an earlier run, the end, or, on a first run, ``target.since`` (no
``since``: the newest page only); the stream's starting point moves only when the sweep is
over, so a crash leaves no gap. A key has 10,000 quota units a day by default.
``quotaExceeded`` (403) waits until the quota resets at midnight Pacific time;
``rateLimitExceeded`` waits a minute. A video whose comments are disabled
(``commentsDisabled``) or that is gone (``videoNotFound``) is skipped for this run with a
note in the cursor, without failing the job.

Mapping: a comment thread's id is the ``external_id``; its top-level comment gives the
text (``textOriginal``, else ``textDisplay``), author (channel id, display name, which
is the ``@handle`` on today's YouTube, channel URL, and its subscribers as followers),
``publishedAt``, and ``likeCount``; ``totalReplyCount`` gives ``replies``. Replies
themselves are not collected.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from datetime import UTC, datetime, time, timedelta
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from collector.base import CollectContext, Page, Target
from collector.http import request
from collector.sources._reach import ReachCache
from collector.sources._time import parse_time as _parse_time
from goodwill.errors import BadPayload, RateLimited, SourceError, UnparsableItem
from goodwill.models import Author, Mention, utcnow

__all__ = ["YouTubeSource"]

log = logging.getLogger(__name__)

_NAME = "youtube"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PACIFIC = ZoneInfo("America/Los_Angeles")
#: How long a per-user or per-second rate limit is waited out.
_RATE_WAIT = 60.0
_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
_KEY_REASONS = {"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED"}
_DISABLED_REASONS = {"accessNotConfigured", "SERVICE_DISABLED", "API_KEY_SERVICE_BLOCKED"}
_SKIP_REASONS = {"commentsDisabled", "videoNotFound", "channelNotFound"}
#: Channels per channels.list request (the API's most).
_CHANNELS_PER_REQUEST = 50


class YouTubeSource:
    """Top-level YouTube comments on videos and channels."""

    name = _NAME

    def __init__(
        self,
        *,
        base_url: str = "https://www.googleapis.com/youtube/v3",
        api_key: SecretStr | None = None,
        video_ids: list[str] | None = None,
        channel_ids: list[str] | None = None,
        owned_channel_ids: list[str] | None = None,
        search: bool = False,
        search_days: int = 7,
        search_interval_hours: float = 6.0,
        max_results: int = 100,
    ) -> None:
        """Configure the source.

        Args:
            base_url: the API root (a proxy or a test server in place of Google's).
            api_key: the YouTube Data API key (from ``GOODWILL_YOUTUBE_API_KEY``).
            video_ids: videos whose comments to follow (the ``v=`` of a watch URL).
            channel_ids: channels (``UC...``) whose videos' and own comments to follow.
            owned_channel_ids: the brand's own channels (``UC...``): their comments are
                followed like ``channel_ids``, and every comment on them or their videos
                is marked owned (kept whatever the brand's query says).
            search: find recent videos for the brand's terms and follow their comments.
            search_days: how far back a search looks, and how long a found video is
                followed.
            search_interval_hours: the least time between two searches (100 units each).
            max_results: comment threads per request, 1 to 100.
        """
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if api_key is None or not api_key.get_secret_value().strip():
            raise ValueError(
                "the YouTube source needs an API key: set GOODWILL_YOUTUBE_API_KEY "
                "(Google Cloud console > YouTube Data API v3 > Credentials > API key)"
            )
        self.video_ids = _ids(video_ids, "video_ids")
        self.owned_channel_ids = _ids(owned_channel_ids, "owned_channel_ids")
        owned = set(self.owned_channel_ids)
        # A channel both listed and owned is read once, as owned.
        self.channel_ids = [c for c in _ids(channel_ids, "channel_ids") if c not in owned]
        if not isinstance(search, bool):
            raise ValueError(f"search must be true or false, got {search!r}")
        if not (self.video_ids or self.channel_ids or self.owned_channel_ids or search):
            raise ValueError(
                "give video_ids, channel_ids or owned_channel_ids, or set search = true"
            )
        if isinstance(search_days, bool) or not isinstance(search_days, int) or search_days < 1:
            raise ValueError(
                f"search_days must be a whole number of days >= 1, got {search_days!r}"
            )
        if isinstance(search_interval_hours, bool) or not isinstance(
            search_interval_hours, int | float
        ):
            raise ValueError("search_interval_hours must be a number of hours")
        if search_interval_hours < 0:
            raise ValueError("search_interval_hours must not be negative")
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise ValueError("max_results must be between 1 and 100")
        if not 1 <= max_results <= 100:
            raise ValueError("max_results must be between 1 and 100")
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.search = search
        self.search_days = search_days
        self.search_interval = timedelta(hours=search_interval_hours)
        self.max_results = max_results
        # When the daily quota is spent, no request is sent before it resets. Kept on the
        # instance: a raised error saves no cursor, and the runner keeps one instance.
        self._quota_reset: datetime | None = None
        #: Subscriber counts of comment authors' channels, looked up at most once a day each.
        self.reach = ReachCache()

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of one video's or channel's comment threads; ``more`` while any has pages.

        The cursor is ``{"streams": [{"kind": "video" | "channel", "id": str,
        "newest_at": ISO time | None, "newest_ids": [thread id, ...], "sweep":
        {"token": str | None, "top_at": ISO time | None, "top_ids": [...]} | None,
        "found_at": ISO time (found by search) | None, "note": str | None}], "pending":
        [[kind, id], ...], "searched_at": ISO time | None}``: ``newest_*`` is the newest
        comment of the last finished sweep (its time and the ids at that time), ``sweep``
        the sweep under way, ``note`` why the stream was last skipped, ``pending`` the
        streams this run has still to read.
        """
        now = utcnow()
        if self._quota_reset is not None and self._quota_reset > now:
            raise self._quota_error(target, now)
        state = cursor if isinstance(cursor, dict) else {}
        saved = {
            (item["kind"], item["id"]): item
            for item in state.get("streams") or []
            if isinstance(item, dict) and "kind" in item and "id" in item
        }
        searched_at = _parse_time(state.get("searched_at"))
        pending_saved = [
            (item[0], item[1])
            for item in state.get("pending") or []
            if isinstance(item, list) and len(item) == 2
        ]
        # A search only starts a run (never in the middle of one), and at most every
        # ``search_interval``: it costs 100 quota units against 1 for a page of comments.
        due = searched_at is None or now - searched_at >= self.search_interval
        if not pending_saved and self.search and target.terms and due:
            for video in await self._search(ctx, target, searched_at, now):
                saved.setdefault(
                    ("video", video),
                    {"kind": "video", "id": video, "found_at": now.isoformat()},
                )
            searched_at = now
        streams: dict[tuple[str, str], dict[str, Any]] = {}
        for video in self.video_ids:
            streams[("video", video)] = saved.get(("video", video)) or {
                "kind": "video",
                "id": video,
            }
        for channel in [*self.owned_channel_ids, *self.channel_ids]:
            key = ("channel", channel)
            streams[key] = saved.get(key) or {"kind": "channel", "id": channel}
        horizon = now - timedelta(days=self.search_days)
        for key, item in saved.items():
            found_at = _parse_time(item.get("found_at"))
            if key not in streams and found_at is not None and found_at >= horizon:
                streams[key] = item  # a video found by search, still followed
        pending = [key for key in pending_saved if key in streams] or list(streams)
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        if pending:
            mentions, unparsed, ended = await self._page(ctx, target, streams[pending[0]])
            if ended:
                pending.pop(0)
            mentions = await self._with_subscribers(ctx, target, mentions)
        new_cursor = {
            "streams": list(streams.values()),
            "pending": [list(key) for key in pending],
            "searched_at": searched_at.isoformat() if searched_at else None,
        }
        return Page(mentions, new_cursor, more=bool(pending), unparsed=unparsed)

    async def _search(
        self, ctx: CollectContext, target: Target, searched_at: datetime | None, now: datetime
    ) -> list[str]:
        """Ids of recent videos for the brand's terms (one page of 50, newest first)."""
        after = now - timedelta(days=self.search_days)
        if searched_at is None and target.since is not None:
            after = max(target.since, after)
        terms = [f'"{term}"' if " " in term else term for term in target.terms if term.strip()]
        body = await self._get(
            ctx,
            target,
            "search",
            {
                "part": "snippet",
                "type": "video",
                "q": "|".join(terms),
                "order": "date",
                "publishedAfter": after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "maxResults": 50,
            },
        )
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BadPayload(
                f"{_NAME}: {self.base_url}/search did not answer a list of `items`",
                source=_NAME,
                brand=target.brand,
                url=f"{self.base_url}/search",
            )
        videos = []
        for item in items:
            ident = item.get("id") if isinstance(item, dict) else None
            video = ident.get("videoId") if isinstance(ident, dict) else None
            if isinstance(video, str) and _ID.match(video):
                videos.append(video)
        return videos

    async def _page(
        self, ctx: CollectContext, target: Target, stream: dict[str, Any]
    ) -> tuple[list[Mention], list[tuple[str, Any]], bool]:
        """Read the next page of ``stream``'s comment threads and move its sweep on."""
        sweep = stream.get("sweep") or {"token": None, "top_at": None, "top_ids": []}
        params: dict[str, str | int] = {
            "part": "snippet",
            "order": "time",
            "maxResults": self.max_results,
            "textFormat": "plainText",
        }
        params["videoId" if stream["kind"] == "video" else "allThreadsRelatedToChannelId"] = stream[
            "id"
        ]
        if sweep.get("token"):
            params["pageToken"] = sweep["token"]
        try:
            body = await self._get(ctx, target, "commentThreads", params)
        except _Skip as skip:
            log.warning("youtube %s %s skipped: %s", stream["kind"], stream["id"], skip)
            stream["note"] = f"{skip} (at {utcnow().isoformat()})"
            stream["sweep"] = None
            return [], [], True
        except _PageTokenExpired:
            stream["sweep"] = {**sweep, "token": None}
            return [], [], False
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BadPayload(
                f"{_NAME}: {self.base_url}/commentThreads did not answer a list of `items`",
                source=_NAME,
                brand=target.brand,
                url=f"{self.base_url}/commentThreads",
            )
        stream["note"] = None
        newest_at = _parse_time(stream.get("newest_at"))
        newest_ids = set(stream.get("newest_ids") or [])
        first_run = newest_at is None
        top_at = _parse_time(sweep.get("top_at"))
        top_ids: list[str] = list(sweep.get("top_ids") or [])
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        fresh = 0
        reached_since = False
        owned = frozenset(self.owned_channel_ids)
        stream_owned = stream["kind"] == "channel" and stream["id"] in owned
        for item in items:
            try:
                mention = _mention(item, target.brand, owned, owned=stream_owned)
            except UnparsableItem as error:
                unparsed.append((str(error), item))
                continue
            when, thread = mention.created_at, mention.external_id
            if newest_at is not None and (
                when < newest_at or (when == newest_at and thread in newest_ids)
            ):
                continue  # collected by an earlier run
            if first_run and target.since is not None and when < target.since:
                reached_since = True
                continue
            fresh += 1
            if top_at is None or when > top_at:
                top_at, top_ids = when, [thread]
            elif when == top_at and thread not in top_ids:
                top_ids.append(thread)
            if mention.text:  # a comment without words is nothing to read or score
                mentions.append(mention)
        token = body.get("nextPageToken")
        ended = (
            fresh == 0
            or reached_since
            or (first_run and target.since is None)
            or not isinstance(token, str)
            or not token
            or token == sweep.get("token")
        )
        if ended:
            if top_at is not None:
                stream["newest_at"], stream["newest_ids"] = top_at.isoformat(), top_ids
            stream["sweep"] = None
        else:
            stream["sweep"] = {
                "token": token,
                "top_at": top_at.isoformat() if top_at else None,
                "top_ids": top_ids,
            }
        return mentions, unparsed, ended

    async def _with_subscribers(
        self, ctx: CollectContext, target: Target, mentions: list[Mention]
    ) -> list[Mention]:
        """``mentions`` with their authors' subscriber counts, looked up where not cached.

        Up to 50 channels a request (1 quota unit each). A failed lookup never fails the
        page: those comments are kept without a count (see ``collector.sources._reach``).
        """

        async def counts(channels: list[str]) -> dict[str, int | None]:
            params: dict[str, str | int] = {
                "part": "statistics",
                "id": ",".join(channels),
                "maxResults": _CHANNELS_PER_REQUEST,
            }
            try:
                body = await self._get(ctx, target, "channels", params)
            except (_Skip, _PageTokenExpired) as error:
                raise SourceError(
                    f"{_NAME}: channels.list refused ({error})", source=_NAME, url=self.base_url
                ) from None
            found = _subscribers(body)
            if found is None:
                raise BadPayload(
                    f"{_NAME}: {self.base_url}/channels did not answer a list of `items`",
                    source=_NAME,
                    brand=target.brand,
                    url=f"{self.base_url}/channels",
                )
            return found

        wanted = self.reach.missing(
            channel
            for mention in mentions
            if (channel := mention.author.id) is not None and _ID.match(channel)
        )
        if wanted:
            await self.reach.look_up(wanted, _CHANNELS_PER_REQUEST, counts, source=_NAME)
        return self.reach.fill(mentions, lambda mention: mention.author.id)

    async def _get(
        self, ctx: CollectContext, target: Target, resource: str, params: dict[str, str | int]
    ) -> Any:
        """GET one resource with the key; errors name the URL without its query string."""
        url = f"{self.base_url}/{resource}"
        failure: SourceError | None = None
        try:
            response = await request(
                ctx,
                _NAME,
                url,
                params={**params, "key": self._key.get_secret_value()},
                headers={"Accept": "application/json"},
                ok=(200, 400, 401, 403, 404),
            )
        except SourceError as error:
            failure = self._scrubbed(error)
        # Raised outside the ``except`` block, so the original (whose message might hold
        # the key) is not kept as the new error's context.
        if failure is not None:
            raise failure
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
            if response.status == 200:
                raise BadPayload(
                    f"{_NAME}: {url} answered something that is not JSON; it began "
                    f"{self._scrub(repr(response.body[:120]))}",
                    source=_NAME,
                    brand=target.brand,
                    url=url,
                ) from None
        if response.status == 200:
            return body
        self._raise_for_error(target, url, response.status, body, response.body)

    def _raise_for_error(
        self, target: Target, url: str, status: int, body: Any, raw: bytes
    ) -> NoReturn:
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        reasons: set[str] = {
            detail["reason"]
            for detail in [*(error.get("errors") or []), *(error.get("details") or [])]
            if isinstance(detail, dict) and isinstance(detail.get("reason"), str)
        }
        message = error.get("message")
        if not isinstance(message, str) or not message:
            message = raw[:200].decode("utf-8", errors="replace")
        message = self._scrub(re.sub(r"<[^>]+>", "", message))
        if reasons & _QUOTA_REASONS:
            self._quota_reset = _next_pacific_midnight(utcnow())
            raise self._quota_error(target, utcnow())
        if reasons & _RATE_REASONS:
            raise RateLimited(
                f"{_NAME}: {url} asked to slow down ({message}); waiting {_RATE_WAIT:.0f} s",
                source=_NAME,
                brand=target.brand,
                url=url,
                retry_after=_RATE_WAIT,
            )
        if reasons & _SKIP_REASONS:
            raise _Skip(next(iter(sorted(reasons & _SKIP_REASONS))))
        if "invalidPageToken" in reasons:
            raise _PageTokenExpired()
        if reasons & _KEY_REASONS or "API key not valid" in message:
            raise SourceError(
                f"{_NAME}: the API key was refused ({message}); check GOODWILL_YOUTUBE_API_KEY",
                source=_NAME,
                brand=target.brand,
                url=url,
            )
        if reasons & _DISABLED_REASONS:
            raise SourceError(
                f"{_NAME}: the key's Google Cloud project cannot use the YouTube Data API "
                f"({message}); enable 'YouTube Data API v3' for the project of "
                "GOODWILL_YOUTUBE_API_KEY",
                source=_NAME,
                brand=target.brand,
                url=url,
            )
        raise SourceError(
            f"{_NAME}: {url} answered HTTP {status}: {message}"
            + (f" ({', '.join(sorted(reasons))})" if reasons else ""),
            source=_NAME,
            brand=target.brand,
            url=url,
        )

    def _quota_error(self, target: Target, now: datetime) -> RateLimited:
        reset = self._quota_reset or _next_pacific_midnight(now)
        return RateLimited(
            f"{_NAME}: the API key's daily quota is spent; it resets at midnight Pacific "
            f"time ({reset.isoformat()})",
            source=_NAME,
            brand=target.brand,
            url=self.base_url,
            retry_after=max((reset - now).total_seconds(), 0.0),
        )

    def _scrub(self, text: str) -> str:
        key = self._key.get_secret_value()
        return text.replace(key, "***").replace(urllib.parse.quote(key, safe=""), "***")

    def _scrubbed(self, error: SourceError) -> SourceError:
        """The same error with the key blanked out of its message and URL."""
        message = self._scrub(str(error))
        url = self._scrub(error.url) if error.url else error.url
        if isinstance(error, RateLimited):
            return RateLimited(
                message,
                source=error.source,
                brand=error.brand,
                url=url,
                retry_after=error.retry_after,
            )
        return type(error)(message, source=error.source, brand=error.brand, url=url)


class _Skip(Exception):
    """A video or channel to pass over this run (comments disabled, gone)."""


class _PageTokenExpired(Exception):
    """The saved page token is no longer valid: the sweep starts again from the top."""


def _ids(values: list[str] | None, name: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, list):
        raise ValueError(f"{name} must be a list of ids")
    ids = []
    for value in values:
        if not isinstance(value, str) or not _ID.match(value.strip()):
            raise ValueError(f"{name}: {value!r} is not a YouTube id")
        ids.append(value.strip())
    return list(dict.fromkeys(ids))


def _next_pacific_midnight(now: datetime) -> datetime:
    """When YouTube quotas reset: the next midnight in Los Angeles, as UTC."""
    local = now.astimezone(_PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=_PACIFIC)
    return midnight.astimezone(UTC)


def _subscribers(body: Any) -> dict[str, int | None] | None:
    """Subscriber counts by channel id from a channels.list answer (None: not such an answer).

    A channel that hides its count maps to None; a channel the answer leaves out (closed,
    suspended) is not in the result.
    """
    items = body.get("items", []) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    counts: dict[str, int | None] = {}
    for item in items:
        channel = item.get("id") if isinstance(item, dict) else None
        statistics = item.get("statistics") if isinstance(item, dict) else None
        if not isinstance(channel, str) or not isinstance(statistics, dict):
            continue
        count = statistics.get("subscriberCount")  # an unsigned long, sent as a string
        hidden = statistics.get("hiddenSubscriberCount") is True
        text = str(count) if isinstance(count, str | int) and not isinstance(count, bool) else ""
        counts[channel] = int(text) if text.isdigit() and not hidden else None
    return counts


def _mention(
    item: Any, brand: str, owned_channels: frozenset[str] = frozenset(), *, owned: bool = False
) -> Mention:
    """One comment thread's mention; ``owned`` when it is on one of ``owned_channels``."""
    if not isinstance(item, dict):
        raise UnparsableItem("comment thread is not an object")
    thread = item.get("id")
    if not isinstance(thread, str) or not thread:
        raise UnparsableItem("comment thread has no id")
    snippet = item.get("snippet")
    top = snippet.get("topLevelComment") if isinstance(snippet, dict) else None
    comment = top.get("snippet") if isinstance(top, dict) else None
    if not isinstance(snippet, dict) or not isinstance(top, dict) or not isinstance(comment, dict):
        raise UnparsableItem("comment thread has no snippet.topLevelComment.snippet")
    text = comment.get("textOriginal")
    if not isinstance(text, str) or not text.strip():
        text = comment.get("textDisplay")
    if not isinstance(text, str):
        raise UnparsableItem("comment has no textOriginal or textDisplay")
    created_at = _parse_time(comment.get("publishedAt"))
    if created_at is None:
        raise UnparsableItem("comment has no valid publishedAt")
    video = comment.get("videoId") or snippet.get("videoId")
    comment_id = top.get("id") if isinstance(top.get("id"), str) else thread
    # The channel the thread is on: the video's channel, or the channel itself.
    channel = snippet.get("channelId") or comment.get("channelId")
    url: str | None = None
    if isinstance(video, str) and video:
        url = f"https://www.youtube.com/watch?v={video}&lc={comment_id}"
    elif isinstance(channel, str) and channel:
        url = f"https://www.youtube.com/channel/{channel}"
    author_channel = comment.get("authorChannelId")
    author_id = author_channel.get("value") if isinstance(author_channel, dict) else None
    display = comment.get("authorDisplayName")
    name = display if isinstance(display, str) and display else None
    author_url = comment.get("authorChannelUrl")
    engagement = {
        key: value
        for key, value in (
            ("likes", comment.get("likeCount")),
            ("replies", snippet.get("totalReplyCount")),
        )
        if isinstance(value, int) and not isinstance(value, bool)
    }
    return Mention(
        source=_NAME,
        external_id=thread,
        brand=brand,
        text=text.strip(),
        url=url,
        author=Author(
            id=author_id if isinstance(author_id, str) and author_id else None,
            # Since 2024 the display name is the channel's @handle.
            handle=name if name and name.startswith("@") else None,
            display_name=name,
            url=author_url if isinstance(author_url, str) and author_url else None,
        ),
        created_at=created_at,
        owned=owned or (isinstance(channel, str) and channel in owned_channels),
        engagement=engagement,
        raw=item,
    )
