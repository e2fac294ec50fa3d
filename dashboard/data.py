"""The dashboard's bridge from synchronous Streamlit to the asynchronous store.

Streamlit runs each page script in its own thread, without an event loop; the store
is async. So each dashboard process keeps one event loop running in a background
thread and one ``Database`` living on that loop (both made once, by a
``st.cache_resource`` function), and page code hands coroutines over with ``run``.

Queries are cached with ``st.cache_data``: roll-ups and lists for 30 s, the feed for
a few seconds, so a page re-run (every widget change) rarely reaches the database.
Their results are plain values (dataclasses, data frames), never driver documents.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from config.settings import Settings, get_settings
from customers.advocacy import AdvocacyParams
from customers.profiles import ProfileStore
from goodwill.errors import ConfigError, InvalidRequest, StoreError
from goodwill.models import StoredMention, utcnow
from store import Complaints, Database, insights

__all__ = [
    "BRAND_COLUMNS",
    "BULK_ASSIGN_CAP",
    "COMPLAINTS_PAGE_SIZE",
    "COMPLAINT_ACTIONS",
    "COMPLAINT_VIEWS",
    "FEED_PAGE_SIZE",
    "SENTIMENTS",
    "UNSCORED",
    "AlertItem",
    "ComplaintItem",
    "ComplaintPage",
    "FeedFilters",
    "FeedItem",
    "FeedPage",
    "HandlingStep",
    "Post",
    "SourceState",
    "assign_listed",
    "backend",
    "brand_rollups",
    "brands",
    "clear_caches",
    "competitors",
    "complaints_page",
    "cursor_states",
    "feed_count",
    "feed_item",
    "feed_page",
    "handle_complaint",
    "language_mix",
    "negative_posts",
    "recent_alerts",
    "rollups",
    "run",
    "save_correction",
    "settings",
    "sources",
    "top_terms",
    "unscored_count",
]

_T = TypeVar("_T")

FEED_PAGE_SIZE = 25
SENTIMENTS = ("negative", "neutral", "positive")
UNSCORED = "unscored"
# How long the dashboard waits: for the server when connecting, and for any one query.
_CONNECT_TIMEOUT_MS = 3000
_QUERY_TIMEOUT_S = 20.0
# How long a correction's advocacy refresh may take before the scorer's repair does it.
_REFRESH_LEASE = timedelta(minutes=5)
# The feed counts at most this many matches (a count is a scan; the pages need none).
FEED_COUNT_CAP = 1_000
_ROLLUP_COLUMNS = ["day", "source", "total", *SENTIMENTS]


class _Backend:
    """One event loop in a daemon thread, and the store that lives on that loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="goodwill-dashboard-loop", daemon=True
        )
        self.thread.start()
        self._store: Database | None = None

    @property
    def store(self) -> Database:
        if self._store is None:
            raise StoreError("The dashboard's database connection is closed; reload the page.")
        return self._store

    def open(self, settings: Settings) -> None:
        """Connect to the database; raises ``StoreError`` that says what to do."""
        self._store = self.run(
            Database.open(
                settings.effective_mongodb_uri, settings.database, timeout_ms=_CONNECT_TIMEOUT_MS
            )
        )

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float = _QUERY_TIMEOUT_S) -> _T:
        """Run ``coro`` on the background loop and wait for its result."""
        if self.loop.is_closed():
            coro.close()
            raise StoreError("The dashboard's database connection is closed; reload the page.")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()
            raise StoreError(
                f"The database did not answer within {timeout:.0f} s. Check that it is running "
                "(`goodwill db start` or `goodwill up`) and reload the page."
            ) from None

    def close(self) -> None:
        """Close the store, then stop and close the loop; harmless when already closed."""
        if self.loop.is_closed():
            return
        try:
            if self._store is not None:
                store, self._store = self._store, None
                self.run(store.close())
            self.run(_drain())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            if not self.thread.is_alive():
                self.loop.close()


async def _drain() -> None:
    """Cancel what is still scheduled on the loop and shut its helpers down."""
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


def _release(resource: _Backend) -> None:
    resource.close()


@st.cache_resource(show_spinner=False, on_release=_release)
def backend() -> _Backend:
    """The process's event loop and store, made on first use (and again after a failure).

    A failed connection is not cached: the next page run tries again, so starting the
    database fixes the dashboard without restarting it.
    """
    made = _Backend()
    try:
        made.open(settings())
    except BaseException:
        made.close()
        raise
    return made


def settings() -> Settings:
    """The process's settings (raises ``ConfigError`` naming a bad variable)."""
    return get_settings()


def run(coro: Coroutine[Any, Any, _T], timeout: float = _QUERY_TIMEOUT_S) -> _T:
    """Run a store coroutine on the dashboard's loop and return its result."""
    try:
        resource = backend()
    except BaseException:
        coro.close()
        raise
    return resource.run(coro, timeout)


def clear_caches() -> None:
    """Forget cached query results, so the next page run reads fresh data."""
    st.cache_data.clear()


# -- queries ----------------------------------------------------------------------------


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@st.cache_data(ttl=30, show_spinner=False)
def brands() -> list[str]:
    """Every brand collected or scored (see ``insights.brand_names``)."""
    return run(insights.brand_names(backend().store))


@st.cache_data(ttl=30, show_spinner=False)
def sources(brand: str | None) -> list[str]:
    """The sources a brand (or any brand, for ``None``) is collected from."""
    return run(backend().store.feed.sources(brand))


@st.cache_data(ttl=30, show_spinner=False)
def rollups(brand: str, first: date, last: date) -> pd.DataFrame:
    """Daily counts of one brand's scored mentions per source, ``first`` to ``last`` inclusive.

    Columns: ``day`` (a date, UTC), ``source``, ``total``, ``negative``, ``neutral``,
    ``positive``; one row per day x source that has any.
    """
    docs = run(
        backend().store.rollups.window(brand, _start_of(first), _start_of(last + timedelta(days=1)))
    )
    rows = [
        {
            "day": doc["day"].date(),
            "source": str(doc["source"]),
            **{name: int(doc.get(name, 0)) for name in ("total", *SENTIMENTS)},
        }
        for doc in docs
    ]
    return pd.DataFrame(rows, columns=_ROLLUP_COLUMNS)


@st.cache_data(ttl=30, show_spinner=False)
def language_mix(brand: str, first: date, last: date) -> dict[str, int]:
    """Mentions of a brand not scored (another language) per language, most first."""
    docs = run(
        backend().store.rollups.window(brand, _start_of(first), _start_of(last + timedelta(days=1)))
    )
    mix: dict[str, int] = {}
    for doc in docs:
        for name, value in doc.items():
            if name.startswith("unscored_") and isinstance(value, int) and value:
                code = name.removeprefix("unscored_")
                mix[code] = mix.get(code, 0) + value
    return dict(sorted(mix.items(), key=lambda item: (-item[1], item[0])))


@st.cache_data(ttl=15, show_spinner=False)
def unscored_count(brand: str | None) -> int:
    """How many mentions of a brand (or of all brands) wait for the scorer."""
    return run(backend().store.queue.waiting(brand))


@dataclass(frozen=True)
class FeedFilters:
    """What the feed shows; ``None`` means "any"."""

    brand: str | None = None
    source: str | None = None
    sentiment: str | None = None
    first: date | None = None
    last: date | None = None
    contains: str | None = None
    complaint: bool | None = None
    language: str | None = None
    author: str | None = None

    def query(self) -> dict[str, Any]:
        """The filters as ``store.feed.page`` keyword arguments (dates as UTC day bounds)."""
        return {
            "brand": self.brand,
            "source": self.source,
            "sentiment": self.sentiment,
            "since": None if self.first is None else _start_of(self.first),
            "until": None if self.last is None else _start_of(self.last + timedelta(days=1)),
            "contains": self.contains or None,
            "complaint": self.complaint,
            "language": self.language or None,
            "author": self.author or None,
        }


@dataclass(frozen=True)
class FeedItem:
    """One mention as the feed shows it."""

    id: str
    brand: str
    source: str
    text: str
    title: str | None
    url: str | None
    created_at: datetime
    author_handle: str | None
    author_name: str | None
    sentiment: str | None
    confidence: float | None
    kind: str | None = None  # the complaint detector's: complaint, question, ...
    corrected_sentiment: str | None = None
    corrected_kind: str | None = None
    corrected_by: str | None = None
    corrected_at: datetime | None = None
    language: str | None = None  # set when the mention was not scored: not English
    profile_id: str | None = None
    tier: str | None = None  # the author's advocacy tier for this brand, when scored
    model_version: str | None = None  # the model (and precision) that scored it
    rating: float | None = None  # the review's stars (1-5), where the source has them

    @property
    def corrected(self) -> bool:
        """Whether a person corrected this mention's labels."""
        return self.corrected_by is not None


@dataclass(frozen=True)
class FeedPage:
    """One page of the feed, and whether an older page follows."""

    items: list[FeedItem]
    has_next: bool


def _item(doc: dict[str, Any]) -> FeedItem:
    mention = StoredMention.from_document(doc)
    complaint = mention.complaint
    correction = mention.correction
    sentiment = mention.scored
    return FeedItem(
        id=mention.id,
        brand=mention.brand,
        source=mention.source,
        text=mention.text,
        title=mention.title,
        url=mention.url,
        created_at=mention.created_at,
        author_handle=mention.author.handle,
        author_name=mention.author.display_name,
        sentiment=None if sentiment is None else sentiment.label.value,
        confidence=None if sentiment is None else sentiment.score,
        kind=None if complaint is None else complaint.kind,
        corrected_sentiment=None
        if correction is None or correction.sentiment is None
        else correction.sentiment.value,
        corrected_kind=None if correction is None else correction.kind,
        corrected_by=None if correction is None else correction.by,
        corrected_at=None if correction is None else correction.at,
        language=mention.skipped_language,
        profile_id=mention.profile_id,
        model_version=None if sentiment is None else sentiment.model_version,
        rating=mention.rating,
    )


def feed_item(doc: dict[str, Any]) -> FeedItem:
    """A mention document as the feed shows it."""
    return _item(doc)


@st.cache_data(ttl=5, show_spinner=False, max_entries=200)
def feed_page(filters: FeedFilters, page: int, page_size: int = FEED_PAGE_SIZE) -> FeedPage:
    """Page ``page`` (0 = newest) of the feed: at most ``page_size`` mentions.

    One more mention than a page is read, to know whether a next page exists
    without counting.
    """
    docs = run(
        backend().store.feed.page(**filters.query(), skip=page * page_size, limit=page_size + 1)
    )
    items = [_item(doc) for doc in docs[:page_size]]
    tiers = run(
        ProfileStore(backend().store).tiers(
            (item.profile_id, item.brand) for item in items if item.profile_id
        )
    )
    items = [
        replace(item, tier=tiers.get((item.profile_id, item.brand))) if item.profile_id else item
        for item in items
    ]
    return FeedPage(items=items, has_next=len(docs) > page_size)


def save_correction(
    mention_id: str,
    *,
    sentiment: str | None,
    kind: str | None,
    by: str,
    note: str | None = None,
) -> None:
    """Record a person's correction of one mention, then forget what it changed.

    ``kind`` is one of ``store.CORRECTION_KINDS``; whether the post is a
    complaint follows from it. The correction moves every count at once: the roll-ups
    (``store.complaints.correct``) and its author's counts and advocacy for the brand,
    recomputed here. Raises ``ValueError`` with a message for the person when a value
    is refused (see ``store.complaints.correct``).
    """
    run(_correct(mention_id, sentiment=sentiment, kind=kind, by=by, note=note))
    for cached in (feed_page, feed_count, complaints_page, rollups, brand_rollups, negative_posts):
        cached.clear()


async def _correct(
    mention_id: str, *, sentiment: str | None, kind: str | None, by: str, note: str | None
) -> None:
    """The correction, then its author's advocacy recomputed from the corrected mentions.

    The refresh is noted first, as a scorer notes a batch's (``journal_refresh``), so
    that a dashboard stopped between the two leaves it to the scorer's repair.
    """
    store = backend().store
    found = await store.mentions.get(mention_id) or {}
    profile_id = found.get("profile_id")
    pairs = [] if profile_id is None else [(str(profile_id), str(found["brand"]))]
    token = f"correction:{mention_id}:{secrets.token_hex(4)}"
    if pairs:
        await store.profiles.journal_refresh(token, pairs, utcnow() + _REFRESH_LEASE)
    try:
        await store.complaints.correct(
            mention_id, sentiment=sentiment, complaint=None, kind=kind, by=by, note=note
        )
    except InvalidRequest:
        if pairs:  # refused: nothing changed, nothing to refresh
            await store.profiles.end_refresh(token)
        raise
    if pairs:
        await ProfileStore(store, AdvocacyParams.from_settings(settings())).refresh(pairs)
        await store.profiles.end_refresh(token)


@st.cache_data(ttl=15, show_spinner=False, max_entries=200)
def feed_count(filters: FeedFilters) -> int:
    """How many mentions match, counting no further than ``FEED_COUNT_CAP``."""
    return run(backend().store.feed.count(**filters.query(), cap=FEED_COUNT_CAP))


@dataclass(frozen=True)
class SourceState:
    """Where collection of one brand x source stands (its cursor value left out)."""

    brand: str
    source: str
    last_success: datetime | None
    last_error: str | None
    collected: int
    state: str = "new"  # ok, failing, paused or new (see store.CursorState.state)
    paused_until: datetime | None = None
    fetched: int = 0
    matched: int = 0
    dropped: int = 0
    dead_lettered: int = 0
    gaps: int = 0  # windows still not read (not those a later catch-up read after all)
    windows: tuple[str, ...] = ()  # those windows, oldest first: "FROM to TO UTC (why)"


@st.cache_data(ttl=15, show_spinner=False)
def cursor_states() -> list[SourceState]:
    """Every brand x source that has run, with what it fetched, matched and dropped."""
    return [
        SourceState(
            state.brand,
            state.source,
            state.last_success,
            state.last_error,
            state.collected,
            state.state,
            state.paused_until,
            state.coverage.fetched,
            state.coverage.matched,
            state.coverage.dropped,
            state.coverage.dead_lettered,
            len(state.open_gaps),
            tuple(
                f"{gap['from']:%Y-%m-%d %H:%M} to {gap['to']:%Y-%m-%d %H:%M} UTC ({gap['reason']})"
                for gap in state.open_gaps
            ),
        )
        for state in run(backend().store.cursors.all())
    ]


# -- complaints queue -------------------------------------------------------------------

COMPLAINT_VIEWS = Complaints.VIEWS
COMPLAINT_ACTIONS = Complaints.ACTIONS
COMPLAINTS_PAGE_SIZE = 25


@dataclass(frozen=True)
class HandlingStep:
    """One entry of a complaint's handling history: who did what, when."""

    action: str
    by: str
    at: datetime | None
    value: str | None


@dataclass(frozen=True)
class ComplaintItem:
    """One open complaint as the queue shows it."""

    id: str
    brand: str
    source: str
    text: str
    url: str | None
    created_at: datetime
    category: str | None
    reasons: tuple[str, ...]
    state: str = "open"
    assignee: str | None = None
    tags: tuple[str, ...] = ()
    history: tuple[HandlingStep, ...] = ()
    customer_name: str | None = None
    customer_value: float | None = None
    customer_tier: str | None = None


@dataclass(frozen=True)
class ComplaintPage:
    """One page of the complaints queue, and whether an older page follows."""

    items: list[ComplaintItem]
    has_next: bool


def _complaint(doc: dict[str, Any]) -> ComplaintItem:
    verdict = doc.get("complaint") or {}
    handling = doc.get("handling") or {}
    customer = doc.get("customer") or {}
    return ComplaintItem(
        id=str(doc["_id"]),
        brand=str(doc.get("brand", "")),
        source=str(doc.get("source", "")),
        text=str(doc.get("text", "")),
        url=doc.get("url"),
        created_at=doc["created_at"],
        category=verdict.get("category"),
        reasons=tuple(str(reason) for reason in verdict.get("reasons") or ()),
        state=str(handling.get("state") or "open"),
        assignee=handling.get("assignee"),
        tags=tuple(str(tag) for tag in handling.get("tags") or ()),
        history=tuple(
            HandlingStep(
                str(step.get("action", "")),
                str(step.get("by", "")),
                step.get("at"),
                step.get("value"),
            )
            for step in handling.get("history") or ()
        ),
        customer_name=customer.get("name"),
        customer_value=customer.get("value"),
        customer_tier=customer.get("tier"),
    )


@st.cache_data(ttl=5, show_spinner=False, max_entries=200)
def complaints_page(
    brand: str | None,
    view: str,
    by: str | None,
    page: int,
    page_size: int = COMPLAINTS_PAGE_SIZE,
    order: str = "newest",
    theme_id: str | None = None,
) -> ComplaintPage:
    """Page ``page`` (0 = first) of the open complaints in ``view`` (see ``store.complaints.queue``)."""
    docs = run(
        backend().store.complaints.queue(
            brand,
            view,
            by,
            datetime.now(UTC),
            skip=page * page_size,
            limit=page_size + 1,
            order=order,
            theme_id=theme_id,
        )
    )
    return ComplaintPage(
        items=[_complaint(doc) for doc in docs[:page_size]], has_next=len(docs) > page_size
    )


def handle_complaint(mention_id: str, action: str, by: str, value: str | None = None) -> None:
    """Apply a workflow action to a complaint, then forget the cached queue pages.

    Raises ``ValueError`` with a message for the person when the store refuses it.
    """
    run(backend().store.complaints.handle(mention_id, action, by, value))
    complaints_page.clear()
    feed_page.clear()


BULK_ASSIGN_CAP = Complaints.BULK_ASSIGN_CAP


def assign_listed(
    filters: tuple[str | None, str, str | None, str, str | None], assignee: str, by: str
) -> int:
    """Assign the first ``BULK_ASSIGN_CAP`` complaints the queue lists under ``filters``
    (brand, view, whose, order, theme) to ``assignee``, as ``by``; returns how many changed.

    Raises ``ValueError`` with a message for the person when the store refuses it.
    """
    brand, view, whose, order, theme_id = filters
    store = backend().store
    docs = run(
        store.complaints.queue(
            brand, view, whose, datetime.now(UTC), limit=BULK_ASSIGN_CAP, order=order,
            theme_id=theme_id,
        )
    )  # fmt: skip
    changed = run(store.complaints.assign_many([doc["_id"] for doc in docs], assignee, by))
    complaints_page.clear()
    feed_page.clear()
    return changed


# -- overview: competitors, changes, terms -------------------------------------------------

BRAND_COLUMNS = ["brand", "day", "source", *insights.ROLLUP_COUNTS]
# How many recent negative mentions of each window the top terms are counted over (a
# sample, read in day-sized slices; the two windows' reads, about 3x the sample at 30%
# negative, are what the Overview's terms cost: 1,000 a window took 0.53 s at 250,000
# mentions, over the dashboard's half a second).
TERM_SAMPLE = 500


@st.cache_data(ttl=300, show_spinner=False)
def competitors(brand: str) -> tuple[list[str], bool]:
    """``brand``'s competitors, and whether the watch list named them.

    From the watch list's ``competitors`` when it lists ``brand``; otherwise every
    other brand in the database (False), so a brand outside the watch list is still
    seen beside the others.
    """
    listed = _watchlist_competitors()
    if brand in listed:
        return listed[brand], True
    return [name for name in brands() if name != brand], False


@st.cache_resource(show_spinner=False)
def _watchlist_competitors() -> dict[str, list[str]]:
    # Imported here: only this page reads the watch list (config/, never the collector);
    # read once per process.
    from config.watchlist import watchlist_from_settings

    try:
        watchlist = watchlist_from_settings(settings())
    except ConfigError:
        return {}  # the service refuses a bad watch list and says why; here: no pairs
    return {entry.name: list(entry.competitors) for entry in watchlist.brands}


@st.cache_data(ttl=30, show_spinner=False)
def brand_rollups(names: tuple[str, ...], first: date, last: date) -> pd.DataFrame:
    """Daily counts of several brands per source, ``first`` to ``last`` inclusive (UTC days).

    Columns ``BRAND_COLUMNS``: ``brand``, ``day`` (a date), ``source``, ``total``,
    ``negative``, ``neutral``, ``positive``, ``complaints``.
    """
    docs = run(
        insights.brand_rollups(
            backend().store, names, _start_of(first), _start_of(last + timedelta(days=1))
        )
    )
    rows = [{**doc, "day": doc["day"].date()} for doc in docs]
    return pd.DataFrame(rows, columns=BRAND_COLUMNS)


@dataclass(frozen=True)
class Post:
    """A mention behind a change: text, where, who, how far it travelled, how negative."""

    id: str
    source: str
    text: str
    url: str | None
    created_at: datetime
    author: str | None
    engagement: int
    negativity: float
    complaint: bool


@st.cache_data(ttl=60, show_spinner=False)
def negative_posts(brand: str, day: date, days: int = 1, limit: int = 5) -> list[Post]:
    """The most negative, most engaged mentions of ``brand`` in the ``days`` from ``day``."""
    docs = run(
        insights.negative_posts(
            backend().store,
            brand,
            _start_of(day),
            _start_of(day + timedelta(days=days)),
            limit=limit,
        )
    )
    posts = []
    for doc in docs:
        author = doc.get("author") or {}
        handle = author.get("handle")
        posts.append(
            Post(
                id=str(doc["_id"]),
                source=str(doc.get("source", "")),
                text=str(doc.get("text", "")),
                url=doc.get("url"),
                created_at=doc["created_at"],
                author=f"@{handle}" if handle else author.get("display_name"),
                engagement=int(doc["engagement_total"]),
                negativity=float(doc["negativity"]),
                complaint=bool((doc.get("complaint") or {}).get("is_complaint")),
            )
        )
    return posts


@st.cache_data(ttl=120, show_spinner=False)
def top_terms(
    brand: str, first: date, last: date, exclude: tuple[str, ...], days: int | None, top: int = 15
) -> tuple[list[tuple[str, int, int, float]], int, int]:
    """Words that rose most in ``brand``'s negative mentions of the window against the
    ``days`` before it (``insights.rising_terms``), and the two samples' sizes.

    Each sample is the latest ``TERM_SAMPLE`` negative mentions of its window. Without a
    previous window (``days`` None: all time), the window's most used words (``before``
    0, lift 0) and a previous sample of 0.
    """
    store, names = backend().store, (brand, *exclude)

    def texts(start: date, end: date) -> Coroutine[Any, Any, list[str]]:
        return insights.recent_texts(
            store, brand, _start_of(start), _start_of(end + timedelta(days=1)),
            limit=TERM_SAMPLE, label="negative",
        )  # fmt: skip

    async def both(earlier: date) -> tuple[list[str], list[str]]:  # the windows side by side
        return await asyncio.gather(texts(first, last), texts(earlier, first - timedelta(days=1)))

    if days is None:
        now = run(texts(first, last))
        counted = insights.count_terms(now, exclude=names, top=top)
        return [(word, count, 0, 0.0) for word, count in counted], len(now), 0
    now, before = run(both(first - timedelta(days=days)))
    return insights.rising_terms(now, before, exclude=names, top=top), len(now), len(before)


@dataclass(frozen=True)
class AlertItem:
    """One alert of the outbox and where its delivery stands."""

    id: str
    rule: str
    brand: str
    destination: str
    created_at: datetime | None
    state: str
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None


@st.cache_data(ttl=15, show_spinner=False)
def recent_alerts(limit: int = 50) -> list[AlertItem]:
    """The latest alerts, newest first."""
    return [
        AlertItem(
            id=str(doc.get("_id")),
            rule=str(doc.get("rule", "")),
            brand=str(doc.get("brand", "")),
            destination=str(doc.get("destination", "")),
            created_at=doc.get("created_at"),
            state=str(doc.get("state", "")),
            attempts=int(doc.get("attempts") or 0),
            sent_at=doc.get("sent_at"),
            next_attempt_at=doc.get("next_attempt_at"),
            last_error=doc.get("last_error"),
        )
        for doc in run(insights.recent_alerts(backend().store, limit=limit))
    ]
