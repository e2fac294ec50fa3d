"""The Stack Exchange source against a local server that speaks API 2.3's /search/advanced."""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from collector.base import CollectContext
from collector.sources.stackexchange import StackExchangeSource
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable
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

KEY = "U4DMV*8nvpm3EOpvf69Rxw(("  # the shape of a stackapps key


def question(
    number: int, at: int, title: str | None = "Acme SDK question", **extra: Any
) -> dict[str, Any]:
    """A question as /search/advanced returns it with filter=withbody."""
    item: dict[str, Any] = {
        "tags": ["python", "acme-sdk"],
        "owner": {
            "account_id": 9_100_000 + number,
            "reputation": 1520,
            "user_id": 4_500_000 + number,
            "user_type": "registered",
            "accept_rate": 80,
            "profile_image": "https://www.gravatar.com/avatar/0f1e?s=256&d=identicon&r=PG",
            "display_name": "Jos&#233; D&#39;Angelo",
            "link": f"https://stackoverflow.com/users/{4_500_000 + number}/jos%c3%a9-dangelo",
        },
        "is_answered": True,
        "view_count": 1234,
        "accepted_answer_id": 80_000_000 + number,
        "answer_count": 2,
        "score": 5,
        "last_activity_date": at + 7200,
        "creation_date": at,
        "last_edit_date": at + 600,
        "question_id": number,
        "content_license": "CC BY-SA 4.0",
        "link": f"https://stackoverflow.com/questions/{number}/acme-sdk-question",
        "title": title,
        "body": "<p>Using <code>acme-sdk</code> here.</p>\n",
    }
    item.update(extra)
    return item


@dataclass
class StackExchange:
    """/2.3/search/advanced over a list of questions, newest first, gzip-compressed."""

    questions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    replies: list[web.Response] = field(default_factory=list)  # answered before searching
    backoff: dict[int, int] = field(default_factory=dict)  # request number -> backoff field
    quota_remaining: int = 299

    async def search(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append(query)
        if self.replies:
            return self.replies.pop(0)
        page, size = int(query.get("page", "1")), int(query.get("pagesize", "30"))
        if page > 25 and "key" not in query:
            return web.json_response(
                {
                    "error_id": 403,
                    "error_message": "page above 25 requires access token or app key",
                    "error_name": "access_denied",
                },
                status=400,
            )
        words = query.get("q", "").casefold()
        low, high = int(query.get("fromdate", "0")), int(query.get("todate", str(2**40)))
        found = [
            item
            for item in self.questions
            if words in (str(item.get("title")) + str(item.get("body"))).casefold()
            and low <= _stamp(item) <= high
        ]
        found.sort(key=_stamp, reverse=True)
        served = found[(page - 1) * size : page * size]
        self.quota_remaining = max(self.quota_remaining - 1, 0)
        wrapper: dict[str, Any] = {
            "items": served,
            "has_more": page * size < len(found),
            "quota_max": 10000 if "key" in query else 300,
            "quota_remaining": self.quota_remaining,
        }
        if len(self.requests) in self.backoff:
            wrapper["backoff"] = self.backoff[len(self.requests)]
        response = web.json_response(wrapper)
        response.enable_compression()  # the API always gzips its answers
        return response


def _stamp(item: dict[str, Any]) -> int:
    value = item.get("creation_date")
    return value if isinstance(value, int) else T0


@pytest.fixture
async def api() -> AsyncIterator[tuple[StackExchange, str]]:
    """A fake Stack Exchange API and its base URL (version included)."""
    fake = StackExchange()
    app = web.Application()
    app.router.add_get("/2.3/search/advanced", fake.search)
    async with serve(app) as url:
        yield fake, f"{url}/2.3"


async def test_a_question_maps_every_field(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """Escaped title, HTML body, owner, counts and link become a plain-text mention."""
    fake, url = api
    asked = question(
        79_000_001,
        T0,
        title="Why does Acme SDK raise &quot;TimeoutError&quot; when I&#39;m offline?",
        body=(
            "<p>I&#39;m using <code>acme-sdk</code> 2.1 &amp; it fails:</p>\n\n"
            "<pre><code>import acme\n    acme.connect()\n</code></pre>\n\n"
            '<p>Any idea? 🙏 <a href="https://acme.example">docs</a></p>\n'
        ),
    )
    fake.questions = [asked]
    page = await StackExchangeSource(base_url=url).fetch(ctx, target(), None)
    [mention] = page.mentions
    title = 'Why does Acme SDK raise "TimeoutError" when I\'m offline?'
    assert mention.source == "stackexchange" and mention.brand == BRAND
    assert mention.external_id == "79000001"
    assert mention.title == title
    assert mention.text == (
        f"{title}\n\nI'm using acme-sdk 2.1 & it fails:\n\n"
        "import acme\n    acme.connect()\n\nAny idea? 🙏 docs"
    )
    assert mention.url == "https://stackoverflow.com/questions/79000001/acme-sdk-question"
    assert mention.created_at == datetime.fromtimestamp(T0, UTC)
    assert mention.engagement == {"score": 5, "replies": 2, "views": 1234}
    assert mention.author.id == str(4_500_000 + 79_000_001)
    assert mention.author.display_name == "José D'Angelo"
    assert mention.author.url == asked["owner"]["link"]
    assert mention.lang == "en"
    assert mention.raw == asked
    sent = fake.requests[0]
    assert sent["site"] == "stackoverflow" and sent["q"] == "acme"
    assert (sent["sort"], sent["order"], sent["filter"]) == ("creation", "desc", "withbody")


async def test_a_very_long_unicode_body_is_kept(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """A long body in several scripts, with emoji, comes through as text."""
    fake, url = api
    long = "Acme ünïcödé 🚀 ещё 日本語 " * 2000
    fake.questions = [question(1, T0, body=f"<p>{long}</p>")]
    page = await StackExchangeSource(base_url=url).fetch(ctx, target(), None)
    assert page.mentions[0].text.endswith(long.strip())


async def test_a_deleted_owner_keeps_a_name_but_no_id(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """An owner whose account is gone (user_type does_not_exist) has no id or link."""
    fake, url = api
    fake.questions = [
        question(1, T0, owner={"user_type": "does_not_exist", "display_name": "user123"})
    ]
    page = await StackExchangeSource(base_url=url).fetch(ctx, target(), None)
    author = page.mentions[0].author
    assert (author.id, author.display_name, author.url) == (None, "user123", None)


async def test_a_first_run_pages_back_to_since_and_stops(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """With since, fromdate bounds the search and pages run until has_more is false."""
    fake, url = api
    fake.questions = [question(100 + i, T0 + 60 * i) for i in range(25)]
    since = T0 + 60 * 5
    result = await run(StackExchangeSource(base_url=url, pagesize=8), ctx, target(since=since))
    assert result.ids == {str(100 + i) for i in range(5, 25)}
    assert [r["page"] for r in fake.requests] == ["1", "2", "3"]
    assert all(r["fromdate"] == str(since) for r in fake.requests)
    assert "todate" not in fake.requests[0]
    assert all(r["todate"] == str(T0 + 60 * 24) for r in fake.requests[1:])
    assert term_state(result.cursor, "acme") == {"newest": T0 + 60 * 24, "walk": None}


async def test_a_first_run_without_since_takes_only_the_newest_page(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """No since and no cursor: the newest page only."""
    fake, url = api
    fake.questions = [question(100 + i, T0 + i) for i in range(12)]
    result = await run(StackExchangeSource(base_url=url, pagesize=5), ctx, target())
    assert result.ids == {str(100 + i) for i in range(7, 12)}
    assert len(fake.requests) == 1 and "fromdate" not in fake.requests[0]


async def test_a_second_run_fetches_only_newer_questions(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """The next run's fromdate is the newest creation_date already collected."""
    fake, url = api
    fake.questions = [question(100 + i, T0 + 60 * i) for i in range(4)]
    source = StackExchangeSource(base_url=url)
    first = await run(source, ctx, target(since=T0))
    fake.questions += [question(200, T0 + 900), question(201, T0 + 960)]
    fake.requests.clear()
    second = await run(source, ctx, target(since=T0), first.cursor)
    assert fake.requests[0]["fromdate"] == str(T0 + 180)
    assert second.ids - {"103"} == {"200", "201"}


async def test_page_25_is_the_deepest_and_todate_slides_past_it(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """Without a key no page above 25 is asked for; todate moves down to go deeper."""
    fake, url = api
    fake.questions = [question(1000 + i, T0 + 60 * i) for i in range(130)]
    result = await run(StackExchangeSource(base_url=url, pagesize=2), ctx, target(since=T0))
    assert result.ids == {str(1000 + i) for i in range(130)}
    assert max(int(r["page"]) for r in fake.requests) == 25
    todates = [int(r["todate"]) for r in fake.requests if "todate" in r]
    assert todates == sorted(todates, reverse=True) and len(set(todates)) >= 3


async def test_each_term_is_searched_with_its_own_place(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """Terms are searched one after another (q has no OR), each with its own newest time."""
    fake, url = api
    fake.questions = [
        question(1, T0, title="acme corp billing"),
        question(2, T0 + 5, title="roadrunner", body="<p>Beep</p>"),
    ]
    two_terms = target("acme corp", "roadrunner", since=T0)
    result = await run(StackExchangeSource(base_url=url), ctx, two_terms)
    assert result.ids == {"1", "2"}
    assert [r["q"] for r in fake.requests] == ["acme corp", "roadrunner"]
    assert term_state(result.cursor, "roadrunner")["newest"] == T0 + 5


async def test_duplicates_across_pages_do_not_make_the_cursor_loop(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """The same question on two pages is passed on twice and the run ends."""
    fake, url = api
    fake.questions = [question(10 + i, T0 + i) for i in range(5)]
    fake.questions.append(copy.deepcopy(fake.questions[2]))
    result = await run(StackExchangeSource(base_url=url, pagesize=2), ctx, target(since=T0))
    assert len(result.mentions) == 6 and len(result.ids) == 5 and len(result.pages) == 3


async def test_an_empty_result_is_an_empty_last_page(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """No questions: no mentions, no more pages, and a newest time for the next run."""
    _, url = api
    page = await StackExchangeSource(base_url=url).fetch(ctx, target(), None)
    assert page.mentions == [] and page.more is False
    assert isinstance(term_state(page.cursor, "acme")["newest"], int)


async def test_an_unparseable_question_is_dead_lettered_and_the_rest_kept(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """Items without an id, a date or a title go to unparsed with their reason."""
    fake, url = api
    no_id = question(1, T0 + 3)
    del no_id["question_id"]
    fake.questions = [
        no_id,
        question(2, T0 + 2, creation_date="2025-11-01"),
        question(3, T0 + 1, title=None, body="<p>acme</p>"),
        question(4, T0),
    ]
    page = await StackExchangeSource(base_url=url).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == ["4"]
    assert {reason for reason, _ in page.unparsed} == {
        "question has no numeric question_id",
        "question has no numeric creation_date",
        "question has no title",
    }


async def test_a_backoff_keeps_the_page_and_delays_the_next_request(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """A backoff field with data: the page is kept, the next fetch waits the backoff out."""
    fake, url = api
    fake.questions = [question(10 + i, T0 + i) for i in range(4)]
    fake.backoff = {1: 10}
    source = StackExchangeSource(base_url=url, pagesize=2)
    first = await source.fetch(ctx, target(since=T0), None)
    assert len(first.mentions) == 2 and first.more is True
    assert first.cursor["not_before"] == pytest.approx(time.time() + 10, abs=2)
    with pytest.raises(RateLimited) as caught:
        await source.fetch(ctx, target(since=T0), first.cursor)
    assert 8 <= caught.value.retry_after <= 10
    assert len(fake.requests) == 1  # nothing was sent while backing off
    waited = {**first.cursor, "not_before": time.time() - 1}
    second = await source.fetch(ctx, target(since=T0), waited)
    assert len(second.mentions) == 2 and second.cursor["not_before"] is None


async def test_a_spent_quota_ends_the_run_until_midnight_utc(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """quota_remaining 0: the page is kept, the run ends, the next fetch is rate limited."""
    fake, url = api
    fake.questions = [question(10 + i, T0 + i) for i in range(4)]
    fake.quota_remaining = 1
    source = StackExchangeSource(base_url=url, pagesize=2)
    page = await source.fetch(ctx, target(since=T0), None)
    assert len(page.mentions) == 2 and page.more is False
    with pytest.raises(RateLimited) as caught:
        await source.fetch(ctx, target(since=T0), page.cursor)
    assert 0 < caught.value.retry_after <= 86_400


@pytest.mark.parametrize(
    ("message", "wait"),
    [
        ("too many requests from this IP, more requests available in 83453 seconds", 83453),
        ("Violation of backoff parameter", 60),
    ],
)
async def test_a_throttle_violation_is_rate_limited(
    api: tuple[StackExchange, str], ctx: CollectContext, message: str, wait: int
) -> None:
    """Error 502 throttle_violation (sent under HTTP 400) waits as long as its message says."""
    fake, url = api
    body = {"error_id": 502, "error_message": message, "error_name": "throttle_violation"}
    fake.replies.append(web.json_response(body, status=400))
    with pytest.raises(RateLimited, match="throttle_violation") as caught:
        await StackExchangeSource(base_url=url).fetch(ctx, target(), None)
    assert caught.value.retry_after == wait


async def test_a_bad_parameter_names_the_api_error(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """Error 400 bad_parameter is a SourceError quoting the API's message."""
    fake, url = api
    body = {"error_id": 400, "error_message": "site", "error_name": "bad_parameter"}
    fake.replies.append(web.json_response(body, status=400))
    with pytest.raises(SourceError, match="bad_parameter: site") as caught:
        await StackExchangeSource(base_url=url, site="stackoverfow").fetch(ctx, target(), None)
    assert not isinstance(caught.value, RateLimited | SourceUnavailable)


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (lambda: web.Response(status=429, headers={"Retry-After": "30"}), RateLimited, "rate limited"),
        (lambda: web.Response(status=500, text="Internal Server Error"), SourceUnavailable, "HTTP 500"),
        (lambda: web.json_response({"error_id": 503, "error_message": "down", "error_name": "temporarily_unavailable"}, status=503), SourceUnavailable, "temporarily_unavailable"),
        (lambda: web.Response(text='{"items": [{"question_id": 1', content_type="application/json"), BadPayload, "not JSON"),
        (lambda: web.Response(text="<!DOCTYPE html><html><body>Stack Exchange is down</body></html>", content_type="text/html"), BadPayload, "not JSON"),
        (lambda: web.json_response({"quota_max": 300, "quota_remaining": 200}), BadPayload, "'items'"),
    ],
)  # fmt: skip
async def test_failures_become_the_errors_the_runner_acts_on(
    api: tuple[StackExchange, str],
    ctx: CollectContext,
    reply: Any,
    error: type[Exception],
    words: str,
) -> None:
    """429, 5xx, truncated JSON, an HTML page and a wrapper without items map to source errors."""
    fake, url = api
    fake.replies.append(reply())
    with pytest.raises(error, match=words) as caught:
        await StackExchangeSource(base_url=url, key=SecretStr(KEY)).fetch(ctx, target(), None)
    assert KEY not in str(caught.value)


async def test_the_key_is_sent_as_a_parameter_and_kept_out_of_mentions_and_errors(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """The app key goes in the key parameter; no mention or error message shows it."""
    fake, url = api
    fake.questions = [question(1, T0)]
    source = StackExchangeSource(base_url=url, key=SecretStr(KEY))
    page = await source.fetch(ctx, target(), None)
    assert fake.requests[0]["key"] == KEY
    assert KEY not in page.mentions[0].model_dump_json() and KEY not in str(page.cursor)
    echo = {
        "error_id": 400,
        "error_message": f"key {KEY} is invalid",
        "error_name": "bad_parameter",
    }
    fake.replies.append(web.json_response(echo, status=400))
    with pytest.raises(SourceError) as caught:
        await source.fetch(ctx, target(), None)
    assert KEY not in str(caught.value) and "is invalid" in str(caught.value)
    assert KEY not in repr(source.key)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pagesize": 0},
        {"pagesize": 101},
        {"pagesize": "30"},
        {"tagged": "python"},
        {"site": "Stack Overflow"},
        {"tagged": ["python;java"]},
        {"base_url": "api.stackexchange.com/2.3"},
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(kwargs: dict[str, Any]) -> None:
    """The constructor refuses values the API cannot take."""
    with pytest.raises(ValueError, match=r"must"):
        StackExchangeSource(**kwargs)


async def test_tagged_is_sent_semicolon_separated(
    api: tuple[StackExchange, str], ctx: CollectContext
) -> None:
    """tagged narrows the search to questions with one of the tags."""
    fake, url = api
    await StackExchangeSource(base_url=url, tagged=["python", "acme-sdk"]).fetch(
        ctx, target(), None
    )
    assert fake.requests[0]["tagged"] == "python;acme-sdk"
