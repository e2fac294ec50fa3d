"""A collection job's lease: renewed while a run works, and a stale holder writes no cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from collector.base import CollectContext, Page, Target
from collector.runner import Job, Runner
from store import Database
from tests.factories import mention


class SlowSource:
    """Two pages; while fetching the second, runs ``meanwhile`` (another collector's doing)."""

    name = "slow"

    def __init__(self, meanwhile: Callable[[], Awaitable[None]]) -> None:
        self.meanwhile = meanwhile

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        if cursor is None:
            return Page([mention("acme one", source="slow")], 1, more=True)
        await self.meanwhile()
        return Page([mention("acme two", source="slow")], 2)


async def test_a_long_run_keeps_its_lease_and_no_other_collector_takes_the_job(
    store: Database,
) -> None:
    """The run lasts three leases; a second collector trying meanwhile is turned away."""
    turned_away: list[str | None] = []

    async def another_collector_tries() -> None:
        await asyncio.sleep(0.9)  # three times the lease
        other = Runner(store, [job], lease=timedelta(seconds=0.3))
        turned_away.append((await other.run_job(job.id)).skipped)

    job = Job("Acme", SlowSource(another_collector_tries), 60)
    result = await Runner(store, [job], lease=timedelta(seconds=0.3)).run_job(job.id)
    assert result.error is None and result.inserted == 2
    assert turned_away == ["another runner holds it"]
    assert (await store.cursors.get("Acme", "slow")).cursor == 2


async def test_a_runner_that_lost_its_lease_writes_no_cursor(store: Database) -> None:
    """Its lease was taken meanwhile: the new holder's cursor stands, this run stops and says so."""

    async def the_lease_is_taken() -> None:
        await store.collection("cursors").update_one(
            {"brand": "Acme", "source": "slow"},
            {"$set": {"lease": {"owner": "the-other-collector", "expires": None}, "cursor": 7}},
        )

    job = Job("Acme", SlowSource(the_lease_is_taken), 60)
    result = await Runner(store, [job]).run_job(job.id)
    assert result.error is not None and "lost the lease" in result.error
    assert (await store.cursors.get("Acme", "slow")).cursor == 7
