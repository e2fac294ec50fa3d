"""The RSS / Atom source against a local server that serves feeds with ETag / Last-Modified."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

import pytest
from aiohttp import web

from collector.base import CollectContext, Target
from collector.sources.rss import RssSource
from goodwill.errors import BadPayload, RateLimited, SourceUnavailable
from goodwill.models import utcnow
from tests.collector.sources._server_mray import Api, context, run, serve, stored

BRAND = "Acme"
H0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LONG = "Acme's new anvil is heavier than advertised. Ünïcödé 🔨 テキスト. " * 300


def item(number: int, at: datetime | None = None, **extra: str | None) -> dict[str, str]:
    """One RSS 2.0 <item> as a dict of element -> text (None values are left out)."""
    value: dict[str, str | None] = {
        "title": f"Acme story {number}",
        "link": f"https://news.example.com/acme/{number}",
        "guid": f"https://news.example.com/?p={number}",
        "description": f"<p>Summary {number} about <b>Acme</b></p>",
    }
    if at is not None:
        value["pubDate"] = format_datetime(at)
    value.update(extra)
    return {key: text for key, text in value.items() if text is not None}


def rss(items: list[dict[str, str]], *, language: str = "en-us") -> bytes:
    """An RSS 2.0 document with the content, dc and slash namespaces, as blogs publish."""
    parts = []
    for entry in items:
        fields = "".join(
            f"<{name}>{escape(text)}</{name}>"
            if name not in {"content:encoded"}
            else f"<{name}><![CDATA[{text}]]></{name}>"
            for name, text in entry.items()
        )
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:slash="http://purl.org/rss/1.0/modules/slash/">'
        "<channel><title>Example News — Acme</title><link>https://news.example.com/</link>"
        f"<description>News</description><language>{language}</language>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


GOOGLE_ALERT = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:idx="urn:atom-extension:indexing">
<id>tag:google.com,2005:reader/user/07123456789012345678/state/com.google/alerts/1234567890123456789</id>
<title>Google Alert - acme</title>
<link href="https://www.google.com/alerts/feeds/07123456789012345678/1234567890123456789" rel="self"></link>
<updated>2026-11-02T09:00:00Z</updated>
<entry>
<id>tag:google.com,2013:googlealerts/feed:10437069862563286853</id>
<title type="html">&lt;b&gt;Acme&lt;/b&gt; recalls rocket skates after &amp;quot;unplanned flights&amp;quot;</title>
<link href="https://www.google.com/url?rct=j&amp;sa=t&amp;url=https://www.news.example.org/2026/11/02/acme-recall.html&amp;ct=ga&amp;cd=CAIyGjE3&amp;usg=AOvVaw0abc"/>
<published>2026-11-02T08:30:00Z</published>
<updated>2026-11-02T08:30:00Z</updated>
<content type="html">The &lt;b&gt;Acme&lt;/b&gt; Corporation said on Monday it would recall 40,000 pairs&amp;nbsp;...</content>
<author><name></name></author>
</entry>
</feed>
"""


@dataclass
class Feed:
    """A feed the server serves, with its validators."""

    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    modified: str | None = None
    status: int = 200

    def change(self, body: bytes) -> None:
        self.body = body
        self.etag = f'"{hashlib.sha1(body).hexdigest()[:12]}"'
        self.modified = format_datetime(utcnow(), usegmt=True)


@dataclass
class Site:
    feeds: dict[str, Feed] = field(default_factory=dict)


def routes(site: Site) -> Any:
    def add(app: web.Application, api: Api) -> None:
        async def feed(request: web.Request) -> web.Response:
            served = site.feeds.get(request.path)
            if served is None:
                return web.Response(status=404, text="Not Found")
            if served.status != 200:
                return web.Response(status=served.status, text="oops")
            headers = {}
            if served.etag:
                headers["ETag"] = served.etag
            if served.modified:
                headers["Last-Modified"] = served.modified
            # RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since.
            if "If-None-Match" in request.headers:
                unchanged = request.headers["If-None-Match"] == served.etag
            else:
                unchanged = bool(served.modified) and (
                    request.headers.get("If-Modified-Since") == served.modified
                )
            if unchanged:
                return web.Response(status=304, headers=headers)
            return web.Response(
                body=served.body, headers={**headers, "Content-Type": served.content_type}
            )

        app.router.add_get("/{name:.*}", feed)

    return add


@pytest.fixture
def site() -> Site:
    """A news feed (10 items, one an hour before H0) and a Google Alerts feed."""
    news = Feed(b"")
    news.change(rss([item(n, H0 - timedelta(hours=n)) for n in range(10)]))
    return Site({"/news.xml": news, "/alerts.atom": Feed(GOOGLE_ALERT, "application/atom+xml")})


@pytest.fixture
async def api(site: Site) -> AsyncIterator[Api]:
    """The feeds, served on 127.0.0.1."""
    async with serve(routes(site)) as served:
        yield served


@pytest.fixture
async def ctx() -> AsyncIterator[CollectContext]:
    """A context with one real client session."""
    async with context() as value:
        yield value


def target(since: datetime | None = None) -> Target:
    return Target(BRAND, ("acme",), since)


async def test_an_rss_item_maps_every_field(site: Site, api: Api, ctx: CollectContext) -> None:
    """guid, content:encoded as text, title, dc:creator, pubDate, language and slash:comments."""
    full = item(
        7,
        H0,
        **{
            "content:encoded": "<p>Acme&rsquo;s <em>new</em> anvil:</p><p>heavy &amp; loud 🔨<br/>Really.</p>",
            "dc:creator": "Wile E. Coyote",
            "slash:comments": "12",
        },
    )
    site.feeds["/news.xml"].change(rss([full], language="en-gb"))
    page = await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    [mention] = page.mentions
    assert mention.source == "rss" and mention.brand == BRAND
    assert mention.external_id == "https://news.example.com/?p=7"
    assert mention.text == "Acme’s new anvil:\n\nheavy & loud 🔨\nReally."
    assert mention.title == "Acme story 7"
    assert mention.url == "https://news.example.com/acme/7"
    assert mention.author.display_name == "Wile E. Coyote"
    assert mention.created_at == H0
    assert mention.lang == "en-gb"
    assert mention.engagement == {"replies": 12}
    assert (
        mention.raw["title"] == "Acme story 7" and mention.raw["published_parsed"] == H0.isoformat()
    )
    json.dumps(mention.raw)  # the raw entry is plain JSON, ready for MongoDB


async def test_a_google_alert_is_unwrapped_and_stripped(api: Api, ctx: CollectContext) -> None:
    """An Alerts entry: its id, the article behind google.com/url, HTML-free title and text."""
    [mention] = (
        await RssSource(urls=[f"{api.url}/alerts.atom"]).fetch(ctx, target(), None)
    ).mentions
    assert mention.external_id == "tag:google.com,2013:googlealerts/feed:10437069862563286853"
    assert mention.url == "https://www.news.example.org/2026/11/02/acme-recall.html"
    assert mention.title == 'Acme recalls rocket skates after "unplanned flights"'
    assert mention.text == "The Acme Corporation said on Monday it would recall 40,000 pairs\xa0..."
    assert mention.created_at == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert mention.author.display_name is None


async def test_ids_fall_back_to_the_link_then_a_hash(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """No guid: the link; no link either: a stable hash of title and date."""
    site.feeds["/news.xml"].change(rss([item(1, H0, guid=None), item(2, H0, guid=None, link=None)]))
    source = RssSource(urls=[f"{api.url}/news.xml"])
    first = await source.fetch(ctx, target(), None)
    assert first.mentions[0].external_id == "https://news.example.com/acme/1"
    assert first.mentions[1].external_id.startswith("sha1:")
    site.feeds["/news.xml"].change(site.feeds["/news.xml"].body + b" ")
    again = await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    assert again.mentions[1].external_id == first.mentions[1].external_id


async def test_the_conditional_get_sends_validators_and_304_is_nothing_new(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """The second fetch sends If-None-Match / If-Modified-Since; a 304 yields no mentions."""
    source = RssSource(urls=[f"{api.url}/news.xml"])
    first = await run(source, ctx, target())
    assert len(first.mentions) == 10
    second = await run(source, ctx, target(), first.cursor)
    request = api.seen[-1]
    assert request.headers["If-None-Match"] == site.feeds["/news.xml"].etag
    assert request.headers["If-Modified-Since"] == site.feeds["/news.xml"].modified
    assert second.mentions == [] and second.cursor == first.cursor


async def test_a_second_run_collects_only_new_entries(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """A changed feed gives only the entries not seen before, even with old ones in it."""
    source = RssSource(urls=[f"{api.url}/news.xml"])
    first = await run(source, ctx, target())
    newer = [item(n, H0 + timedelta(minutes=n)) for n in (100, 101)]
    site.feeds["/news.xml"].change(
        rss(newer + [item(n, H0 - timedelta(hours=n)) for n in range(8)])
    )
    second = await run(source, ctx, target(), first.cursor)
    assert sorted(second.ids) == [
        "https://news.example.com/?p=100",
        "https://news.example.com/?p=101",
    ]
    third_body = rss([item(102, H0 + timedelta(hours=1)), *newer])
    site.feeds["/news.xml"].change(third_body)
    third = await run(source, ctx, target(), second.cursor)
    assert third.ids == ["https://news.example.com/?p=102"]


async def test_since_drops_older_entries_on_a_first_run(api: Api, ctx: CollectContext) -> None:
    """On a first run, entries older than since are not collected."""
    result = await run(
        RssSource(urls=[f"{api.url}/news.xml"]), ctx, target(H0 - timedelta(hours=3))
    )
    assert sorted(result.ids) == [f"https://news.example.com/?p={n}" for n in range(4)]


async def test_entries_without_a_date_get_the_fetch_time(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """No pubDate / updated: created_at is when the feed was read."""
    site.feeds["/news.xml"].change(rss([item(1, description=LONG)]))
    before = utcnow()
    [mention] = (await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)).mentions
    assert before <= mention.created_at <= utcnow()
    assert mention.text == LONG.strip()


async def test_a_bozo_feed_with_entries_keeps_them(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """Malformed XML that still yields entries (an undefined entity) keeps the entries."""
    site.feeds["/news.xml"].change(
        rss([item(1, H0, title="Acme &bogus; story")]).replace(b"&amp;bogus;", b"&bogus;")
    )
    page = await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == ["https://news.example.com/?p=1"]


async def test_an_html_page_instead_of_the_feed_is_retried_later(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """A captive portal's or proxy's page with status 200 is transient, not a broken feed."""
    page = (
        b"<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Sorry</h1></body></html>"
    )
    site.feeds["/news.xml"] = Feed(page, "text/html")
    with pytest.raises(SourceUnavailable, match="HTML page, not a feed"):
        await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)


@pytest.mark.parametrize(
    "page",
    [
        b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body>Log in</body></html>',
        b"<!-- proxy --><HTML><HEAD><TITLE>Gateway</TITLE></HEAD></HTML>",
    ],
)
async def test_an_html_page_served_as_a_feed_is_retried_later(
    site: Site, api: Api, ctx: CollectContext, page: bytes
) -> None:
    """A page whose root is <html> is a web page even when it claims a feed's type."""
    site.feeds["/news.xml"] = Feed(page, "application/rss+xml")
    with pytest.raises(SourceUnavailable, match="HTML page, not a feed"):
        await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)


async def test_a_feed_served_as_html_is_still_read(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """Some servers send real feeds as text/html: the feed's root element makes it a feed."""
    site.feeds["/news.xml"] = Feed(rss([item(1), item(2)]), "text/html; charset=utf-8")
    page = await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    assert sorted(m.external_id for m in page.mentions) == [
        "https://news.example.com/?p=1",
        "https://news.example.com/?p=2",
    ]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'<?xml version="1.0"?><rss version="2.0"><chann', "application/rss+xml"),
        (b'{"items": []}', "application/json"),
    ],
)
async def test_a_body_that_is_not_a_feed_is_bad_payload(
    site: Site, api: Api, ctx: CollectContext, body: bytes, content_type: str
) -> None:
    """XML cut before any entry, or JSON, is a BadPayload."""
    site.feeds["/news.xml"] = Feed(body, content_type)
    with pytest.raises(BadPayload, match="not an RSS or Atom feed"):
        await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)


@pytest.mark.parametrize("path", ["/etc/hostname", "{url}/alerts.atom"])
async def test_feedparser_is_never_left_to_open_anything(
    site: Site, api: Api, ctx: CollectContext, path: str
) -> None:
    """A body that is a file name or a URL is a bad payload: nothing is read or fetched."""
    site.feeds["/news.xml"] = Feed(path.format(url=api.url).encode(), "text/plain")
    with pytest.raises(BadPayload):
        await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    assert api.paths() == ["/news.xml"]


async def test_an_empty_feed_is_an_empty_page(site: Site, api: Api, ctx: CollectContext) -> None:
    """A valid feed with no items is no mentions and no error."""
    site.feeds["/news.xml"].change(rss([]))
    page = await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    assert page.mentions == [] and page.unparsed == [] and not page.more


async def test_an_unidentifiable_entry_is_dead_lettered_and_the_rest_kept(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """An item with only a description (no guid, link, title, date) goes to unparsed."""
    lone = {"description": "Acme is fine I guess"}
    site.feeds["/news.xml"].change(rss([item(1, H0), lone, item(2, H0)]))
    page = await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    assert len(page.mentions) == 2
    [(reason, payload)] = page.unparsed
    assert "no id, link, title or date" in reason and payload["summary"] == "Acme is fine I guess"


async def test_every_feed_is_read_once_per_run(api: Api, ctx: CollectContext) -> None:
    """Two feeds: two pages, more=True after the first, each feed asked once."""
    source = RssSource(urls=[f"{api.url}/news.xml", f"{api.url}/alerts.atom"])
    result = await run(source, ctx, target())
    assert [page.more for page in result.pages] == [True, False]
    assert api.paths() == ["/news.xml", "/alerts.atom"]
    assert len(result.mentions) == 11


async def test_a_broken_feed_does_not_stop_the_others(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """One of several feeds failing is noted in the cursor; a bad payload dead-lettered once."""
    site.feeds["/broken.xml"] = Feed(b'{"items": []}', "application/json")
    site.feeds["/down.xml"] = Feed(b"", status=500)
    urls = [f"{api.url}/broken.xml", f"{api.url}/down.xml", f"{api.url}/news.xml"]
    source = RssSource(urls=urls)
    first = await run(source, ctx, target())
    assert len(first.mentions) == 10
    [(reason, payload)] = first.unparsed
    assert reason.startswith("BadPayload:") and payload == {"feed": urls[0]}
    errors = {feed["url"]: feed["error"] for feed in first.cursor["feeds"]}
    assert errors[urls[0]].startswith("BadPayload") and "HTTP 500" in errors[urls[1]]
    assert errors[urls[2]] is None
    second = await run(source, ctx, target(), first.cursor)
    assert second.unparsed == []  # the same error is not dead-lettered twice


async def test_429_with_retry_after_is_rate_limited(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """A single feed answering 429 raises RateLimited with its Retry-After."""

    async def limited(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "30"})

    api.override = limited
    with pytest.raises(RateLimited) as caught:
        await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    assert caught.value.retry_after == 30


async def test_500_is_unavailable(site: Site, api: Api, ctx: CollectContext) -> None:
    """A single feed answering 5xx raises SourceUnavailable (the runner retries)."""
    site.feeds["/news.xml"].status = 503
    with pytest.raises(SourceUnavailable):
        await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)


async def test_relative_urls_resolve_against_base_url(api: Api, ctx: CollectContext) -> None:
    """base_url lets the watch list name feeds by path (proxies, tests)."""
    result = await run(
        RssSource(base_url=api.url, urls=["news.xml", "/alerts.atom"]), ctx, target()
    )
    assert api.paths() == ["/news.xml", "/alerts.atom"] and len(result.mentions) == 11
    assert stored(result.cursor) == result.cursor


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "urls"),
        ({"urls": "https://example.com/feed"}, "urls"),
        ({"urls": ["ftp://example.com/feed"]}, "not an http"),
        ({"urls": ["https://example.com/feed"], "base_url": "example.com"}, "base_url"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any], words: str) -> None:
    """A bad watch-list value raises ValueError naming what is wrong."""
    with pytest.raises(ValueError, match=words):
        RssSource(**kwargs)


async def test_an_item_s_own_language_beats_the_feed_s(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """A German item in a feed that declares English is German; a dc:language tag wins."""
    german = item(
        1,
        description="Die neue Acme App stürzt seit dem Update ständig ab, "
        "und der Kundendienst antwortet nicht auf meine E-Mails.",
    )
    tagged = item(2, None, description="Acme is great", **{"dc:language": "fr"})
    english = item(3, description="The new Acme app keeps crashing since the last update.")
    site.feeds["/news.xml"] = Feed(rss([german, tagged, english], language="en-gb"))
    page = await RssSource(urls=[f"{api.url}/news.xml"]).fetch(ctx, target(), None)
    languages = {m.external_id.rsplit("=", 1)[1]: m.lang for m in page.mentions}
    assert languages == {"1": "de", "2": "fr", "3": "en-gb"}


ATOM_LANGUAGES = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
<id>urn:example:acme-news</id><title>Acme news</title><updated>2026-11-02T09:00:00Z</updated>
<entry><id>urn:e:1</id><title>Acme</title><updated>2026-11-02T09:00:00Z</updated>
<content type="text">Die neue Acme App stürzt seit dem Update ständig ab, und der Kundendienst
antwortet nicht auf meine E-Mails.</content></entry>
<entry xml:lang="fr"><id>urn:e:2</id><title>Acme</title><updated>2026-11-02T09:00:00Z</updated>
<content type="text">Acme!</content></entry>
<entry><id>urn:e:3</id><title>Acme</title><updated>2026-11-02T09:00:00Z</updated>
<content type="text" xml:lang="es">Acme!</content></entry>
<entry><id>urn:e:4</id><title>Acme</title><updated>2026-11-02T09:00:00Z</updated>
<content type="text">The new Acme app keeps crashing since the last update.</content></entry>
<entry><id>urn:e:5</id><title>Acme</title><updated>2026-11-02T09:00:00Z</updated>
<content type="text">Acme!</content></entry>
</feed>
""".encode()


async def test_an_atom_entry_s_inherited_xml_lang_is_the_feed_s_not_its_own(
    site: Site, api: Api, ctx: CollectContext
) -> None:
    """xml:lang on <feed> does not hide a German entry; xml:lang on an entry or its content wins."""
    site.feeds["/news.atom"] = Feed(ATOM_LANGUAGES, "application/atom+xml")
    page = await RssSource(urls=[f"{api.url}/news.atom"]).fetch(ctx, target(), None)
    languages = {m.external_id: m.lang for m in page.mentions}
    assert languages == {
        "urn:e:1": "de",
        "urn:e:2": "fr",
        "urn:e:3": "es",
        "urn:e:4": "en",
        "urn:e:5": "en",  # too short to tell: the feed's
    }
