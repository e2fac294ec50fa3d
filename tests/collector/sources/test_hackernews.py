"""The Hacker News source against a local server that speaks the Algolia HN Search API."""

from __future__ import annotations

import copy
import json
import math
import operator
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from collector.base import CollectContext
from collector.sources.hackernews import HackerNewsSource
from goodwill.errors import BadPayload, RateLimited, SourceUnavailable
from store import Database
from tests.collector.sources._server_devforums import (
    BRAND,
    T0,
    client_context,
    run,
    serve,
    target,
    term_state,
)

ctx = client_context  # the shared `ctx` fixture

LONG = "Acme rocket skates, a long review. " + "Ünïcödé 🚀 ещё текст, 日本語も. " * 400


def story(number: int, at: int, title: str, **extra: Any) -> dict[str, Any]:
    """A story hit as search_by_date returns it."""
    hit: dict[str, Any] = {
        "_highlightResult": {
            "author": {"matchLevel": "none", "matchedWords": [], "value": "pg"},
            "title": {
                "fullyHighlighted": False,
                "matchLevel": "full",
                "matchedWords": ["acme"],
                "value": title.replace("Acme", "<em>Acme</em>"),
            },
        },
        "_tags": ["story", "author_pg", f"story_{number}"],
        "author": "pg",
        "children": [number + 1],
        "created_at": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_at_i": at,
        "num_comments": 3,
        "objectID": str(number),
        "points": 57,
        "story_id": number,
        "title": title,
        "updated_at": datetime.fromtimestamp(at + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "url": f"https://acme.example/blog/{number}",
    }
    hit.update(extra)
    return hit


def comment(number: int, at: int, html: str, **extra: Any) -> dict[str, Any]:
    """A comment hit as search_by_date returns it (text is HTML)."""
    hit: dict[str, Any] = {
        "_highlightResult": {
            "author": {"matchLevel": "none", "matchedWords": [], "value": "dang"},
            "comment_text": {
                "fullyHighlighted": False,
                "matchLevel": "full",
                "matchedWords": ["acme"],
                "value": html,
            },
        },
        "_tags": ["comment", "author_dang", "story_41000000"],
        "author": "dang",
        "children": [],
        "comment_text": html,
        "created_at": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "created_at_i": at,
        "objectID": str(number),
        "parent_id": 41000000,
        "story_id": 41000000,
        "story_title": "Ask HN: Which rocket skates do you use?",
        "story_url": None,
        "updated_at": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    hit.update(extra)
    return hit


@dataclass
class Algolia:
    """The search_by_date endpoint over a list of hits, newest first, with the hit cap."""

    hits: list[dict[str, Any]] = field(default_factory=list)
    cap: int = 1000
    requests: list[dict[str, str]] = field(default_factory=list)
    replies: list[web.Response] = field(default_factory=list)  # answered before searching

    async def search_by_date(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        if self.replies:
            return self.replies.pop(0)
        query = request.query.get("query", "").casefold()
        tags = request.query.get("tags", "").strip("()").split(",")
        per_page = int(request.query.get("hitsPerPage", "20"))
        page = int(request.query.get("page", "0"))
        found = [
            hit
            for hit in self.hits
            if query in _searchable(hit)
            and any(tag in hit.get("_tags", ()) for tag in tags)
            and _numeric_ok(hit, request.query.get("numericFilters", ""))
        ]
        found.sort(key=lambda hit: _stamp(hit), reverse=True)
        nb_pages = min(math.ceil(len(found) / per_page), self.cap // per_page)
        served = found[page * per_page : (page + 1) * per_page] if page < nb_pages else []
        return web.json_response(
            {
                "exhaustive": {"nbHits": True, "typo": True},
                "exhaustiveNbHits": True,
                "exhaustiveTypo": True,
                "hits": served,
                "hitsPerPage": per_page,
                "nbHits": len(found),
                "nbPages": nb_pages,
                "page": page,
                "params": request.query_string,
                "processingTimeMS": 1,
                "query": request.query.get("query", ""),
                "serverTimeMS": 2,
            }
        )


def _stamp(hit: dict[str, Any]) -> int:
    value = hit.get("created_at_i")
    return value if isinstance(value, int) else -1


def _searchable(hit: dict[str, Any]) -> str:
    fields = ("title", "comment_text", "story_text")
    return " ".join(str(hit.get(name) or "") for name in fields).casefold()


_OPERATORS = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}


def _numeric_ok(hit: dict[str, Any], filters: str) -> bool:
    for condition in filter(None, filters.split(",")):
        for symbol, compare in _OPERATORS.items():
            if symbol in condition:
                name, value = condition.split(symbol)
                have = hit.get(name.strip())
                # a hit whose value is not a number passes, so malformed hits reach the source
                if isinstance(have, int) and not compare(have, int(value)):
                    return False
                break
    return True


@pytest.fixture
async def algolia() -> AsyncIterator[tuple[Algolia, str]]:
    """A fake Algolia HN API and its base URL (the part before /search_by_date)."""
    fake = Algolia()
    app = web.Application()
    app.router.add_get("/api/v1/search_by_date", fake.search_by_date)
    async with serve(app) as url:
        yield fake, f"{url}/api/v1"


async def test_a_story_and_a_comment_map_every_field(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """Story title/text/points and comment HTML become plain-text mentions with links and authors."""
    fake, url = algolia
    ask = story(
        41000000,
        T0,
        "Ask HN: Is Acme worth it?",
        url=None,
        story_text="I&#x27;m evaluating <i>Acme</i> &amp; friends.<p>Thoughts? 🚀",
    )
    reply = comment(
        41000001,
        T0 + 60,
        "Acme&#x27;s support is &quot;great&quot; &gt; theirs<p>See "
        '<a href="https://acme.example/docs" rel="nofollow">https://acme.example/docs</a>'
        "<p><pre><code>  acme --fly\n    indented\n</code></pre>",
    )
    fake.hits = [ask, reply]
    source = HackerNewsSource(base_url=url)
    page = await source.fetch(ctx, target(), None)
    by_id = {m.external_id: m for m in page.mentions}
    asked, replied = by_id["41000000"], by_id["41000001"]
    assert asked.source == "hackernews" and asked.brand == BRAND
    assert asked.title == "Ask HN: Is Acme worth it?"
    assert (
        asked.text == "Ask HN: Is Acme worth it?\n\nI'm evaluating Acme & friends.\n\nThoughts? 🚀"
    )
    assert asked.url == "https://news.ycombinator.com/item?id=41000000"
    assert asked.created_at == datetime.fromtimestamp(T0, UTC)
    assert asked.engagement == {"score": 57, "replies": 3}
    assert asked.author.handle == asked.author.id == "pg"
    assert asked.author.url == "https://news.ycombinator.com/user?id=pg"
    assert asked.raw == ask
    assert replied.text == (
        'Acme\'s support is "great" > theirs\n\nSee https://acme.example/docs\n\n'
        "  acme --fly\n    indented"
    )
    assert replied.title == "Ask HN: Which rocket skates do you use?"
    assert replied.author.handle == "dang" and replied.engagement == {}
    assert replied.raw == reply
    assert fake.requests[0]["tags"] == "(story,comment)"
    assert fake.requests[0]["query"] == "acme"


async def test_a_very_long_unicode_comment_is_kept_whole(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """Long texts with emoji and non-Latin scripts come through unchanged."""
    fake, url = algolia
    fake.hits = [comment(42, T0, LONG)]
    page = await HackerNewsSource(base_url=url).fetch(ctx, target(), None)
    assert page.mentions[0].text == LONG.strip()


async def test_a_first_run_pages_back_to_since_and_stops(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """With since, the first run asks for nothing older and pages until the window ends."""
    fake, url = algolia
    fake.hits = [story(100 + i, T0 + 60 * i, f"Acme post {i}") for i in range(55)]
    since = T0 + 60 * 10
    result = await run(HackerNewsSource(base_url=url, hits_per_page=20), ctx, target(since=since))
    assert result.ids == {str(100 + i) for i in range(10, 55)}
    assert all(m.created_at >= datetime.fromtimestamp(since, UTC) for m in result.mentions)
    assert [r["page"] for r in fake.requests] == ["0", "1", "2"]
    assert all(f"created_at_i>={since}" in r["numericFilters"] for r in fake.requests)
    assert term_state(result.cursor, "acme") == {"newest": T0 + 60 * 54, "walk": None}
    assert result.pages[-1].more is False


async def test_a_first_run_without_since_takes_only_the_newest_page(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """No since and no cursor: one page of the newest hits, no back-fill."""
    fake, url = algolia
    fake.hits = [story(100 + i, T0 + 60 * i, f"Acme post {i}") for i in range(30)]
    result = await run(HackerNewsSource(base_url=url, hits_per_page=10), ctx, target())
    assert result.ids == {str(100 + i) for i in range(20, 30)}
    assert len(fake.requests) == 1 and "numericFilters" not in fake.requests[0]


async def test_a_second_run_fetches_only_newer_items(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """The cursor keeps the newest time seen; the next run asks only from there."""
    fake, url = algolia
    fake.hits = [story(100 + i, T0 + 60 * i, f"Acme post {i}") for i in range(5)]
    source = HackerNewsSource(base_url=url)
    first = await run(source, ctx, target(since=T0))
    assert len(first.ids) == 5
    fake.hits += [comment(200 + i, T0 + 1000 + i, f"Acme again {i}") for i in range(3)]
    fake.requests.clear()
    second = await run(source, ctx, target(since=T0), first.cursor)
    newest = T0 + 60 * 4
    assert fake.requests[0]["numericFilters"] == f"created_at_i>={newest}"
    # the newest item of the first run is at the boundary second and may come again
    assert second.ids - {"104"} == {"200", "201", "202"}
    third = await run(source, ctx, target(since=T0), second.cursor)
    assert third.ids <= {"202"}


async def test_the_hit_cap_slides_the_window_instead_of_paging_past_it(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """Past Algolia's hit cap the upper created_at_i bound moves down; no page beyond the cap."""
    fake, url = algolia
    fake.cap = 50  # stands in for the real 1,000 so the test stays small
    fake.hits = [story(1000 + i, T0 + 60 * i, f"Acme post {i}") for i in range(130)]
    result = await run(HackerNewsSource(base_url=url, hits_per_page=20), ctx, target(since=T0))
    assert result.ids == {str(1000 + i) for i in range(130)}
    assert all((int(r["page"]) + 1) * 20 <= fake.cap for r in fake.requests)
    uppers = [
        int(part.split("<=")[1])
        for r in fake.requests
        for part in r.get("numericFilters", "").split(",")
        if "<=" in part
    ]
    assert uppers == sorted(uppers, reverse=True) and len(set(uppers)) >= 3


async def test_the_real_cap_of_1000_hits_is_never_paged_past(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """With 100 hits a page, page 9 is the last one asked for in any window."""
    fake, url = algolia
    fake.hits = [comment(5000 + i, T0 + i, f"acme {i}") for i in range(1150)]
    result = await run(HackerNewsSource(base_url=url), ctx, target(since=T0))
    assert len(result.ids) == 1150
    assert max(int(r["page"]) for r in fake.requests) == 9


async def test_each_term_is_searched_with_its_own_place(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """Several terms are searched one after another, each remembering its newest hit."""
    fake, url = algolia
    fake.hits = [
        story(1, T0, "Acme Corp raises"),
        story(2, T0 + 10, "Roadrunner vs acme"),
        comment(3, T0 + 20, "I love Wile E. products"),
    ]
    two_terms = target("acme corp", "wile e.", since=T0)
    result = await run(HackerNewsSource(base_url=url), ctx, two_terms)
    assert result.ids == {"1", "3"}
    assert [r["query"] for r in fake.requests] == ["acme corp", "wile e."]
    assert term_state(result.cursor, "acme corp")["newest"] == T0
    assert term_state(result.cursor, "wile e.")["newest"] == T0 + 20


async def test_duplicates_across_pages_do_not_make_the_cursor_loop(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """The same objectID on two pages is passed on twice and the run still ends."""
    fake, url = algolia
    fake.hits = [story(10 + i, T0 + i, f"acme {i}") for i in range(6)]
    fake.hits.append(copy.deepcopy(fake.hits[3]))  # a late re-index: the same hit twice
    result = await run(HackerNewsSource(base_url=url, hits_per_page=2), ctx, target(since=T0))
    assert len(result.mentions) == 7 and len(result.ids) == 6
    assert len(result.pages) == 4


async def test_an_empty_result_ends_the_run_and_remembers_when_it_looked(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """No hits: an empty page, no more pages, and the next run does not start from scratch."""
    _, url = algolia
    source = HackerNewsSource(base_url=url)
    page = await source.fetch(ctx, target(), None)
    assert page.mentions == [] and page.more is False
    assert isinstance(term_state(page.cursor, "acme")["newest"], int)


async def test_an_unparseable_hit_is_dead_lettered_and_the_rest_kept(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """A hit without objectID or time goes to unparsed with its reason; good hits stay."""
    fake, url = algolia
    no_id = story(1, T0 + 5, "acme no id")
    del no_id["objectID"]
    bad_time = comment(2, T0 + 4, "acme bad time", created_at_i="yesterday")
    fake.hits = [no_id, bad_time, story(3, T0 + 3, "acme fine")]
    page = await HackerNewsSource(base_url=url).fetch(ctx, target(since=T0), None)
    assert [m.external_id for m in page.mentions] == ["3"]
    assert [reason for reason, _ in page.unparsed] == [
        "hit has no objectID",
        "hit has no numeric created_at_i",
    ]
    assert page.unparsed[0][1] == no_id


async def test_deleted_comments_are_dropped(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """Placeholders of deleted or flagged comments are not mentions."""
    fake, url = algolia
    fake.hits = [
        comment(1, T0 + 2, "[flagged]", author=None, _tags=["comment", "story_1"]),
        comment(2, T0 + 1, ""),
        comment(3, T0, "acme is fine"),
    ]
    page = await HackerNewsSource(base_url=url).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == ["3"] and page.unparsed == []


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (lambda: web.json_response({}, status=429, headers={"Retry-After": "17"}), RateLimited, "rate limited"),
        (lambda: web.Response(status=500, text="Internal Server Error"), SourceUnavailable, "HTTP 500"),
        (lambda: web.Response(text='{"hits": [{"objectID": "1"', content_type="application/json"), SourceUnavailable, "cut short"),
        (lambda: web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"), SourceUnavailable, "HTML page"),
        (lambda: web.json_response({"message": "ok", "results": []}), BadPayload, "'hits'"),
    ],
)  # fmt: skip
async def test_failures_become_the_errors_the_runner_acts_on(
    algolia: tuple[Algolia, str],
    ctx: CollectContext,
    reply: Any,
    error: type[Exception],
    words: str,
) -> None:
    """429 waits Retry-After, 5xx is retried, truncated JSON or an HTML page is a bad payload."""
    fake, url = algolia
    fake.replies.append(reply())
    with pytest.raises(error, match=words) as caught:
        await HackerNewsSource(base_url=url).fetch(ctx, target(), None)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 17


async def test_a_cursor_survives_a_restart_mid_walk(
    algolia: tuple[Algolia, str], ctx: CollectContext
) -> None:
    """A cursor saved after page one (as JSON) resumes at page two in a new source object."""
    fake, url = algolia
    fake.hits = [story(10 + i, T0 + i, f"acme {i}") for i in range(5)]
    first = await HackerNewsSource(base_url=url, hits_per_page=2).fetch(ctx, target(since=T0), None)
    assert first.more is True
    saved = json.loads(json.dumps(first.cursor))
    rest = await run(HackerNewsSource(base_url=url, hits_per_page=2), ctx, target(since=T0), saved)
    assert {m.external_id for m in first.mentions} | rest.ids == {str(10 + i) for i in range(5)}
    assert [r["page"] for r in fake.requests] == ["0", "1", "2"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stories": False, "comments": False},
        {"hits_per_page": 0},
        {"hits_per_page": 1001},
        {"hits_per_page": "100"},
        {"stories": "yes"},
        {"base_url": "hn.algolia.com/api/v1"},
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kwargs: dict[str, Any]) -> None:
    """The constructor refuses values the API cannot serve."""
    with pytest.raises(ValueError, match=r"must"):
        HackerNewsSource(**kwargs)


def test_only_comments_asks_for_the_comment_tag() -> None:
    """stories=False searches comments alone."""
    assert HackerNewsSource(stories=False).tags == "comment"


async def test_a_cursor_with_a_dotted_term_round_trips_through_the_store(
    algolia: tuple[Algolia, str], ctx: CollectContext, store: Database
) -> None:
    """The cursor (terms such as "acme.com" included) is saved and read back by MongoDB intact."""
    fake, url = algolia
    fake.hits = [story(10 + i, T0 + i, f"acme.com {i}") for i in range(3)]
    source = HackerNewsSource(base_url=url, hits_per_page=2)
    page = await source.fetch(ctx, target("acme.com", "$acme", since=T0), None)
    await store.cursors.record_success(BRAND, source.name, page.cursor, len(page.mentions))
    saved = (await store.cursors.get(BRAND, source.name)).cursor
    assert saved == page.cursor
    rest = await run(source, ctx, target("acme.com", "$acme", since=T0), saved)
    assert {m.external_id for m in page.mentions} | rest.ids == {"10", "11", "12"}
