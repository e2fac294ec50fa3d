"""RSS and Atom feeds: news sites, blogs, Google Alerts, anything that publishes a feed.

API: each feed URL in ``urls`` is fetched with a conditional GET (``If-None-Match`` with
the feed's last ``ETag``, ``If-Modified-Since`` with its last ``Last-Modified``; a 304
means nothing new) and parsed with feedparser (https://feedparser.readthedocs.io/),
which reads RSS 0.9x/1.0/2.0 and Atom 0.3/1.0. feedparser never fetches anything
itself: it is handed the bytes already fetched. A Google Alert's feed is made under
https://www.google.com/alerts (the alert's "Deliver to: RSS feed" option, then the
feed icon gives its URL); its links go through google.com/url and are unwrapped here.

Credentials: none. (A private feed that carries a token in its URL keeps it there;
such a URL shows in error messages, so prefer feeds that need none.)

Paging and limits: a feed is one page, the entries it holds right now. Each fetch reads
one feed; every run visits each feed once. An entry is new when its id was not in the
feed at an earlier fetch (the cursor keeps a short hash of up to 1,000 ids per feed), so
entries are never collected twice even when a feed changes its ETag for nothing. On a
first run ``target.since`` drops older entries (no ``since``: all the entries the feed
holds). Feeds have no rate-limit signal beyond HTTP 429 / ``Retry-After``.

Mapping: ``external_id`` is the entry's id (RSS ``guid``, Atom ``id``), else its link,
else a hash of its title and date (an entry with none of these cannot be found again,
and is dead-lettered). The text is the entry's content (``content:encoded``
or Atom ``content``), else its summary, with HTML stripped; an entry with neither uses
its title. ``created_at`` is the entry's published date, else its updated date; an entry
with no date at all is given the time it was fetched (so a feed without dates shows its
entries as new when first seen, not when written). ``lang`` is the entry's own tag (RSS
``dc:language``, Atom ``xml:lang`` on the entry or its content, summary or title, but not
the one it inherits from ``<feed>``), else what its text confidently is (CLD2, through
``goodwill.language``), else the feed's ``<language>`` / ``xml:lang``.

Failures: an HTML page where the feed should be (a captive portal's, a proxy's) is a
``SourceUnavailable``, retried later (a feed served as ``text/html`` is still read: its
root element decides); a body that is not a feed at all (JSON, garbage, XML cut off
before its first entry) is a ``BadPayload``; a feed that parses with errors
(feedparser's ``bozo``) but still yields entries keeps them. When one of several feeds
fails, its error is kept in the cursor (``error``) and logged, a bad payload is
dead-lettered once per distinct error, and the other feeds go on: one broken feed never
stops the rest (it is tried again next run). When the source has a single feed, its
error is raised to the runner (retried, then recorded on the job).
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import io
import logging
import re
import time
import urllib.parse
import xml.sax
from datetime import UTC, datetime
from typing import Any

import feedparser

from collector.base import CollectContext, Page, Target
from collector.http import Response, get_text
from collector.sources._text import html_to_text
from goodwill.errors import BadPayload, SourceError, SourceUnavailable, UnparsableItem
from goodwill.language import detect_confidently
from goodwill.models import Author, Mention, utcnow

__all__ = ["RssSource"]

log = logging.getLogger(__name__)

_NAME = "rss"
#: Ids remembered per feed (short hashes); more than any feed holds at once.
_MAX_SEEN = 1000
_ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
#: The first element of a document (after its XML declaration, doctype and comments).
_ROOT = re.compile(rb"<([a-z][\w:.-]*)")


class RssSource:
    """Entries of a list of RSS / Atom feeds."""

    name = _NAME

    def __init__(
        self,
        *,
        base_url: str | None = None,
        urls: list[str] | None = None,
    ) -> None:
        """Configure the source.

        Args:
            base_url: resolves feed URLs that are relative (a proxy, a test server);
                None: every URL must be absolute.
            urls: the feeds to read (http or https URLs).
        """
        if base_url is not None and (
            not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))
        ):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if isinstance(urls, str) or not isinstance(urls, list) or not urls:
            raise ValueError("urls must be a list of at least one feed URL")
        feeds = []
        for value in urls:
            url = value.strip() if isinstance(value, str) else ""
            if base_url is not None and url:
                url = urllib.parse.urljoin(base_url.rstrip("/") + "/", url)
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"urls: {value!r} is not an http(s) URL")
            feeds.append(url)
        self.urls = list(dict.fromkeys(feeds))

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """The new entries of one feed; ``more`` while this run has feeds left.

        The cursor is ``{"feeds": [{"url": str, "etag": str | None, "modified": str |
        None, "seen": [hash, ...], "error": str | None}], "pending": [url, ...]}``:
        per feed its validators for the conditional GET, short hashes of the entry ids
        it held, and its last error; ``pending`` the feeds this run has still to read.
        """
        state = cursor if isinstance(cursor, dict) else {}
        saved = {
            item["url"]: item
            for item in state.get("feeds") or []
            if isinstance(item, dict) and isinstance(item.get("url"), str)
        }
        feeds = {url: saved.get(url) or {"url": url} for url in self.urls}
        pending = [url for url in state.get("pending") or [] if url in feeds] or list(self.urls)
        url = pending.pop(0)
        feed = feeds[url]
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        try:
            mentions, unparsed = await self._read(ctx, target, feed)
        except SourceError as error:
            if len(self.urls) == 1:
                raise
            message = f"{error.__class__.__name__}: {error}"
            log.warning("rss feed %s failed for %s: %s", url, target.brand, message)
            if isinstance(error, BadPayload) and feed.get("error") != message:
                unparsed.append((message, {"feed": url}))
            feed["error"] = message
        new_cursor = {"feeds": list(feeds.values()), "pending": pending}
        return Page(mentions, new_cursor, more=bool(pending), unparsed=unparsed)

    async def _read(
        self, ctx: CollectContext, target: Target, feed: dict[str, Any]
    ) -> tuple[list[Mention], list[tuple[str, Any]]]:
        """Fetch and parse one feed, updating its state in place."""
        url = feed["url"]
        headers = {"Accept": _ACCEPT}
        if feed.get("etag"):
            headers["If-None-Match"] = feed["etag"]
        if feed.get("modified"):
            headers["If-Modified-Since"] = feed["modified"]
        response = await get_text(ctx, _NAME, url, headers=headers, ok=(200, 304))
        if response.status == 304:
            feed["error"] = None
            return [], []
        if _web_page(response):
            raise SourceUnavailable(
                f"{_NAME}: {url} answered an HTML page, not a feed (a captive portal or a "
                "proxy's page?); retried later. If it persists, check that the URL is the "
                f"feed's, not its web page; it began {response.body[:120]!r}",
                source=_NAME,
                brand=target.brand,
                url=url,
            )
        parsed = await asyncio.to_thread(_parse, response)
        reason = parsed.get("bozo_exception")
        # Not a feed: no RSS/Atom root at all, or XML that broke before any entry. (A
        # feed that only was served with an odd content type or encoding is fine.)
        if not parsed.entries and (
            not parsed.get("version") or isinstance(reason, xml.sax.SAXException)
        ):
            raise BadPayload(
                f"{_NAME}: {url} is not an RSS or Atom feed"
                + (f" ({reason})" if reason else "")
                + f"; it began {response.body[:120]!r}",
                source=_NAME,
                brand=target.brand,
                url=url,
            )
        fetched_at = utcnow()
        first_run = "seen" not in feed
        seen = set(feed.get("seen") or [])
        language = parsed.feed.get("language") if isinstance(parsed.feed, dict) else None
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        current: list[str] = []
        for entry in parsed.entries:
            try:
                mention = _mention(entry, target.brand, fetched_at, language)
            except UnparsableItem as error:
                unparsed.append((str(error), _plain(entry)))
                continue
            if mention is None:
                continue
            key = hashlib.sha1(mention.external_id.encode("utf-8")).hexdigest()[:16]
            if key in current:
                continue  # the same entry twice in one feed
            current.append(key)
            if key in seen:
                continue
            if first_run and target.since is not None and mention.created_at < target.since:
                continue
            mentions.append(mention)
        kept = current + [key for key in feed.get("seen") or [] if key not in current]
        feed.update(
            etag=response.headers.get("ETag"),
            modified=response.headers.get("Last-Modified"),
            seen=kept[:_MAX_SEEN],
            error=None,
        )
        return mentions, unparsed


def _web_page(response: Response) -> bool:
    """Whether the answer is a web page where the feed should be (a portal's, a proxy's).

    A feed's root element (``rss``, ``feed``, ``rdf:RDF``) makes it a feed whatever type it
    was served as (some servers send feeds as ``text/html``); an ``html`` root, or a body
    served as HTML without a feed's root, is a page.
    """
    root = _ROOT.search(response.body[:2048].lower())
    name = root.group(1) if root else b""
    if name in (b"rss", b"feed", b"rdf:rdf"):
        return False
    return name == b"html" or response.looks_like_html()


def _parse(response: Response) -> Any:
    # A BytesIO, never the bytes themselves: feedparser would try a bytes value as a
    # file name first, and a str as a URL to fetch.
    return feedparser.parse(
        io.BytesIO(response.body),
        response_headers={
            "content-type": response.headers.get("Content-Type", "application/xml"),
            "content-location": response.url,
        },
    )


def _mention(entry: Any, brand: str, fetched_at: datetime, feed_language: Any) -> Mention | None:
    """The mention of one feed entry; None for an entry with no words at all."""
    if not isinstance(entry, dict):
        raise UnparsableItem("entry is not a mapping")
    title = _text_of(entry.get("title"), entry.get("title_detail"))
    text = ""
    for content in entry.get("content") or []:
        if isinstance(content, dict):
            text = _text_of(content.get("value"), content)
            if text:
                break
    if not text:
        text = _text_of(entry.get("summary"), entry.get("summary_detail"))
    if not text:
        if not title:
            return None  # an entry without a title or a word of text is not a mention
        text = title
    link = entry.get("link")
    link = _unwrap(link) if isinstance(link, str) and link else None
    created_at = _when(entry.get("published_parsed")) or _when(entry.get("updated_parsed"))
    entry_id = entry.get("id")
    stamp = entry.get("published") or entry.get("updated") or ""
    if isinstance(entry_id, str) and entry_id.strip():
        external_id = entry_id.strip()
    elif link:
        external_id = link
    elif title or stamp:
        digest = hashlib.sha1(f"{title}\n{stamp}".encode()).hexdigest()
        external_id = f"sha1:{digest}"
    else:
        # RSS allows an item with a description alone; without an id, a link, a title
        # or a date it cannot be told apart from the next item, nor found again.
        raise UnparsableItem("entry has no id, link, title or date to identify it")
    detail = entry.get("author_detail")
    author = Author()
    if isinstance(detail, dict) or entry.get("author"):
        name = (detail or {}).get("name") or entry.get("author")
        href = (detail or {}).get("href")
        author = Author(
            display_name=name if isinstance(name, str) and name.strip() else None,
            url=href if isinstance(href, str) and href else None,
        )
    # The item's own tag (dc:language, or xml:lang of its content, summary or title),
    # else what its text confidently is, else the feed's <language>. feedparser gives an
    # Atom entry's parts the xml:lang they inherit from <feed>: that one is the feed's.
    declared = feed_language.strip() if isinstance(feed_language, str) else ""
    contents = entry.get("content") or []
    details = [*contents[:1], entry.get("summary_detail"), entry.get("title_detail")]
    inherited = {declared.lower()} if declared else set()
    tags = [
        entry.get("language"),
        *(
            lang
            for d in details
            if isinstance(d, dict)
            and isinstance(lang := d.get("language"), str)
            and lang.strip().lower() not in inherited
        ),
    ]
    own = next((lang for lang in tags if isinstance(lang, str) and lang.strip()), None)
    language = own or detect_confidently(f"{title or ''} {text}")
    if declared and (language is None or declared.lower().split("-")[0] == language):
        language = declared  # the feed's tag, which may be more precise ("en-gb")
    engagement: dict[str, int] = {}
    for field in ("slash_comments", "thr_total"):
        value = entry.get(field)
        if isinstance(value, str) and value.strip().isdigit():
            engagement["replies"] = int(value)
            break
    return Mention(
        source=_NAME,
        external_id=external_id,
        brand=brand,
        text=text,
        url=link,
        title=title or None,
        author=author,
        lang=language or None,
        created_at=created_at or fetched_at,
        engagement=engagement,
        raw=_plain(entry),
    )


def _text_of(value: Any, detail: Any) -> str:
    if not isinstance(value, str):
        return ""
    kind = detail.get("type") if isinstance(detail, dict) else "text/html"
    if kind in _HTML_TYPES or kind is None:
        return html_to_text(value)
    return value.strip()


def _when(value: Any) -> datetime | None:
    # feedparser gives dates as UTC ``time.struct_time``.
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _unwrap(link: str) -> str:
    """The article behind a Google redirect (``google.com/url?url=...``), as Alerts give."""
    parts = urllib.parse.urlsplit(link)
    if parts.hostname in {"www.google.com", "google.com"} and parts.path == "/url":
        query = urllib.parse.parse_qs(parts.query)
        for name in ("url", "q"):
            values = query.get(name)
            if values and values[0].startswith(("http://", "https://")):
                return values[0]
    return link


def _plain(value: Any) -> Any:
    """A feedparser value as JSON: dates as ISO strings, everything else as it came."""
    if isinstance(value, time.struct_time):
        when = _when(value)
        return when.isoformat() if when else None
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
