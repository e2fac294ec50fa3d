"""The App Store source against a local server that serves Apple's customer-reviews JSON feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web

from collector.base import CollectContext, Target
from collector.runner import Job, Runner
from collector.sources.appstore import AppStoreSource
from goodwill.errors import BadPayload, RateLimited, SourceUnavailable
from store import Database
from tests.collector.sources._server_mray import Api, context, json_response, run, serve
from tests.factories import rollup_truth, sentiment, stored_rollups

BRAND = "Acme"
APP = "284882215"
PDT = timezone(timedelta(hours=-7))
H0 = datetime(2026, 10, 30, 9, 0, tzinfo=PDT)
LONG = "Die App stürzt nach dem Update ständig ab 😡 — " * 250


def label(value: str) -> dict[str, str]:
    return {"label": value}


def review(number: int, at: datetime, **extra: Any) -> dict[str, Any]:
    """A review entry as the feed gives it: every field an object with a ``label``."""
    value: dict[str, Any] = {
        "author": {
            "uri": label(f"https://itunes.apple.com/us/reviews/id{638572168 + number}"),
            "name": label(f"skater{number}"),
            "label": "",
        },
        "updated": label(at.isoformat()),
        "im:rating": label(str(number % 5 + 1)),
        "im:version": label("7.12.0"),
        "id": label(str(11_000_000_000 + number)),
        "title": label(f"Review {number}"),
        "content": {"label": f"Acme app review number {number}", "attributes": {"type": "text"}},
        "link": {
            "attributes": {
                "rel": "related",
                "href": f"https://itunes.apple.com/us/review?id={APP}&type=Purple%20Software",
            }
        },
        "im:voteSum": label("3"),
        "im:contentType": {"attributes": {"term": "Application", "label": "Application"}},
        "im:voteCount": label("4"),
    }
    value.update(extra)
    return value


APP_ENTRY = {
    "im:name": label("Acme Rocket Skates"),
    "rights": label("© 2026 Acme Corporation"),
    "im:price": {"label": "Get", "attributes": {"amount": "0.00000", "currency": "USD"}},
    "im:image": [
        {
            "label": "https://is1-ssl.mzstatic.com/image/thumb/53x53bb.png",
            "attributes": {"height": "53"},
        }
    ],
    "im:artist": {
        "label": "Acme Corporation",
        "attributes": {"href": "https://apps.apple.com/us/developer/id1"},
    },
    "title": label("Acme Rocket Skates - Acme Corporation"),
    "link": {
        "attributes": {
            "rel": "alternate",
            "type": "text/html",
            "href": f"https://apps.apple.com/us/app/id{APP}?uo=2",
        }
    },
    "id": {
        "label": f"https://apps.apple.com/us/app/id{APP}?uo=2",
        "attributes": {"im:id": APP, "im:bundleId": "com.acme.skates"},
    },
    "im:contentType": {"attributes": {"term": "Application", "label": "Application"}},
    "category": {"attributes": {"im:id": "6004", "term": "Sports", "label": "Sports"}},
    "im:releaseDate": {
        "label": "2019-05-02T08:00:00-07:00",
        "attributes": {"label": "May 2, 2019"},
    },
}


@dataclass
class Store:
    """Reviews per (app, country), and whether page 1 starts with the app's own entry."""

    reviews: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    app_entry: bool = False


def feed(store: Store, request: web.Request) -> dict[str, Any]:
    country, app, number = (
        request.match_info["country"],
        request.match_info["app"],
        int(request.match_info["page"]),
    )
    reviews = sorted(
        store.reviews.get((app, country), []),
        key=lambda r: datetime.fromisoformat(r["updated"]["label"]),
        reverse=True,
    )
    entries: list[dict[str, Any]] = reviews[(number - 1) * 50 : number * 50]
    if number == 1 and store.app_entry:
        entries = [APP_ENTRY, *entries]
    base = f"https://mzstoreservices-int.itunes.apple.com/{country}/rss/customerreviews"
    last = max(min((len(reviews) + 49) // 50, 10), 1)
    body: dict[str, Any] = {
        "author": {"name": label("iTunes Store"), "uri": label("http://www.apple.com/itunes/")},
        "updated": label("2026-10-30T10:00:00-07:00"),
        "rights": label("Copyright 2008 Apple Inc."),
        "title": label("iTunes Store: Customer Reviews"),
        "icon": label("http://itunes.apple.com/favicon.ico"),
        "link": [
            {
                "attributes": {
                    "rel": "alternate",
                    "type": "text/html",
                    "href": f"https://apps.apple.com/WebObjects/MZStore.woa/wa/viewGrouping?cc={country}&id=29099",
                }
            },
            {
                "attributes": {
                    "rel": "self",
                    "href": f"{base}/page={number}/id={app}/sortby=mostrecent/json",
                }
            },
            {
                "attributes": {
                    "rel": "first",
                    "href": f"{base}/page=1/id={app}/sortby=mostrecent/xml",
                }
            },
            {
                "attributes": {
                    "rel": "last",
                    "href": f"{base}/page={last}/id={app}/sortby=mostrecent/xml",
                }
            },
        ],
        "id": label(f"{base}/page={number}/id={app}/sortby=mostrecent/json"),
    }
    if len(entries) == 1:
        body["entry"] = entries[0]  # Apple gives a lone entry as an object
    elif entries and number <= 10:
        body["entry"] = entries
    return {"feed": body}


def routes(store: Store) -> Any:
    def add(app: web.Application, api: Api) -> None:
        async def reviews(request: web.Request) -> web.Response:
            return json_response(feed(store, request), content_type="text/javascript")

        app.router.add_get(
            "/{country}/rss/customerreviews/page={page}/id={app}/sortby=mostrecent/json", reviews
        )

    return add


@pytest.fixture
def store() -> Store:
    """One app with 120 US reviews, one every hour before H0."""
    return Store({(APP, "us"): [review(n, H0 - timedelta(hours=n)) for n in range(120)]})


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    """The feed, served on 127.0.0.1."""
    async with serve(routes(store)) as served:
        yield served


@pytest.fixture
async def ctx() -> AsyncIterator[CollectContext]:
    """A context with one real client session."""
    async with context() as value:
        yield value


def target(since: datetime | None = None) -> Target:
    return Target(BRAND, ("acme",), since)


def source(api: Api, **kwargs: Any) -> AppStoreSource:
    return AppStoreSource(base_url=api.url, app_ids=[APP], **kwargs)


async def test_a_documented_review_maps_every_field(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """id, rating, title, content, author, updated and votes are mapped; raw is the entry."""
    entry = review(7, H0, content={"label": LONG, "attributes": {"type": "text"}})
    entry["im:rating"] = label("2")
    store.reviews = {(APP, "us"): [entry, review(8, H0 - timedelta(days=1))]}
    page = await source(api).fetch(ctx, target(), None)
    mention = page.mentions[0]
    assert mention.source == "appstore" and mention.brand == BRAND
    assert mention.external_id == "11000000007"
    assert mention.rating == 2.0
    assert mention.title == "Review 7"
    assert mention.text == LONG.strip()
    assert mention.created_at == H0
    assert mention.url == f"https://apps.apple.com/us/app/id{APP}?see-all=reviews"
    assert mention.author.id == str(638572168 + 7)
    assert mention.author.display_name == "skater7" and mention.author.handle == "skater7"
    assert mention.author.url == f"https://itunes.apple.com/us/reviews/id{638572168 + 7}"
    assert mention.engagement == {"votes": 4, "helpful": 3}
    assert mention.lang is None
    assert mention.raw == entry


def test_reviews_are_not_matched_against_the_query() -> None:
    """match_all tells the runner every review of the brand's apps is a mention."""
    assert AppStoreSource.match_all is True
    assert AppStoreSource(app_ids=[APP]).match_all is True


async def test_every_review_of_the_brand_s_app_is_owned(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """Reviews are said on the brand's own app page: each is marked owned."""
    page = await source(api).fetch(ctx, target(), None)
    assert page.mentions and all(mention.owned for mention in page.mentions)


async def test_the_app_entry_on_page_one_is_skipped(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """The app's own entry (im:name, no rating) is neither a mention nor dead-lettered."""
    store.app_entry = True
    page = await source(api).fetch(ctx, target(), None)
    assert len(page.mentions) == 50 and page.unparsed == []
    assert page.mentions[0].external_id == "11000000000"


async def test_a_single_review_comes_as_an_object(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """A feed whose entry is one object, not a list, still gives that review."""
    store.reviews = {(APP, "us"): [review(1, H0)]}
    page = await source(api).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == ["11000000001"]


async def test_a_first_run_without_since_reads_page_one(api: Api, ctx: CollectContext) -> None:
    """No since: the 50 newest reviews, one request."""
    result = await run(source(api), ctx, target())
    assert len(result.mentions) == 50 and len(result.pages) == 1
    assert api.paths() == [f"/us/rss/customerreviews/page=1/id={APP}/sortby=mostrecent/json"]


async def test_a_first_run_pages_back_to_since(api: Api, ctx: CollectContext) -> None:
    """With since, pages 1, 2, 3 are read until reviews are older than since."""
    since = H0 - timedelta(hours=109)
    result = await run(source(api), ctx, target(since))
    assert len(result.mentions) == 110 and len(set(result.ids)) == 110
    assert [page.more for page in result.pages] == [True, True, False]
    assert [p.split("/")[4] for p in api.paths()] == ["page=1", "page=2", "page=3"]


async def test_paging_stops_at_page_ten(store: Store, api: Api, ctx: CollectContext) -> None:
    """Apple serves 10 pages of 50 at most: a back-fill ends there, with 500 reviews."""
    store.reviews = {(APP, "us"): [review(n, H0 - timedelta(hours=n)) for n in range(700)]}
    result = await run(source(api), ctx, target(H0 - timedelta(days=365)))
    assert len(result.mentions) == 500 and len(result.pages) == 10


async def test_a_sweep_cut_at_page_ten_names_the_window_it_left(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """Page 10 full and still newer than since: the reviews between were not read (not so when it is not full)."""
    store.reviews = {(APP, "us"): [review(n, H0 - timedelta(hours=n)) for n in range(700)]}
    since = H0 - timedelta(days=365)
    result = await run(source(api), ctx, target(since))
    assert [page.truncated for page in result.pages[:-1]] == [None] * 9
    last = result.pages[-1]
    assert last.truncated is not None and "limit of 10 pages" in last.truncated
    assert "before reaching since" in last.truncated and APP in last.truncated
    assert last.truncated_window == (since, H0 - timedelta(hours=499))
    # A page 10 that is not full holds the app's oldest reviews: nothing was left unread.
    store.reviews = {(APP, "us"): [review(n, H0 - timedelta(hours=n)) for n in range(480)]}
    ran_out = await run(source(api), ctx, target(since))
    assert len(ran_out.pages) == 10 and ran_out.pages[-1].truncated is None


async def test_a_later_sweep_cut_at_page_ten_starts_its_window_at_the_last_review(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """600 reviews since the last run: 500 are read, the window back to the last review is not."""
    first = await run(source(api), ctx, target())
    store.reviews[(APP, "us")] += [
        review(1000 + n, H0 + timedelta(minutes=n + 1)) for n in range(600)
    ]
    second = await run(source(api), ctx, target(), first.cursor)
    assert len(second.mentions) == 500
    last = second.pages[-1]
    assert last.truncated is not None and "the newest review collected before" in last.truncated
    assert last.truncated_window == (H0, H0 + timedelta(minutes=101))


async def test_a_sweep_cut_by_max_pages_says_to_raise_it(api: Api, ctx: CollectContext) -> None:
    """A configured page limit cuts a sweep the same way, and the reason names the setting."""
    result = await run(source(api, max_pages=2), ctx, target(H0 - timedelta(days=30)))
    assert len(result.pages) == 2
    assert "Raise max_pages" in (result.pages[-1].truncated or "")
    assert result.pages[-1].truncated_window == (
        H0 - timedelta(days=30),
        H0 - timedelta(hours=99),
    )


async def test_a_second_run_reads_only_newer_reviews(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """The next run stops at the newest review of the last; one at the same time is kept."""
    first = await run(source(api), ctx, target())
    tie = review(500, H0)  # the same second as the newest collected review
    newer = [review(1000 + n, H0 + timedelta(minutes=n + 1)) for n in range(60)]
    store.reviews[(APP, "us")] += [tie, *newer]
    second = await run(source(api), ctx, target(), first.cursor)
    assert sorted(second.ids) == sorted([tie["id"]["label"]] + [r["id"]["label"] for r in newer])
    assert len(second.pages) == 2
    third = await run(source(api), ctx, target(), second.cursor)
    assert third.mentions == []


async def test_reviews_pushed_down_mid_sweep_are_duplicates_not_a_loop(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """New reviews between two pages repeat a review across pages; the sweep still ends."""
    src = source(api)
    page = await src.fetch(ctx, target(H0 - timedelta(hours=79)), None)
    store.reviews[(APP, "us")] += [
        review(2000 + n, H0 + timedelta(minutes=n + 1)) for n in range(5)
    ]
    rest = await run(src, ctx, target(H0 - timedelta(hours=79)), page.cursor)
    ids = [m.external_id for m in page.mentions] + rest.ids
    assert len(set(ids)) == 80 and len(ids) == 85
    after = await run(src, ctx, target(), rest.cursor)
    assert len(after.mentions) == 5  # the five that arrived mid-sweep, once more at most


async def test_every_app_and_country_is_read_once_per_run(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """Two apps x two countries: four streams, each asked once."""
    other = "1500000001"
    store.reviews[(APP, "gb")] = [review(1, H0)]
    store.reviews[(other, "us")] = [review(2, H0), review(3, H0 - timedelta(hours=1))]
    src = AppStoreSource(base_url=api.url, app_ids=[APP, f"id{other}"], countries=["us", "GB"])
    result = await run(src, ctx, target())
    assert len(result.pages) == 4 and [p.more for p in result.pages] == [True, True, True, False]
    assert len(result.mentions) == 50 + 1 + 2 + 0


@pytest.fixture
async def db(mongodb_uri: str, database_name: str) -> AsyncIterator[Database]:
    """The store on a fresh database (``store`` here is the feed's reviews)."""
    opened = await Database.open(mongodb_uri, database_name)
    yield opened
    await opened._client.drop_database(database_name)
    await opened.close()


async def score_waiting(db: Database, label: str) -> list[str]:
    """Score every waiting review as ``label``; returns their ids."""
    claim = await db.queue.claim("scorer", limit=500, lease=timedelta(minutes=5))
    await db.queue.save(claim, {doc["_id"]: sentiment(label) for doc in claim.mentions})
    return sorted(doc["external_id"] for doc in claim.mentions)


async def test_every_review_is_also_reported_as_a_possible_edit(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """The feed does not mark edits: each review of a page is offered to the store as one."""
    page = await source(api).fetch(ctx, target(), None)
    assert len(page.mentions) == 50 and page.edited == page.mentions


async def test_an_edited_review_replaces_its_first_version_and_its_counts_follow(
    store: Store, api: Api, ctx: CollectContext, db: Database
) -> None:
    """Same id, newer time, new words, title and stars: stored as the edit, scored again, counted right."""
    first = review(1, H0, content=label("Love it, best skate app"), title=label("Great"))
    first["im:rating"] = label("5")
    store.reviews = {(APP, "us"): [first, *(review(n, H0 - timedelta(hours=n)) for n in (2, 3))]}
    runner = Runner(db, [Job(BRAND, source(api), 60)], ctx.session)
    assert (await runner.run_job(f"appstore:{BRAND}")).inserted == 3
    assert len(await score_waiting(db, "positive")) == 3
    assert await stored_rollups(db) == await rollup_truth(db)

    edited = review(
        1,
        H0 + timedelta(hours=2),
        content=label("Crashes on launch since 7.13, refund me"),
        title=label("Broken"),
    )
    edited["im:rating"] = label("1")
    store.reviews[(APP, "us")][0] = edited
    result = await runner.run_job(f"appstore:{BRAND}")
    assert (result.inserted, result.updated) == (0, 1)
    doc = await db.collection("mentions").find_one({"external_id": "11000000001"})
    assert doc is not None
    assert doc["text"] == "Crashes on launch since 7.13, refund me" and doc["title"] == "Broken"
    assert doc["rating"] == 1.0 and doc["score_state"] == "pending"
    assert doc["raw"] == edited
    # The review keeps the time of its first version: it stays in that day's counts.
    assert doc["created_at"] == H0.astimezone(UTC)
    assert await db.mentions.count() == 3

    assert await score_waiting(db, "negative") == ["11000000001"]  # scored again, alone
    truth = await rollup_truth(db)
    assert await stored_rollups(db) == truth
    [counts] = truth.values()
    assert (counts["positive"], counts["negative"], counts["rated"]) == (2, 1, 3)
    assert counts["stars"] == 1 + (2 % 5 + 1) + (3 % 5 + 1)

    # The next run finds nothing new, and the edit is not applied twice.
    again = await runner.run_job(f"appstore:{BRAND}")
    assert (again.inserted, again.updated) == (0, 0)
    after = await db.collection("mentions").find_one({"external_id": "11000000001"})
    assert after is not None
    assert (after["edited_at"], after["score_state"]) == (doc["edited_at"], "scored")


async def test_an_empty_feed_is_an_empty_page(store: Store, api: Api, ctx: CollectContext) -> None:
    """An app without reviews: a feed with no entry, no mentions, no error."""
    store.reviews = {}
    result = await run(source(api), ctx, target())
    assert result.mentions == [] and result.unparsed == []


async def test_an_unparseable_review_is_dead_lettered_and_the_rest_kept(
    store: Store, api: Api, ctx: CollectContext
) -> None:
    """A review with a rating that is not 1-5, no id, or no date goes to unparsed."""
    bad_rating = review(1, H0)
    bad_rating["im:rating"] = label("five")
    no_id = review(2, H0)
    del no_id["id"]
    bad_time = review(3, H0, updated=label("last Tuesday"))
    store.reviews = {(APP, "us"): [review(0, H0), bad_rating, no_id, bad_time]}

    async def answer(request: web.Request) -> web.Response:
        return json_response({"feed": {"entry": store.reviews[(APP, "us")]}})

    api.override = answer
    page = await source(api).fetch(ctx, target(), None)
    assert [m.external_id for m in page.mentions] == ["11000000000"]
    assert sorted(reason for reason, _ in page.unparsed) == [
        "review has no id",
        "review has no numeric im:rating",
        "review has no valid `updated` time",
    ]


async def test_429_with_retry_after_is_rate_limited(api: Api, ctx: CollectContext) -> None:
    """A 429 with Retry-After is a RateLimited with that wait."""

    async def limited(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "12"})

    api.override = limited
    with pytest.raises(RateLimited) as caught:
        await source(api).fetch(ctx, target(), None)
    assert caught.value.retry_after == 12


async def test_500_is_unavailable(api: Api, ctx: CollectContext) -> None:
    """A 5xx is a SourceUnavailable."""

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=502, text="Bad Gateway")

    api.override = broken
    with pytest.raises(SourceUnavailable):
        await source(api).fetch(ctx, target(), None)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        # Cut short or a portal's page: transient, retried with back-off (issue 15).
        (b'{"feed": {"entry": [{"id": {"label": "1"}, "content": {"lab', SourceUnavailable),
        (
            b"<html><head><title>Apple</title></head><body>Service unavailable</body></html>",
            SourceUnavailable,
        ),
        (b'{"resultCount": 0, "results": []}', BadPayload),
        (b'{"feed": {"entry": "nope"}}', BadPayload),
    ],
)
async def test_a_body_that_is_not_a_reviews_feed_is_an_error_of_its_kind(
    api: Api, ctx: CollectContext, body: bytes, error: type[Exception]
) -> None:
    """Truncated JSON, an HTML page: worth another try; another JSON shape: BadPayload."""

    async def bad(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/javascript")

    api.override = bad
    with pytest.raises(error):
        await source(api).fetch(ctx, target(), None)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "app_ids"),
        ({"app_ids": "284882215"}, "app_ids"),
        ({"app_ids": ["acme"]}, "not a numeric"),
        ({"app_ids": [APP], "countries": ["usa"]}, "country"),
        ({"app_ids": [APP], "max_pages": 11}, "max_pages"),
        ({"app_ids": [APP], "base_url": "itunes.apple.com"}, "base_url"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any], words: str) -> None:
    """A bad watch-list value raises ValueError naming what is wrong."""
    with pytest.raises(ValueError, match=words):
        AppStoreSource(**kwargs)
