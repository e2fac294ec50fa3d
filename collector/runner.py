"""The collection runner: runs each brand x source job, stores its mentions, keeps its place.

A job fetches pages from its source from the saved cursor, upserts each page's
mentions by (source, external_id), and saves the new cursor only after the page is
stored, so a crash loses nothing and a re-run duplicates nothing. Payloads a source
cannot parse are dead-lettered with their reason. Network failures are retried with
back-off (stamina); what still fails is recorded on the job's cursor, visible in
``goodwill sources``.

Jobs are scheduled by APScheduler with its job store in MongoDB, so every collector
process shares one schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp
import stamina
from apscheduler.jobstores.mongodb import MongoDBJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pymongo import MongoClient

from collector.base import CollectContext, Page, Source, Target
from goodwill.errors import RateLimited, SourceError, SourceUnavailable, StoreError
from goodwill.models import utcnow
from goodwill.store import Store

__all__ = ["Job", "JobResult", "Runner", "make_scheduler"]

log = logging.getLogger(__name__)

#: A job fetches at most this many pages per run, so one busy source cannot starve the rest.
MAX_PAGES_PER_RUN = 50


@dataclass(frozen=True)
class Job:
    """One brand x source to collect, every ``interval`` seconds."""

    brand: str
    source: Source
    interval: float
    terms: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """The job's id in the schedule: ``source:brand``."""
        return f"{self.source.name}:{self.brand}"


@dataclass(frozen=True)
class JobResult:
    """What one run of a job did."""

    job_id: str
    pages: int
    inserted: int
    updated: int
    dead_lettered: int
    error: str | None = None


class Runner:
    """Runs collection jobs against one store with one HTTP session."""

    def __init__(
        self, store: Store, jobs: Sequence[Job], session: aiohttp.ClientSession | None = None
    ) -> None:
        self.store = store
        self.jobs = {job.id: job for job in jobs}
        self.context = CollectContext(session=session)

    async def run_job(self, job_id: str) -> JobResult:
        """Fetch and store pages of one job until its source has no more right now."""
        job = self.jobs[job_id]
        pages = inserted = updated = dead = 0
        state = await self.store.get_cursor(job.brand, job.source.name)
        cursor = state.cursor
        try:
            while pages < MAX_PAGES_PER_RUN:
                page = await self._fetch(job, cursor)
                pages += 1
                for reason, payload in page.unparsed:
                    await self.store.dead_letter(job.source.name, reason, payload, brand=job.brand)
                    dead += 1
                result = await self.store.upsert_mentions(page.mentions)
                inserted += result.inserted
                updated += result.updated
                cursor = page.cursor
                await self.store.record_success(job.brand, job.source.name, cursor, result.inserted)
                if not page.more:
                    break
        except SourceError as error:
            message = f"{error.__class__.__name__}: {error}"
            log.warning("collect %s failed: %s", job.id, message)
            await self.store.record_error(job.brand, job.source.name, message)
            return JobResult(job.id, pages, inserted, updated, dead, message)
        if inserted or dead:
            log.info(
                "collect %s: %d new, %d updated, %d dead-lettered", job.id, inserted, updated, dead
            )
        return JobResult(job.id, pages, inserted, updated, dead)

    async def _fetch(self, job: Job, cursor: object) -> Page:
        # Network failures are retried with exponential back-off and jitter; a rate
        # limit waits as long as the source asked before the next attempt.
        async for attempt in stamina.retry_context(on=(SourceUnavailable, RateLimited), attempts=4):
            with attempt:
                try:
                    return await job.source.fetch(
                        self.context, Target(job.brand, job.terms), cursor
                    )
                except RateLimited as error:
                    await asyncio.sleep(min(error.retry_after, 300))
                    raise
        raise AssertionError("unreachable: stamina re-raises the last error")

    async def run_all(self) -> list[JobResult]:
        """Run every job once, one after another (back-fills, tests, ``goodwill collect --once``)."""
        return [await self.run_job(job_id) for job_id in self.jobs]

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add every job to ``scheduler`` at its interval, replacing an older definition."""
        global _scheduled_runner
        _scheduled_runner = self
        for job in self.jobs.values():
            scheduler.add_job(
                "collector.runner:_run_scheduled",
                "interval",
                seconds=job.interval,
                args=[job.id],
                id=job.id,
                name=job.id,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(int(job.interval), 1),
                next_run_time=utcnow(),
            )


# APScheduler keeps jobs in MongoDB, so a job names a module-level function (a bound
# method cannot be stored); this is the runner of the process's scheduler.
_scheduled_runner: Runner | None = None


async def _run_scheduled(job_id: str) -> None:
    runner = _scheduled_runner
    if runner is None or job_id not in runner.jobs:
        log.warning("scheduled job %s has no runner in this process; skipped", job_id)
        return
    try:
        await runner.run_job(job_id)
    except StoreError as error:
        log.warning("collect %s: %s; it runs again at its next interval", job_id, error)


def make_scheduler(
    mongodb_uri: str, database: str, runner: Runner
) -> tuple[AsyncIOScheduler, Callable[[], None]]:
    """An APScheduler with its jobs kept in MongoDB, holding ``runner``'s jobs; and its closer."""
    client: MongoClient[dict[str, object]] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    scheduler = AsyncIOScheduler(
        jobstores={
            "default": MongoDBJobStore(
                database=database, collection="scheduler_jobs", client=client
            )
        },
        timezone="UTC",
    )
    return scheduler, client.close
