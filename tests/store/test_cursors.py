"""Cursors: a lease that only its holder writes under, and windows not read, filled honestly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from store import Database

BRAND, SOURCE = "Acme", "pages"


async def _lease(store: Database) -> dict[str, object]:
    doc = await store.collection("cursors").find_one({"brand": BRAND, "source": SOURCE})
    assert doc is not None
    return dict(doc["lease"] or {})


async def _take(store: Database, owner: str) -> None:
    """Another collector takes the job (as when this one's lease ran out)."""
    await store.collection("cursors").update_one(
        {"brand": BRAND, "source": SOURCE},
        {"$set": {"lease": {"owner": owner, "expires": datetime.now(UTC) + timedelta(minutes=5)}}},
    )


async def test_each_saved_page_renews_the_lease_and_a_stale_holder_saves_nothing(
    store: Database,
) -> None:
    """A save by the holder pushes its lease on; once another holds the job, saves are refused."""
    assert await store.cursors.acquire(BRAND, SOURCE, "me", timedelta(seconds=1))
    assert await store.cursors.record_success(
        BRAND, SOURCE, 1, 2, owner="me", lease=timedelta(minutes=10)
    )
    expires = (await _lease(store))["expires"]
    assert isinstance(expires, datetime)
    assert expires.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(minutes=9)

    await _take(store, "other")
    assert not await store.cursors.record_success(
        BRAND, SOURCE, 99, 2, owner="me", lease=timedelta(minutes=10)
    )
    assert not await store.cursors.renew(BRAND, SOURCE, "me", timedelta(minutes=10))
    state = await store.cursors.get(BRAND, SOURCE)
    assert state.cursor == 1 and state.collected == 2
    assert (await _lease(store))["owner"] == "other"


async def test_a_failure_of_a_stale_holder_writes_nothing(store: Database) -> None:
    """No error, failure count, pause or window not read lands on a job another collector holds."""
    assert await store.cursors.acquire(BRAND, SOURCE, "me", timedelta(minutes=1))
    await _take(store, "other")
    recorded = await store.cursors.record_error(
        BRAND,
        SOURCE,
        "SourceUnavailable: down",
        retry_in=timedelta(hours=1),
        gap_since=datetime.now(UTC) - timedelta(hours=1),
        owner="me",
    )
    assert recorded is None
    state = await store.cursors.get(BRAND, SOURCE)
    assert (state.last_error, state.failures, state.paused_until, state.gaps) == (None, 0, None, ())


async def test_a_catch_up_that_resumed_from_before_the_window_fills_it(store: Database) -> None:
    """A failure's window stays open while pages come, and is filled when the source is caught up."""
    await store.cursors.record_success(BRAND, SOURCE, 1, 2, caught_up=True)
    await store.cursors.record_error(
        BRAND, SOURCE, "SourceUnavailable: down", gap_since=datetime.now(UTC) - timedelta(hours=1)
    )
    await store.cursors.record_success(BRAND, SOURCE, 2, 2)  # more to come: not caught up yet
    assert len((await store.cursors.get(BRAND, SOURCE)).open_gaps) == 1

    await store.cursors.record_success(BRAND, SOURCE, 3, 2, caught_up=True)
    state = await store.cursors.get(BRAND, SOURCE)
    assert state.open_gaps == () and len(state.gaps) == 1
    assert isinstance(state.gaps[0]["filled_at"], datetime)


async def test_a_window_lost_during_a_catch_up_waits_for_the_next_one(store: Database) -> None:
    """The catch-up under way began before the window (it may page newest-first): the next fills it."""
    await store.cursors.record_success(BRAND, SOURCE, 1, 2, caught_up=True)
    await store.cursors.record_success(BRAND, SOURCE, 2, 2)  # a catch-up under way ...
    await store.cursors.record_error(  # ... breaks off
        BRAND, SOURCE, "SourceUnavailable: down", gap_since=datetime.now(UTC) - timedelta(hours=1)
    )
    await store.cursors.record_success(BRAND, SOURCE, 3, 2, caught_up=True)  # it ends
    assert len((await store.cursors.get(BRAND, SOURCE)).open_gaps) == 1
    await store.cursors.record_success(BRAND, SOURCE, 4, 2, caught_up=True)  # one begun after
    assert (await store.cursors.get(BRAND, SOURCE)).open_gaps == ()


async def test_a_window_a_source_s_cap_cut_is_never_filled(store: Database) -> None:
    """No later run can read what a listing's cap left out: the window stays not read."""
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    await store.cursors.record_success(BRAND, SOURCE, 1, 2, caught_up=True)
    assert await store.cursors.record_gap(BRAND, SOURCE, start, end, "reddit: cap of 1,000")
    for cursor in (2, 3):
        await store.cursors.record_success(BRAND, SOURCE, cursor, 2, caught_up=True)
    [gap] = (await store.cursors.get(BRAND, SOURCE)).open_gaps
    assert (gap["from"].replace(tzinfo=UTC), gap["to"].replace(tzinfo=UTC)) == (start, end)
    assert gap["reason"] == "reddit: cap of 1,000" and gap["cap"] is True
