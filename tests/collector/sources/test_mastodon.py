"""The Mastodon source against a local server that speaks Mastodon's REST API as documented."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from collector.base import CollectContext, Target
from collector.sources._text import html_to_text
from collector.sources.mastodon import MastodonSource
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable
from goodwill.models import utcnow
from tests.collector.sources._server_mray import Api, context, json_response, run, serve, stored

BRAND = "Acme"
TOKEN = "tok-Zm9vYmFyYmF6cXV4LXNlY3JldA"
H0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LONG_HTML = "<p>" + "Acme's checkout broke again. Ünïcödé ☕️ 日本語のテキスト. " * 300 + "</p>"


def snowflake(at: datetime, sequence: int = 0) -> str:
    """A Mastodon status id: milliseconds since the epoch, shifted left 16 bits."""
    return str((int(at.timestamp() * 1000) << 16) + sequence)


def account(acct: str = "grumpy@chaos.social", **extra: Any) -> dict[str, Any]:
    """An Account entity as the API returns it."""
    username, _, domain = acct.partition("@")
    host = domain or "mastodon.social"
    value: dict[str, Any] = {
        "id": "109382912345678901",
        "username": username,
        "acct": acct,
        "display_name": "Grumpy Customer ☕",
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": "2022-11-20T00:00:00.000Z",
        "note": "<p>Opinions are my own.</p>",
        "url": f"https://{host}/@{username}",
        "uri": f"https://{host}/users/{username}",
        "avatar": f"https://files.{host}/avatars/original/missing.png",
        "avatar_static": f"https://files.{host}/avatars/original/missing.png",
        "header": f"https://{host}/headers/original/missing.png",
        "header_static": f"https://{host}/headers/original/missing.png",
        "followers_count": 1234,
        "following_count": 56,
        "statuses_count": 789,
        "last_status_at": "2026-11-02",
        "emojis": [],
        "fields": [],
    }
    value.update(extra)
    return value


def status(
    at: datetime,
    html: str = '<p>Loving my new <a href="https://mastodon.social/tags/acme" class="mention hashtag" rel="tag">#<span>acme</span></a> rocket skates 🚀</p>',
    *,
    sequence: int = 0,
    tags: tuple[str, ...] = ("acme",),
    **extra: Any,
) -> dict[str, Any]:
    """A Status entity as the API returns it (fields as in the entity's documentation)."""
    ident = snowflake(at, sequence)
    value: dict[str, Any] = {
        "id": ident,
        "created_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"https://chaos.social/users/grumpy/statuses/{ident}",
        "url": f"https://chaos.social/@grumpy/{ident}",
        "replies_count": 2,
        "reblogs_count": 5,
        "favourites_count": 17,
        "edited_at": None,
        "content": html,
        "reblog": None,
        "application": None,
        "account": account(),
        "media_attachments": [],
        "mentions": [],
        "tags": [{"name": tag, "url": f"https://mastodon.social/tags/{tag}"} for tag in tags],
        "emojis": [],
        "card": None,
        "poll": None,
    }
    value.update(extra)
    return value


@dataclass
class Instance:
    """The state of the fake instance: its statuses and its rate-limit budget."""

    statuses: list[dict[str, Any]] = field(default_factory=list)
    remaining: int = 300
    reset: datetime | None = None

    def rate_headers(self) -> dict[str, str]:
        self.remaining = max(self.remaining - 1, 0)
        reset = self.reset or utcnow() + timedelta(minutes=5)
        return {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }


def _key(value: dict[str, Any]) -> int:
    return int(value["id"])


def paginate(
    request: web.Request, statuses: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """Mastodon's id paging: max_id/since_id bounds, min_id pages forward, limit <= 40."""
    limit = min(int(request.query.get("limit", "20")), 40)
    ordered = sorted(statuses, key=_key, reverse=True)
    if "max_id" in request.query:
        ordered = [s for s in ordered if _key(s) < int(request.query["max_id"])]
    if "since_id" in request.query:
        ordered = [s for s in ordered if _key(s) > int(request.query["since_id"])]
    if "min_id" in request.query:
        ordered = [s for s in ordered if _key(s) > int(request.query["min_id"])]
        chosen = sorted(ordered, key=_key)[:limit]
        page = sorted(chosen, key=_key, reverse=True)
    else:
        page = ordered[:limit]
    if not page:
        return page, None
    base = str(request.url.with_query(None))
    link = (
        f'<{base}?limit={limit}&max_id={page[-1]["id"]}>; rel="next", '
        f'<{base}?limit={limit}&min_id={page[0]["id"]}>; rel="prev"'
    )
    return page, link


def routes(instance: Instance) -> Any:
    def add(app: web.Application, api: Api) -> None:
        async def tag(request: web.Request) -> web.Response:
            name = request.match_info["hashtag"].lower()
            tagged = [
                s for s in instance.statuses if name in {t["name"].lower() for t in s["tags"]}
            ]
            page, link = paginate(request, tagged)
            headers = instance.rate_headers()
            if link:
                headers["Link"] = link
            return json_response(page, headers=headers)

        async def search(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return json_response({"error": "The access token is invalid"}, status=401)
            words = request.query["q"].strip('"').lower()
            found = [s for s in instance.statuses if words in html_to_text(s["content"]).lower()]
            page, _ = paginate(request, found)
            body = {"accounts": [], "statuses": page, "hashtags": []}
            return json_response(body, headers=instance.rate_headers())

        app.router.add_get("/api/v1/timelines/tag/{hashtag}", tag)
        app.router.add_get("/api/v2/search", search)

    return add


@pytest.fixture
def instance() -> Instance:
    """A fake instance with 100 statuses tagged #acme, one every 10 minutes before H0."""
    return Instance([status(H0 - timedelta(minutes=10 * n)) for n in range(100)])


@pytest.fixture
async def api(instance: Instance) -> AsyncIterator[Api]:
    """The fake instance, served on 127.0.0.1."""
    async with serve(routes(instance)) as served:
        yield served


@pytest.fixture
async def ctx() -> AsyncIterator[CollectContext]:
    """A context with one real client session."""
    async with context() as value:
        yield value


def target(since: datetime | None = None, terms: tuple[str, ...] = ("acme",)) -> Target:
    return Target(BRAND, terms, since)


async def test_a_documented_status_maps_every_field(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """HTML content becomes plain text; uri, CW, language, account and counts are mapped."""
    html = (
        '<p>Day 3 without a refund from <span class="h-card" translate="no"><a '
        'href="https://mastodon.social/@acme" class="u-url mention">@<span>acme</span></a>'
        "</span> 😤 &amp; still waiting&#8230;</p><p>Order #A-1042, see <a "
        'href="https://acme.example/orders/1042/status?utm=masto" target="_blank" '
        'rel="nofollow noopener noreferrer" translate="no"><span class="invisible">https://'
        '</span><span class="ellipsis">acme.example/orders/1042/st</span><span '
        'class="invisible">atus?utm=masto</span></a><br />Never again. <a '
        'href="https://mastodon.social/tags/acme" class="mention hashtag" rel="tag">#<span>'
        'acme</span></a> <a href="https://mastodon.social/tags/kundenservice" class="mention '
        'hashtag" rel="tag">#<span>Kundenservice</span></a></p>'
    )
    newest = status(
        H0 + timedelta(minutes=1), html, spoiler_text="rant: Acme support", language="de"
    )
    instance.statuses = [newest]
    page = await MastodonSource(base_url=api.url).fetch(ctx, target(), None)
    [mention] = page.mentions
    assert mention.source == "mastodon" and mention.brand == BRAND
    assert mention.external_id == newest["uri"]
    assert mention.text == (
        "Day 3 without a refund from @acme 😤 & still waiting…\n\n"
        "Order #A-1042, see https://acme.example/orders/1042/status?utm=masto\n"
        "Never again. #acme #Kundenservice"
    )
    assert mention.title == "rant: Acme support"
    assert mention.url == newest["url"]
    assert mention.lang == "de"
    assert mention.created_at == H0 + timedelta(minutes=1)
    assert mention.author.id == "grumpy@chaos.social"
    assert mention.author.handle == "@grumpy@chaos.social"
    assert mention.author.display_name == "Grumpy Customer ☕"
    assert mention.author.followers == 1234
    assert mention.author.url == "https://chaos.social/@grumpy"
    assert mention.engagement == {"likes": 17, "reblogs": 5, "replies": 2}
    assert mention.raw == newest
    assert not page.unparsed and not page.more


async def test_local_accounts_get_the_instance_domain(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """A local account's acct has no domain; the handle gets the instance's host."""
    instance.statuses = [status(H0, account=account("acmefan"), url=None)]
    [mention] = (await MastodonSource(base_url=api.url).fetch(ctx, target(), None)).mentions
    assert mention.author.handle == "@acmefan@127.0.0.1"
    assert mention.url == mention.external_id  # no url: the uri links to the status


async def test_a_boost_is_taken_as_the_boosted_status(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """A reblog wrapper yields the original status, keyed by the original's uri."""
    original = status(H0 - timedelta(hours=5), "<p>Acme lost my parcel twice 📦</p>")
    boost = status(
        H0,
        "",
        account=account("booster@mastodon.online", display_name="Booster"),
        reblog=original,
        uri="https://mastodon.online/users/booster/statuses/1/activity",
    )
    instance.statuses = [boost]
    [mention] = (await MastodonSource(base_url=api.url).fetch(ctx, target(), None)).mentions
    assert mention.external_id == original["uri"]
    assert mention.text == "Acme lost my parcel twice 📦"
    assert mention.author.handle == "@grumpy@chaos.social"
    assert mention.created_at == H0 - timedelta(hours=5)
    assert mention.raw == boost


async def test_private_and_wordless_statuses_are_dropped(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """Followers-only / direct posts are not public talk; a media-only post has no words."""
    instance.statuses = [
        status(H0, sequence=1, visibility="private"),
        status(H0, sequence=2, visibility="direct"),
        status(H0, "<p></p>", sequence=3, media_attachments=[{"type": "image"}]),
        status(H0, sequence=4, visibility="unlisted"),
    ]
    page = await MastodonSource(base_url=api.url).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == [instance.statuses[3]["uri"]]


async def test_a_first_run_without_since_takes_the_newest_page(
    api: Api, ctx: CollectContext
) -> None:
    """No since: one page of the newest statuses, and the run is over."""
    result = await run(MastodonSource(base_url=api.url, limit=20), ctx, target())
    assert len(result.pages) == 1 and len(result.mentions) == 20
    assert result.mentions[0].created_at == H0
    assert api.seen[0].path == "/api/v1/timelines/tag/acme"
    assert api.seen[0].param("limit") == "20" and api.seen[0].param("max_id") is None


async def test_a_first_run_pages_back_to_since(api: Api, ctx: CollectContext) -> None:
    """With since, pages go back by the Link header's max_id until statuses are older."""
    since = H0 - timedelta(minutes=10 * 49)  # the 50 newest statuses
    result = await run(MastodonSource(base_url=api.url, limit=20), ctx, target(since))
    assert len(result.mentions) == 50 and len(set(result.ids)) == 50
    assert min(m.created_at for m in result.mentions) == since
    assert [page.more for page in result.pages] == [True, True, False]
    second = api.seen[1]
    assert second.param("max_id") == snowflake(H0 - timedelta(minutes=10 * 19))


async def test_a_second_run_fetches_only_newer_statuses(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """The next run asks since the newest status seen, and pages through all the new ones."""
    source = MastodonSource(base_url=api.url, limit=20)
    first = await run(source, ctx, target())
    newer = [status(H0 + timedelta(minutes=n + 1), sequence=n) for n in range(45)]
    instance.statuses += newer
    api.seen.clear()
    second = await run(source, ctx, target(), first.cursor)
    assert sorted(second.ids) == sorted(s["uri"] for s in newer)
    assert {request.param("since_id") for request in api.seen} == {snowflake(H0)}
    # 45 new statuses: pages of 20, 20 and 5, then one empty page ends the sweep.
    assert [len(page.mentions) for page in second.pages] == [20, 20, 5, 0]
    third = await run(source, ctx, target(), second.cursor)
    assert third.mentions == [] and len(third.pages) == 1


async def test_a_sweep_resumes_from_its_cursor_after_a_restart(
    api: Api, ctx: CollectContext
) -> None:
    """A cursor saved mid-sweep (a crash, a restart) continues where it stopped, no gap."""
    since = H0 - timedelta(minutes=10 * 59)
    source = MastodonSource(base_url=api.url, limit=20)
    page = await source.fetch(ctx, target(since), None)
    assert page.more
    restarted = MastodonSource(base_url=api.url, limit=20)
    rest = await run(restarted, ctx, target(since), stored(page.cursor))
    ids = [m.external_id for m in page.mentions] + rest.ids
    assert len(ids) == len(set(ids)) == 60


async def test_a_server_that_ignores_max_id_does_not_loop(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """The same page twice (duplicates) ends the sweep instead of asking again forever."""
    same = sorted(instance.statuses, key=_key, reverse=True)[:20]

    async def stuck(request: web.Request) -> web.Response:
        return json_response(same)

    api.override = stuck
    result = await run(
        MastodonSource(base_url=api.url, limit=20), ctx, target(H0 - timedelta(days=30))
    )
    assert len(result.pages) == 2 and len(set(result.ids)) == 20


async def test_hashtags_come_from_terms_without_spaces(api: Api, ctx: CollectContext) -> None:
    """Each one-word term is a hashtag stream; a phrase is not; an explicit list wins."""
    source = MastodonSource(base_url=api.url)
    await run(source, ctx, target(terms=("acme", "acme corp", "#AcmeSupport", "acme-corp")))
    assert api.paths() == ["/api/v1/timelines/tag/acme", "/api/v1/timelines/tag/acmesupport"]
    api.seen.clear()
    await run(MastodonSource(base_url=api.url, hashtags=["#Ünïcode"]), ctx, target())
    assert api.paths() == ["/api/v1/timelines/tag/ünïcode"]


async def test_search_runs_only_with_a_token_sent_as_bearer(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """Without a token search is skipped; with one it is sent as Authorization: Bearer."""
    instance.statuses.append(
        status(H0 + timedelta(minutes=5), "<p>acme corp support is great</p>", tags=())
    )
    await run(MastodonSource(base_url=api.url), ctx, target())
    assert all(path.startswith("/api/v1/timelines/tag/") for path in api.paths())
    api.seen.clear()
    source = MastodonSource(base_url=api.url, access_token=SecretStr(TOKEN))
    result = await run(source, ctx, target(terms=("acme", "acme corp")))
    searches = [request for request in api.seen if request.path == "/api/v2/search"]
    assert {request.param("q") for request in searches} == {"acme", '"acme corp"'}
    assert all(request.param("type") == "statuses" for request in searches)
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in api.seen)
    assert instance.statuses[-1]["uri"] in result.ids
    assert all(TOKEN not in repr(mention.raw) for mention in result.mentions)
    assert TOKEN not in repr(result.cursor)


async def test_a_refused_token_is_a_source_error_without_the_token(
    api: Api, ctx: CollectContext
) -> None:
    """A 401 names the credentials to check and never the token itself."""
    source = MastodonSource(base_url=api.url, access_token=SecretStr("wrong-" + TOKEN))
    with pytest.raises(SourceError, match="credentials") as caught:
        await run(source, ctx, target(terms=("acme corp",)))
    assert TOKEN not in str(caught.value) and TOKEN not in str(caught.value.url)


async def test_429_waits_for_retry_after(api: Api, ctx: CollectContext) -> None:
    """A 429 with Retry-After is a RateLimited with that wait."""

    async def limited(request: web.Request) -> web.Response:
        return json_response(
            {"error": "Too many requests"}, status=429, headers={"Retry-After": "7"}
        )

    api.override = limited
    with pytest.raises(RateLimited) as caught:
        await MastodonSource(base_url=api.url).fetch(ctx, target(), None)
    assert caught.value.retry_after == 7


async def test_429_without_retry_after_waits_for_the_reset(api: Api, ctx: CollectContext) -> None:
    """A 429 with only X-RateLimit-Reset waits until that time."""
    reset = utcnow() + timedelta(seconds=120)

    async def limited(request: web.Request) -> web.Response:
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        return json_response({"error": "Too many requests"}, status=429, headers=headers)

    api.override = limited
    with pytest.raises(RateLimited) as caught:
        await MastodonSource(base_url=api.url).fetch(ctx, target(), None)
    assert 100 < caught.value.retry_after <= 120


async def test_a_spent_budget_keeps_the_page_and_waits_before_the_next(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """X-RateLimit-Remaining 0: the page is kept, the next fetch waits for the reset."""
    instance.remaining = 1
    instance.reset = utcnow() + timedelta(seconds=90)
    source = MastodonSource(base_url=api.url, limit=20)
    page = await source.fetch(ctx, target(H0 - timedelta(days=30)), None)
    assert len(page.mentions) == 20 and page.more
    assert page.cursor["not_before"] is not None
    asked = len(api.seen)
    with pytest.raises(RateLimited) as caught:
        await source.fetch(ctx, target(H0 - timedelta(days=30)), stored(page.cursor))
    assert 60 < caught.value.retry_after <= 90
    assert len(api.seen) == asked  # nothing was sent while the budget is spent


async def test_500_is_unavailable(api: Api, ctx: CollectContext) -> None:
    """A 5xx is a SourceUnavailable (the runner retries)."""

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="We're sorry, but something went wrong on our end.")

    api.override = broken
    with pytest.raises(SourceUnavailable):
        await MastodonSource(base_url=api.url).fetch(ctx, target(), None)


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (
            b'[{"id": "1", "created_at": "2026-11-02T09:00:00.000Z", "content": "<p>tru',
            "application/json",
            SourceUnavailable,
        ),
        (
            b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
            SourceUnavailable,
        ),
        (b'{"error": "unexpected"}', "application/json", BadPayload),
    ],
)
async def test_a_body_that_is_not_a_list_of_statuses_is_an_error_of_its_kind(
    api: Api, ctx: CollectContext, body: bytes, content_type: str, error: type[Exception]
) -> None:
    """Truncated JSON or an HTML page: another try later; an object where a list belongs: BadPayload."""

    async def bad(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    api.override = bad
    with pytest.raises(error):
        await MastodonSource(base_url=api.url).fetch(ctx, target(), None)


async def test_an_empty_timeline_is_an_empty_page(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """No statuses: no mentions, the run ends, the next run is still a first run."""
    instance.statuses = []
    result = await run(MastodonSource(base_url=api.url), ctx, target())
    assert result.mentions == [] and len(result.pages) == 1
    assert result.cursor["streams"][0]["newest"] is None


async def test_an_unknown_hashtag_404_is_nothing_yet(api: Api, ctx: CollectContext) -> None:
    """Older instances answer 404 for a hashtag they never saw: an empty page, no error."""

    async def missing(request: web.Request) -> web.Response:
        return json_response({"error": "Record not found"}, status=404)

    api.override = missing
    result = await run(MastodonSource(base_url=api.url), ctx, target())
    assert result.mentions == [] and not result.unparsed


async def test_an_unparseable_status_is_dead_lettered_and_the_rest_kept(
    instance: Instance, api: Api, ctx: CollectContext
) -> None:
    """A status without uri or with a bad date goes to unparsed; the others are mentions."""
    good = status(H0, LONG_HTML, sequence=1)
    no_uri = status(H0, sequence=2)
    del no_uri["uri"]
    bad_date = status(H0, sequence=3, created_at="yesterday")
    instance.statuses = [good, no_uri, bad_date, {"content": "no id at all"}]

    async def answer(request: web.Request) -> web.Response:
        return json_response(instance.statuses)

    api.override = answer
    page = await MastodonSource(base_url=api.url).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == [good["uri"]]
    assert page.mentions[0].text.startswith("Acme's checkout broke again. Ünïcödé ☕️")
    assert len(page.mentions[0].text) == 50 * 300 - 1  # the whole text, trailing space trimmed
    assert sorted(reason for reason, _ in page.unparsed) == [
        "status has no id",
        "status has no uri",
        "status has no valid created_at",
    ]


async def test_nothing_to_follow_is_a_clear_error(ctx: CollectContext) -> None:
    """Only phrases and no token: the error says to set hashtags."""
    source = MastodonSource(base_url="http://127.0.0.1:9")
    with pytest.raises(SourceError, match="hashtags"):
        await source.fetch(ctx, target(terms=("acme corp",)), None)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"base_url": "mastodon.social"}, "base_url"),
        ({"hashtags": "acme"}, "list"),
        ({"hashtags": ["acme corp"]}, "not a hashtag"),
        ({"hashtags": ["123"]}, "not a hashtag"),
        ({"limit": 41}, "limit"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any], words: str) -> None:
    """A bad watch-list value raises ValueError naming what is wrong."""
    with pytest.raises(ValueError, match=words):
        MastodonSource(**kwargs)
