"""The collection runner and the replay source, against a real MongoDB-protocol server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stamina

from collector.base import CollectContext, Page, Target
from collector.runner import Job, Runner, make_scheduler
from collector.sources.replay import ReplaySource, replay_brands
from goodwill.corpus import load_airline_tweets
from goodwill.errors import BadPayload, SourceUnavailable
from goodwill.models import Mention
from goodwill.store import Store

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


async def test_replay_backfills_real_held_out_tweets_then_releases_new_ones(store: Store) -> None:
    """The first replay run back-fills the past two weeks; later runs add a few new tweets each."""
    runner = Runner(store, [Job(BRAND, ReplaySource(backfill=0.5, per_run=3), 60)])
    first = await runner.run_job(f"replay:{BRAND}")
    held_out = {t.text for t in load_airline_tweets("held_out") if t.brand == BRAND}
    stored = await store.recent_mentions(brand=BRAND, limit=10_000)
    assert first.inserted == len(stored) == len(held_out) // 2
    assert {doc["text"] for doc in stored} <= held_out
    oldest = min(doc["created_at"] for doc in stored)
    assert timedelta(days=13) < datetime.now(UTC) - oldest < timedelta(days=15)
    second = await runner.run_job(f"replay:{BRAND}")
    assert second.inserted == 3
    assert (await store.get_cursor(BRAND, "replay")).collected == first.inserted + 3


async def test_replay_knows_every_airline() -> None:
    """Each of the six airlines gets its own replay job."""
    assert len(replay_brands()) == 6
    page = await ReplaySource(backfill=0.1).fetch(CollectContext(), Target("JetBlue"), None)
    assert page.mentions and all("jetblue" in m.text.lower() for m in page.mentions)


async def test_a_rerun_from_scratch_never_duplicates(store: Store) -> None:
    """Collecting the same items again changes nothing: upserts are keyed by (source, external id)."""
    runner = Runner(store, [Job(BRAND, PagedSource(3), 60)])
    await runner.run_job(f"pages:{BRAND}")
    await store.collection("cursors").delete_many({})  # forget the cursor: everything comes again
    again = await runner.run_job(f"pages:{BRAND}")
    assert again.inserted == 0
    assert await store.count_mentions() == 6


async def test_a_failure_mid_run_keeps_the_cursor_of_the_last_stored_page(store: Store) -> None:
    """A job that fails after one page resumes after that page, losing and repeating nothing."""
    source = PagedSource(3, failures={2: BadPayload("not JSON", source="pages")})
    runner = Runner(store, [Job(BRAND, source, 60)])
    failed = await runner.run_job(f"pages:{BRAND}")
    assert failed.error is not None and "not JSON" in failed.error
    state = await store.get_cursor(BRAND, "pages")
    assert state.cursor == 1 and state.last_error is not None
    resumed = await runner.run_job(f"pages:{BRAND}")
    assert resumed.error is None and resumed.inserted == 4
    assert source.cursors[-2:] == [1, 2]
    assert (await store.get_cursor(BRAND, "pages")).last_error is None


async def test_network_failures_are_retried(store: Store) -> None:
    """A source that is briefly unavailable is retried and its page stored."""
    source = PagedSource(1, failures={1: SourceUnavailable("503", source="pages")})
    result = await Runner(store, [Job(BRAND, source, 60)]).run_job(f"pages:{BRAND}")
    assert result.error is None and result.inserted == 2 and source.calls == 2


async def test_unparseable_items_are_dead_lettered_with_their_reason(store: Store) -> None:
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


async def test_the_scheduler_keeps_jobs_in_mongodb_and_runs_them(
    store: Store, mongodb_uri: str, database_name: str
) -> None:
    """Scheduled jobs live in MongoDB and run at once, then at their interval."""
    runner = Runner(store, [Job(BRAND, PagedSource(1), 3600)])
    scheduler, close = make_scheduler(mongodb_uri, database_name, runner)
    runner.schedule(scheduler)
    scheduler.start()
    try:
        for _ in range(100):
            if await store.count_mentions() == 2:
                break
            await asyncio.sleep(0.1)
        stored = await store.collection("scheduler_jobs").find_one({"_id": f"pages:{BRAND}"})
    finally:
        scheduler.shutdown(wait=False)
        close()
    assert await store.count_mentions() == 2
    assert stored is not None
