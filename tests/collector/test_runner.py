"""The collection runner and the replay source, against a real MongoDB-protocol server."""

from __future__ import annotations

import asyncio
import itertools
import pickle
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stamina

from collector.base import CollectContext, Page, Target
from collector.runner import Job, Runner, make_scheduler
from collector.sources.replay import ReplaySource, replay_brands
from goodwill.corpus import load_airline_tweets
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable
from goodwill.models import Mention
from store import Database

BRAND = "Virgin America"


@pytest.fixture(autouse=True)
def _no_backoff() -> Any:
    stamina.set_testing(True, attempts=4)
    yield
    stamina.set_testing(False)


def _mention(number: int) -> Mention:
    return Mention(
        source="pages",
        external_id=str(number),
        brand=BRAND,
        text=f"post {number}",
        created_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=number),
    )


class PagedSource:
    """A source of numbered pages of two mentions, that can fail on chosen calls."""

    name = "pages"

    def __init__(self, pages: int, failures: dict[int, Exception] | None = None) -> None:
        self.pages = pages
        self.failures = failures or {}
        self.calls = 0
        self.cursors: list[Any] = []

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        self.calls += 1
        self.cursors.append(cursor)
        failure = self.failures.pop(self.calls, None)
        if failure is not None:
            raise failure
        page = 0 if cursor is None else int(cursor)
        mentions = [_mention(2 * page), _mention(2 * page + 1)]
        return Page(mentions, page + 1, more=page + 1 < self.pages)


async def test_replay_backfills_real_held_out_tweets_then_releases_new_ones(
    store: Database,
) -> None:
    """The first replay run back-fills the past two weeks; later runs add a few new tweets each."""
    runner = Runner(store, [Job(BRAND, ReplaySource(backfill=0.5, per_run=3), 60)])
    first = await runner.run_job(f"replay:{BRAND}")
    held_out = {t.text for t in load_airline_tweets("held_out") if t.brand == BRAND}
    stored = await store.feed.page(brand=BRAND, limit=10_000)
    assert first.inserted == len(stored) == len(held_out) // 2
    assert {doc["text"] for doc in stored} <= held_out
    oldest = min(doc["created_at"] for doc in stored)
    assert timedelta(days=13) < datetime.now(UTC) - oldest < timedelta(days=15)
    second = await runner.run_job(f"replay:{BRAND}")
    assert second.inserted == 3
    assert (await store.cursors.get(BRAND, "replay")).collected == first.inserted + 3


async def test_replay_knows_every_airline() -> None:
    """Each of the six airlines gets its own replay job."""
    assert len(replay_brands()) == 6
    page = await ReplaySource(backfill=0.1).fetch(CollectContext(), Target("JetBlue"), None)
    assert page.mentions and all("jetblue" in m.text.lower() for m in page.mentions)


async def test_replayed_tweets_have_stable_invented_authors_with_several_tweets() -> None:
    """The corpus names no authors: each tweet gets one invented demo account, always the same."""
    first = await ReplaySource(backfill=1.0).fetch(
        CollectContext(), Target("United Airlines"), None
    )
    again = await ReplaySource(backfill=1.0).fetch(
        CollectContext(), Target("United Airlines"), None
    )
    authors = {m.external_id: m.author for m in first.mentions}
    assert authors == {m.external_id: m.author for m in again.mentions}
    assert all(a.handle and a.handle.startswith("demo_traveller_") for a in authors.values())
    assert all("(invented)" in (a.display_name or "") for a in authors.values())
    per_author = Counter(a.id for a in authors.values())
    assert len(per_author) > 50 and max(per_author.values()) >= 3


async def test_a_rerun_from_scratch_never_duplicates(store: Database) -> None:
    """Collecting the same items again changes nothing: upserts are keyed by (source, external id)."""
    runner = Runner(store, [Job(BRAND, PagedSource(3), 60)])
    await runner.run_job(f"pages:{BRAND}")
    await store.collection("cursors").delete_many({})  # forget the cursor: everything comes again
    again = await runner.run_job(f"pages:{BRAND}")
    assert again.inserted == 0
    assert await store.mentions.count() == 6


async def test_a_failure_mid_run_keeps_the_cursor_of_the_last_stored_page(store: Database) -> None:
    """A job that fails after one page resumes after that page, losing and repeating nothing."""
    source = PagedSource(3, failures={2: BadPayload("not JSON", source="pages")})
    runner = Runner(store, [Job(BRAND, source, 60)])
    failed = await runner.run_job(f"pages:{BRAND}")
    assert failed.error is not None and "not JSON" in failed.error
    state = await store.cursors.get(BRAND, "pages")
    assert state.cursor == 1 and state.last_error is not None
    resumed = await runner.run_job(f"pages:{BRAND}")
    assert resumed.error is None and resumed.inserted == 4
    assert source.cursors[-2:] == [1, 2]
    assert (await store.cursors.get(BRAND, "pages")).last_error is None


async def test_network_failures_are_retried(store: Database) -> None:
    """A source that is briefly unavailable is retried and its page stored."""
    source = PagedSource(1, failures={1: SourceUnavailable("503", source="pages")})
    result = await Runner(store, [Job(BRAND, source, 60)]).run_job(f"pages:{BRAND}")
    assert result.error is None and result.inserted == 2 and source.calls == 2


async def test_unparseable_items_are_dead_lettered_with_their_reason(store: Database) -> None:
    """Items a source cannot parse go to dead_letters; the rest of the page is stored."""

    class HalfBroken(PagedSource):
        async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
            page = await super().fetch(ctx, target, cursor)
            return Page(page.mentions, page.cursor, unparsed=[("missing 'id'", {"text": "??"})])

    result = await Runner(store, [Job(BRAND, HalfBroken(1), 60)]).run_job(f"pages:{BRAND}")
    assert (result.inserted, result.dead_lettered) == (2, 1)
    letter = await store.collection("dead_letters").find_one({})
    assert (
        letter is not None
        and letter["reason"] == "missing 'id'"
        and letter["payload"] == {"text": "??"}
    )


class _Planted:
    """What an attacker with write access to the database would plant: a pickle that runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


async def test_the_scheduler_runs_jobs_from_memory_and_never_unpickles_the_database(
    store: Database, tmp_path: Path
) -> None:
    """Jobs run at once, then at their interval; a crafted job document in MongoDB never runs.

    APScheduler's MongoDB job store unpickled ``job_state``: writing to the database was
    running code in the collector.
    """
    marker = tmp_path / "planted-code-ran"
    await store.collection("scheduler_jobs").insert_one(
        {"_id": "planted", "next_run_time": 0.0, "job_state": pickle.dumps(_Planted(marker))}
    )
    runner = Runner(store, [Job(BRAND, PagedSource(1), 3600)])
    scheduler = make_scheduler()
    runner.schedule(scheduler)
    scheduler.start()
    try:
        for _ in range(100):
            if await store.mentions.count() == 2:
                break
            await asyncio.sleep(0.1)
    finally:
        scheduler.shutdown(wait=False)
    assert await store.mentions.count() == 2
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Planted(marker)))  # the plant works when unpickled ...
    assert marker.exists()  # ... so the first check could fail


class OnlyEven:
    """A stand-in brand query: even-numbered posts are about the brand."""

    def matches(self, mention: Mention) -> bool:
        return int(mention.external_id) % 2 == 0


async def test_items_not_matching_the_query_are_dropped_and_counted(store: Database) -> None:
    """Only mentions that match the brand's query are stored; coverage says what was dropped."""
    runner = Runner(store, [Job(BRAND, PagedSource(2), 60, query=OnlyEven())])
    result = await runner.run_job(f"pages:{BRAND}")
    assert result.coverage.fetched == 4 and result.coverage.matched == 2
    assert result.coverage.dropped == 2 and result.inserted == 2
    state = await store.cursors.get(BRAND, "pages")
    assert (state.coverage.fetched, state.coverage.dropped, state.coverage.stored) == (4, 2, 2)


async def test_a_source_listing_only_the_brands_items_is_not_filtered(store: Database) -> None:
    """A source with match_all (e.g. the brand's own app reviews) keeps every item."""
    source = PagedSource(1)
    source.match_all = True  # type: ignore[attr-defined]
    result = await Runner(store, [Job(BRAND, source, 60, query=OnlyEven())]).run_job(
        f"pages:{BRAND}"
    )
    assert result.inserted == 2


async def test_a_job_runs_in_one_runner_at_a_time(store: Database) -> None:
    """While one runner process holds a job's lease, another skips it."""
    job = Job(BRAND, PagedSource(1), 60)
    other = Runner(store, [job], owner="other")
    assert await store.cursors.acquire(BRAND, "pages", "other", timedelta(minutes=5))
    result = await Runner(store, [job], owner="me").run_job(job.id)
    assert result.skipped == "another runner holds it" and result.inserted == 0
    await store.cursors.release(BRAND, "pages", "other")
    assert (await other.run_job(job.id)).inserted == 2


async def test_a_source_that_keeps_failing_is_paused_with_its_error(store: Database) -> None:
    """After repeated failures the job pauses (and says why) instead of hammering the source."""
    failures: dict[int, Exception] = {
        n: SourceError(f"HTTP 404 number {n}", source="pages") for n in range(1, 10)
    }
    runner = Runner(store, [Job(BRAND, PagedSource(1, failures), 60)])
    for _ in range(3):
        assert (await runner.run_job(f"pages:{BRAND}")).error is not None
    state = await store.cursors.get(BRAND, "pages")
    assert (
        state.state == "paused" and state.failures == 3 and "number 3" in (state.last_error or "")
    )
    skipped = await runner.run_job(f"pages:{BRAND}")
    assert skipped.skipped is not None and skipped.skipped.startswith("paused until")


async def test_a_long_rate_limit_pauses_the_job_and_records_the_gap(store: Database) -> None:
    """A rate limit longer than a minute is not slept through: the job pauses until then."""

    source = PagedSource(1)
    runner = Runner(store, [Job(BRAND, source, 60)])
    await runner.run_job(f"pages:{BRAND}")
    source.failures = {2: RateLimited("quota", source="pages", retry_after=3600)}
    result = await runner.run_job(f"pages:{BRAND}")
    assert result.error is not None and "quota" in result.error
    state = await store.cursors.get(BRAND, "pages")
    assert state.state == "paused"
    assert state.paused_until is not None and state.paused_until > datetime.now(UTC) + timedelta(
        minutes=55
    )
    assert len(state.gaps) == 1 and state.gaps[0]["reason"].startswith("RateLimited")


async def test_a_backfill_keeps_its_own_cursor_and_passes_since(store: Database) -> None:
    """A back-fill starts from scratch under SOURCE/backfill with `since`, leaving the live cursor alone."""
    await store.cursors.record_success(BRAND, "pages", 7, 0)
    seen: list[Any] = []

    class Recording(PagedSource):
        async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
            seen.append(target.since)
            return await super().fetch(ctx, target, cursor)

    runner = Runner(store, [Job(BRAND, Recording(2), 60)])
    since = datetime(2026, 10, 1, tzinfo=UTC)
    progress: list[int] = []
    result = await runner.run_job(
        f"pages:{BRAND}", since=since, progress=lambda r: progress.append(r.pages)
    )
    assert result.inserted == 4 and seen == [since, since] and progress == [1, 2]
    assert (await store.cursors.get(BRAND, "pages")).cursor == 7
    assert (await store.cursors.get(BRAND, "pages/backfill")).cursor == 2


async def test_a_source_type_is_held_to_its_fetch_budget(store: Database) -> None:
    """Fetches of one source type are spaced by its per-minute budget, across brands."""
    times: list[float] = []

    class Timed(PagedSource):
        async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
            times.append(asyncio.get_running_loop().time())
            return await super().fetch(ctx, target, cursor)

    jobs = [Job("A", Timed(2), 60), Job("B", Timed(1), 60)]
    runner = Runner(store, jobs, budgets={"pages": 600})  # one fetch every 0.1 s
    await runner.run_all()
    assert len(times) == 3
    assert all(later - earlier >= 0.09 for earlier, later in itertools.pairwise(times))


# -- honest coverage: windows not read, filled, and cut by a source's cap ------------------


async def test_a_window_not_read_is_marked_filled_once_a_later_run_reads_it(
    store: Database,
) -> None:
    """A failed run leaves a window not read; the next run resumes from the kept cursor and fills it."""
    source = PagedSource(1)
    runner = Runner(store, [Job(BRAND, source, 60)])
    await runner.run_job(f"pages:{BRAND}")
    source.failures = {2: BadPayload("not JSON", source="pages")}
    assert (await runner.run_job(f"pages:{BRAND}")).error is not None
    assert len((await store.cursors.get(BRAND, "pages")).open_gaps) == 1

    resumed = await runner.run_job(f"pages:{BRAND}")
    assert resumed.error is None and source.cursors[-1] == 1  # from the cursor kept at the gap
    state = await store.cursors.get(BRAND, "pages")
    assert state.open_gaps == () and len(state.gaps) == 1 and state.gaps[0]["filled_at"]


class CappedSource(PagedSource):
    """Pages whose first run ends at the source's own cap, leaving a window it could not reach."""

    WINDOW = (datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC))

    def __init__(self, *, window: bool = True) -> None:
        super().__init__(9)
        self.window = window

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        page = await super().fetch(ctx, target, cursor)
        if cursor is not None:
            return Page(page.mentions, page.cursor)  # later runs: caught up, nothing cut
        return Page(
            page.mentions,
            page.cursor,
            truncated="pages: the listing ends at its cap of 2 items",
            truncated_window=self.WINDOW if self.window else None,
        )


async def test_a_window_cut_by_the_source_s_cap_is_recorded_and_stays_not_read(
    store: Database,
) -> None:
    """A page the source's cap cut short is stored, and its window is never marked filled."""
    runner = Runner(store, [Job(BRAND, CappedSource(), 60)])
    first = await runner.run_job(f"pages:{BRAND}")
    assert first.error is None and first.inserted == 2
    for _ in range(2):  # caught up twice: a failure's window would be filled by now
        assert (await runner.run_job(f"pages:{BRAND}")).error is None
    [gap] = (await store.cursors.get(BRAND, "pages")).open_gaps
    assert gap["reason"] == "pages: the listing ends at its cap of 2 items"
    window = (gap["from"].replace(tzinfo=UTC), gap["to"].replace(tzinfo=UTC))
    assert window == CappedSource.WINDOW


async def test_a_cut_window_the_source_does_not_bound_runs_from_since_to_the_oldest_reached(
    store: Database,
) -> None:
    """Without the source's window, a back-fill's cut window is since .. the oldest item stored."""
    since = datetime(2026, 10, 1, tzinfo=UTC)
    runner = Runner(store, [Job(BRAND, CappedSource(window=False), 60)])
    assert (await runner.run_job(f"pages:{BRAND}", since=since)).error is None
    [gap] = (await store.cursors.get(BRAND, "pages/backfill")).open_gaps
    assert gap["from"].replace(tzinfo=UTC) == since
    assert gap["to"].replace(tzinfo=UTC) == _mention(0).created_at


# -- the lease: renewed with each page, and a run that lost it stops ----------------------


class LeaseWatcher(PagedSource):
    """Two pages; notes the job's lease expiry as each fetch starts."""

    def __init__(self, store: Database) -> None:
        super().__init__(2)
        self.store = store
        self.expiries: list[datetime] = []

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        doc = await self.store.collection("cursors").find_one({"brand": BRAND, "source": "pages"})
        assert doc is not None
        self.expiries.append(doc["lease"]["expires"])
        await asyncio.sleep(0.05)
        return await super().fetch(ctx, target, cursor)


async def test_each_page_saved_renews_the_lease(store: Database) -> None:
    """The lease runs from the last page saved, not from the start of the run."""
    source = LeaseWatcher(store)
    result = await Runner(store, [Job(BRAND, source, 60)], lease=timedelta(minutes=10)).run_job(
        f"pages:{BRAND}"
    )
    assert result.error is None and result.pages == 2
    first, second = source.expiries
    assert second - first >= timedelta(seconds=0.04)


def _take_the_job(store: Database) -> Any:
    """Another collector takes the job over (as when this run outlived its lease)."""
    return store.collection("cursors").update_one(
        {"brand": BRAND, "source": "pages"},
        {"$set": {"lease": {"owner": "the-other-collector", "expires": datetime.now(UTC) + timedelta(minutes=5)}}},
    )  # fmt: skip


async def test_a_run_whose_lease_is_taken_during_a_long_fetch_stops_at_once(
    store: Database,
) -> None:
    """The lease's renewal finds it taken while a fetch hangs: the run stops without waiting."""
    never = asyncio.Event()

    class Hanging(PagedSource):
        async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
            if cursor is None:
                return await super().fetch(ctx, target, cursor)
            await _take_the_job(store)
            await never.wait()  # a fetch that would outlive any lease
            raise AssertionError("unreachable")

    job = Job(BRAND, Hanging(3), 60)
    runner = Runner(store, [job], lease=timedelta(seconds=0.3))
    result = await asyncio.wait_for(runner.run_job(job.id), timeout=10)
    assert result.error is not None and "lost the lease" in result.error
    assert result.pages == 1 and result.inserted == 2
    state = await store.cursors.get(BRAND, "pages")
    assert state.cursor == 1 and state.last_error is None


async def test_a_run_that_lost_its_lease_records_no_failure_on_the_job(store: Database) -> None:
    """Its fetch fails after another collector took the job: no error, pause or gap is written."""

    class FailingAfterTakeover(PagedSource):
        async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
            await _take_the_job(store)
            raise BadPayload("not JSON", source="pages")

    job = Job(BRAND, FailingAfterTakeover(1), 60)
    result = await Runner(store, [job]).run_job(job.id)
    assert result.error is not None and "lost the lease" in result.error
    state = await store.cursors.get(BRAND, "pages")
    assert (state.last_error, state.failures, state.gaps) == (None, 0, ())
