"""The collection runner: runs each brand x source job, stores its mentions, keeps its place.

A job fetches pages from its source from the saved cursor, upserts each page's
mentions by (source, external_id), and saves the new cursor only after the page is
stored, so a crash loses nothing and a re-run duplicates nothing. Payloads a source
cannot parse are dead-lettered with their reason. Network failures are retried with
back-off (stamina); what still fails is recorded on the job's cursor, with the window
it left unread, visible in ``goodwill sources`` (a later catch-up that reads the window
marks it filled). A window a source's own cap cut short (``Page.truncated``) is
recorded as not read for good.

Jobs are scheduled by APScheduler in each collector process's memory; a job's lease in
MongoDB keeps two processes from running it at once. The lease is renewed with every
page saved and, while one fetch takes long, every third of its length; a run whose
lease was lost meanwhile (another collector took the job) stops at once and writes
nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp
import stamina
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from collector.base import CollectContext, Page, Source, Target
from collector.dead_letters import author_keys
from collector.http import BodyTooLarge
from collector.sources.registry import FETCHES_PER_MINUTE
from goodwill.errors import RateLimited, SourceError, SourceUnavailable, StoreError
from goodwill.models import Mention, utcnow
from store import Coverage, CursorState, Database

__all__ = ["Job", "JobResult", "Matcher", "Runner", "make_scheduler"]

log = logging.getLogger(__name__)

#: A job fetches at most this many pages per run, so one busy source cannot starve the rest.
MAX_PAGES_PER_RUN = 50
#: A rate limit shorter than this is waited out within the run; a longer one pauses the job.
MAX_INLINE_WAIT = 60.0
#: After this many failed runs in a row, a job pauses with an exponential back-off.
PAUSE_AFTER_FAILURES = 3
MAX_PAUSE = timedelta(hours=6)


class Matcher(Protocol):
    """A brand's query, as the runner uses it (see ``config.query.Query``)."""

    def matches(self, mention: Mention) -> bool:
        """True when the mention really is about the brand."""
        ...


@dataclass(frozen=True)
class Job:
    """One brand x source to collect, every ``interval`` seconds.

    ``query`` decides locally whether a fetched item is a mention of the brand; a
    source that lists only the brand's own items (``match_all = True``, e.g. app
    reviews) is not filtered.
    """

    brand: str
    source: Source
    interval: float
    terms: tuple[str, ...] = ()
    query: Matcher | None = None

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
    coverage: Coverage = field(default_factory=Coverage)
    skipped: str | None = None  # why the run did nothing (another runner holds it, paused)


class _Budget:
    """At most ``per_minute`` fetches a minute from one source type, in this process.

    Sources' own signals (429, rate-limit headers) still apply; the budget keeps
    Goodwill from spending a shared quota (one API key for many brands) in a burst.
    """

    def __init__(self, per_minute: float) -> None:
        self.spacing = 60.0 / per_minute
        self.next_at = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:
            now = time.monotonic()
            if self.next_at > now:
                await asyncio.sleep(self.next_at - now)
            self.next_at = max(now, self.next_at) + self.spacing


def _retry_hook(error: Exception) -> bool | float:
    """Retry network failures with back-off; wait out short rate limits exactly as asked."""
    if isinstance(error, RateLimited):
        return error.retry_after if error.retry_after <= MAX_INLINE_WAIT else False
    return isinstance(error, SourceUnavailable)


class Runner:
    """Runs collection jobs against one store with one HTTP session.

    Several runner processes may share a database: each run of a job first takes the
    job's lease in MongoDB, so a job is collected by one process at a time.
    """

    def __init__(
        self,
        store: Database,
        jobs: Sequence[Job],
        session: aiohttp.ClientSession | None = None,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=10),
        budgets: Mapping[str, float] | None = None,
    ) -> None:
        """``budgets``: fetches per minute allowed per source type (default: the registry's)."""
        self.store = store
        self.jobs = {job.id: job for job in jobs}
        self.context = CollectContext(session=session)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = lease
        per_minute = FETCHES_PER_MINUTE if budgets is None else budgets
        self._budgets = {name: _Budget(rate) for name, rate in per_minute.items() if rate > 0}

    async def run_job(
        self,
        job_id: str,
        *,
        since: datetime | None = None,
        progress: Callable[[JobResult], None] | None = None,
    ) -> JobResult:
        """Fetch and store pages of one job until its source has no more right now.

        With ``since``, this is a back-fill: it starts from scratch under its own cursor
        (``SOURCE/backfill``, so it resumes where it stopped if interrupted) and collects
        everything back to ``since``; the regular cursor is left alone.
        """
        job = self.jobs[job_id]
        key = job.source.name if since is None else f"{job.source.name}/backfill"
        if not await self.store.cursors.acquire(job.brand, key, self.owner, self.lease):
            state = await self.store.cursors.get(job.brand, key)
            reason = (
                f"paused until {state.paused_until:%Y-%m-%d %H:%M} UTC after {state.failures} failures"
                if state.state == "paused"
                else "another runner holds it"
            )
            return JobResult(job.id, 0, 0, 0, 0, skipped=reason)
        lost = asyncio.Event()
        renewal = asyncio.create_task(self._keep_lease(job.brand, key, lost))
        try:
            return await self._collect(job, key, since, progress, lost)
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            await self.store.cursors.release(job.brand, key, self.owner)

    async def _keep_lease(self, brand: str, key: str, lost: asyncio.Event) -> None:
        """Renew the job's lease every third of its length while the run works.

        Sets ``lost`` when another runner holds it now: the run stops at once.
        """
        every = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(every)
            try:
                if not await self.store.cursors.renew(brand, key, self.owner, self.lease):
                    lost.set()
                    return
            except StoreError as error:
                log.warning("collect %s:%s: could not renew the lease: %s", key, brand, error)

    async def _collect(
        self,
        job: Job,
        key: str,
        since: datetime | None,
        progress: Callable[[JobResult], None] | None,
        lost: asyncio.Event,
    ) -> JobResult:
        state = await self.store.cursors.get(job.brand, key)
        cursor = state.cursor
        target = Target(job.brand, job.terms, since)
        query = None if getattr(job.source, "match_all", False) else job.query
        pages = inserted = updated = 0
        total = Coverage()
        saved_at: datetime | None = None
        try:
            while pages < MAX_PAGES_PER_RUN:
                fetched = await self._unless_lost(self._fetch(job, target, cursor), lost)
                if fetched is None:
                    return self._lost_lease(job, pages, inserted, updated, total)
                page = fetched
                pages += 1
                for reason, payload in page.unparsed:
                    await self.store.cursors.dead_letter(
                        job.source.name,
                        reason,
                        payload,
                        brand=job.brand,
                        authors=author_keys(job.source.name, payload),
                    )
                matched = [m for m in page.mentions if query is None or m.owned or query.matches(m)]
                result = await self.store.mentions.upsert(matched)
                await self._apply_changes(page)
                coverage = Coverage(
                    fetched=len(page.mentions) + len(page.unparsed),
                    matched=len(matched),
                    dropped=len(page.mentions) - len(matched),
                    stored=result.inserted,
                    dead_lettered=len(page.unparsed),
                )
                total = _add(total, coverage)
                inserted += result.inserted
                updated += result.updated
                cursor = page.cursor
                saved = await self.store.cursors.record_success(
                    job.brand,
                    key,
                    cursor,
                    result.inserted,
                    coverage,
                    owner=self.owner,
                    lease=self.lease,
                    caught_up=not page.more,
                )
                if not saved or (
                    page.truncated and not await self._record_cap(job, key, page, since, state)
                ):
                    return self._lost_lease(job, pages, inserted, updated, total)
                saved_at = utcnow()
                if progress is not None:
                    progress(
                        JobResult(
                            job.id, pages, inserted, updated, total.dead_lettered, coverage=total
                        )
                    )
                if not page.more:
                    break
        except SourceError as error:
            if lost.is_set():
                return self._lost_lease(job, pages, inserted, updated, total)
            message = f"{error.__class__.__name__}: {error}"
            if isinstance(error, BodyTooLarge):  # kept with its reason, like an unparsable item
                await self.store.cursors.dead_letter(
                    job.source.name, str(error), {"url": error.url}, brand=job.brand
                )
            failures = state.failures + 1
            retry_in: timedelta | None = None
            if isinstance(error, RateLimited):
                retry_in = timedelta(seconds=error.retry_after)
            elif failures >= PAUSE_AFTER_FAILURES:
                retry_in = min(timedelta(minutes=2 ** (failures - PAUSE_AFTER_FAILURES)), MAX_PAUSE)
            log.warning(
                "collect %s failed (%d in a row): %s%s",
                job.id,
                failures,
                message,
                f"; paused for {retry_in}" if retry_in else "",
            )
            # Unread from the last page this run saved, else from the job's last success.
            gap_since = saved_at or state.last_success or since
            recorded = await self.store.cursors.record_error(
                job.brand, key, message, retry_in=retry_in, gap_since=gap_since, owner=self.owner
            )
            if recorded is None:
                return self._lost_lease(job, pages, inserted, updated, total)
            return JobResult(job.id, pages, inserted, updated, total.dead_lettered, message, total)
        if inserted or total.dead_lettered:
            log.info(
                "collect %s: %d fetched, %d matched, %d new, %d dead-lettered",
                job.id,
                total.fetched,
                total.matched,
                inserted,
                total.dead_lettered,
            )
        return JobResult(job.id, pages, inserted, updated, total.dead_lettered, coverage=total)

    def _lost_lease(
        self, job: Job, pages: int, inserted: int, updated: int, total: Coverage
    ) -> JobResult:
        """The result of a run that stopped because another collector took its job."""
        message = (
            f"lost the lease on {job.id}: another collector took the job (this run outlived "
            "its lease); this run stopped without saving, and the next run resumes from the "
            "cursor the new holder saves"
        )
        log.warning("collect %s: %s", job.id, message)
        return JobResult(job.id, pages, inserted, updated, total.dead_lettered, message, total)

    async def _unless_lost(
        self, fetching: Coroutine[Any, Any, Page], lost: asyncio.Event
    ) -> Page | None:
        """``fetching``'s page, or None as soon as the lease is lost (the fetch is cancelled)."""
        fetch = asyncio.ensure_future(fetching)
        lost_wait = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({fetch, lost_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (fetch, lost_wait):
                task.cancel()
            await asyncio.gather(fetch, lost_wait, return_exceptions=True)
        if lost.is_set():
            return None
        return fetch.result()

    async def _record_cap(
        self, job: Job, key: str, page: Page, since: datetime | None, state: CursorState
    ) -> bool:
        """Record the window a source's own cap left unread; False when the lease was lost."""
        reason = page.truncated or "the source's cap"
        if page.truncated_window is not None:
            start, end = page.truncated_window
        else:  # the oldest item the page reached, back to what the job had before
            times = [mention.created_at for mention in page.mentions]
            end = min(times) if times else utcnow()
            start = min(since or state.last_success or end, end)
        log.warning(
            "collect %s: %s; not read: %s to %s",
            job.id,
            reason,
            f"{start:%Y-%m-%d %H:%M}",
            f"{end:%Y-%m-%d %H:%M}",
        )
        return await self.store.cursors.record_gap(
            job.brand, key, start, end, reason, owner=self.owner
        )

    async def _apply_changes(self, page: Page) -> None:
        """Edits and deletions the source reported: new text to score again; posts gone."""
        if page.edited:
            await self.store.mentions.replace_text(page.edited)
        by_source: dict[str, list[str]] = {}
        for source, external_id in page.deleted:
            by_source.setdefault(source, []).append(external_id)
        for source, external_ids in by_source.items():
            removed = await self.store.mentions.remove_deleted(source, external_ids)
            await self.store.rollups.recount(doc for doc in removed if "created_at" in doc)
            if removed:
                log.info("%d mentions removed: their %s posts were deleted", len(removed), source)

    async def _fetch(self, job: Job, target: Target, cursor: object) -> Page:
        async for attempt in stamina.retry_context(on=_retry_hook, attempts=4, timeout=None):
            with attempt:
                budget = self._budgets.get(job.source.name)
                if budget is not None:
                    await budget.wait()
                return await job.source.fetch(self.context, target, cursor)
        raise AssertionError("unreachable: stamina re-raises the last error")

    async def run_all(self) -> list[JobResult]:
        """Run every job once, one after another (tests, ``goodwill collect --once``)."""
        return [await self.run_job(job_id) for job_id in self.jobs]

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Add every job to ``scheduler`` at its interval, replacing an older definition."""
        for job in self.jobs.values():
            scheduler.add_job(
                self._run_scheduled,
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

    async def _run_scheduled(self, job_id: str) -> None:
        try:
            await self.run_job(job_id)
        except StoreError as error:
            log.warning("collect %s: %s; it runs again at its next interval", job_id, error)


def make_scheduler() -> AsyncIOScheduler:
    """An APScheduler for ``Runner.schedule``, keeping its jobs in memory.

    Jobs are never kept in MongoDB: APScheduler's MongoDB job store unpickles what it
    reads, so anyone able to write to the database could run code in the collector.
    Processes need no shared schedule: each job's lease in MongoDB (``store.cursors``)
    already keeps two collectors from running one job at once.
    """
    return AsyncIOScheduler(timezone="UTC")


def _add(a: Coverage, b: Coverage) -> Coverage:
    return Coverage(**{name: getattr(a, name) + getattr(b, name) for name in vars(a)})
