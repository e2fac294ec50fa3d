"""The long-running processes of Goodwill: the collector, the scorer and the alerter.

Each runs as its own OS process (``goodwill collect``, ``goodwill score``, ``goodwill alert``), so each can
run as many copies, on as many machines, as its load needs; they meet only in MongoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp

from collector.jobs import build_jobs
from collector.runner import Job, JobResult, Runner, make_scheduler
from config.settings import Settings
from config.watchlist import watchlist_from_settings
from goodwill.errors import ConfigError
from service.supervisor import SUPERVISOR_PID_VARIABLE
from store import Database

if TYPE_CHECKING:
    from scoring.worker import BatchResult

__all__ = [
    "alert",
    "collect",
    "default_jobs",
    "open_store",
    "rescore",
    "score",
    "wait_for_stop",
]

log = logging.getLogger(__name__)

_SUPERVISOR_POLL = 1.0  # seconds between looks at whether the supervisor is still there


def default_jobs(settings: Settings) -> list[Job]:
    """The jobs of the watch list (GOODWILL_WATCHLIST), or of the built-in demo without one."""
    return build_jobs(watchlist_from_settings(settings), settings=settings)


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Database]:
    """The process's one store, closed on the way out."""
    store = await Database.open(
        settings.effective_mongodb_uri,
        settings.database,
        dead_letter_retention=timedelta(days=settings.dead_letter_retention_days),
    )
    try:
        yield store
    finally:
        await store.close()


async def wait_for_stop() -> None:
    """Return when the process is asked to stop (SIGTERM or SIGINT), or its supervisor is gone.

    A process that ``goodwill up`` started stops by itself, as on SIGTERM, once that
    ``goodwill up`` is gone (killed with SIGKILL, say): it never collects or scores on
    as an orphan beside the next ``goodwill up``'s processes. On Linux the kernel sends
    the SIGTERM (see ``service.supervisor``); this watch is for everywhere else.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    supervisor = _supervisor_pid()
    watch = None
    if supervisor is not None:
        watch = asyncio.create_task(_stop_without_supervisor(supervisor, stop))
    try:
        await stop.wait()
    finally:
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _supervisor_pid() -> int | None:
    """The pid of the ``goodwill up`` that started this process; None when none did.

    Read from the environment here, the one exception to "only ``Settings`` reads
    ``os.environ``": this is no setting that anyone configures, but a note that the
    supervisor leaves for the children it starts (``SUPERVISOR_PID_VARIABLE``). As a
    ``Settings`` field it would be listed among the knobs users set, and it would make
    config/ depend on how ``goodwill up`` runs its processes.
    """
    value = os.environ.get(SUPERVISOR_PID_VARIABLE, "")
    return int(value) if value.isdigit() else None


async def _stop_without_supervisor(supervisor: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once ``supervisor`` is no longer this process's parent."""
    # The parent pid changes when the parent dies (the orphan is re-parented): unlike
    # a check of ``supervisor`` itself, a recycled pid cannot fool it.
    while True:
        if os.getppid() != supervisor:
            log.warning("goodwill up (pid %d) is gone; stopping as on SIGTERM", supervisor)
            stop.set()
            return
        await asyncio.sleep(_SUPERVISOR_POLL)


def _select(jobs: list[Job], brand: str | None, source: str | None) -> list[Job]:
    chosen = [
        job
        for job in jobs
        if (brand is None or job.brand.casefold() == brand.casefold())
        and (source is None or job.source.name == source)
    ]
    if not chosen:
        known = ", ".join(sorted({f"{job.source.name}:{job.brand}" for job in jobs}))
        raise ConfigError(
            f"No job matches brand={brand!r} source={source!r}. The watch list has: {known}."
        )
    return chosen


async def collect(
    settings: Settings,
    *,
    once: bool,
    brand: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    report: Callable[[JobResult], None] | None = None,
    progress: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run the chosen jobs once (``once``; a back-fill to ``since`` if given), or on schedule."""
    jobs = _select(default_jobs(settings), brand, source)
    timeout = aiohttp.ClientTimeout(total=60, connect=10)
    async with open_store(settings) as store, aiohttp.ClientSession(timeout=timeout) as session:
        runner = Runner(store, jobs, session=session)
        if once or since is not None:
            results = []
            for job_id in runner.jobs:
                result = await runner.run_job(job_id, since=since, progress=progress)
                if report is not None:
                    report(result)
                results.append(result)
            return results
        scheduler = make_scheduler()
        runner.schedule(scheduler)
        scheduler.start()
        log.info("collector running %d jobs; Ctrl-C or SIGTERM stops it", len(runner.jobs))
        try:
            await wait_for_stop()
        finally:
            scheduler.shutdown(wait=False)
        return []


async def rescore(
    settings: Settings,
    *,
    model_name: str | None = None,
    since: datetime | None = None,
    started: Callable[[str, int], None] | None = None,
    report: Callable[[BatchResult], None] | None = None,
) -> int:
    """Re-score mentions scored by another model version (since a date) with this one."""
    from customers.advocacy import AdvocacyParams
    from scoring.sentiment import SentimentModel
    from scoring.worker import ScoringWorker

    model = await asyncio.to_thread(
        SentimentModel.load, model_name or settings.model, precision=settings.served_precision
    )
    async with open_store(settings) as store:
        queued = await store.queue.requeue(model.version, since=since)
        if started is not None:
            started(model.version, queued)
        worker = ScoringWorker(
            store,
            model,
            batch_size=settings.score_batch_size,
            lease=timedelta(seconds=settings.score_lease_seconds),
            params=AdvocacyParams.from_settings(settings),
        )
        return await worker.drain(report)


async def score(
    settings: Settings, *, once: bool, report: Callable[[BatchResult], None] | None = None
) -> int:
    """Score what is waiting (``once``), or keep scoring as mentions arrive until asked to stop."""
    from customers.advocacy import AdvocacyParams
    from scoring.sentiment import SentimentModel  # torch loads only in processes that score
    from scoring.worker import ScoringWorker

    model = await asyncio.to_thread(
        SentimentModel.load, settings.model, precision=settings.served_precision
    )
    async with open_store(settings) as store:
        worker = ScoringWorker(
            store,
            model,
            batch_size=settings.score_batch_size,
            lease=timedelta(seconds=settings.score_lease_seconds),
            params=AdvocacyParams.from_settings(settings),
        )
        if once:
            return await worker.drain(report)
        log.info("scorer running with %s; Ctrl-C or SIGTERM stops it", model.version)
        task = asyncio.create_task(worker.run_forever())
        try:
            await wait_for_stop()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return 0


async def alert(settings: Settings, *, once: bool = False, interval: float = 1.0) -> int:
    """Evaluate the watch list's alert rules and deliver the outbox to Slack, until asked to stop.

    ``once``: one pass of the rules and one of delivery (returns the messages delivered).
    Without alert rules the process waits idle (so ``goodwill up`` keeps it quietly).
    """
    from alerts.deliver import Deliverer
    from alerts.engine import AlertEngine
    from config.alerting import resolve_destinations

    watchlist = watchlist_from_settings(settings)
    build_jobs(watchlist, settings=settings)  # a wrong source value stops every process alike
    destinations = resolve_destinations(watchlist.destinations, settings)
    timeout = aiohttp.ClientTimeout(total=30, connect=10)
    async with open_store(settings) as store, aiohttp.ClientSession(timeout=timeout) as session:
        alerts = store.outbox
        engine = AlertEngine(
            alerts,
            watchlist.alerts,
            brands=[brand.name for brand in watchlist.brands],
            dashboard_link=settings.dashboard_link,
            themes=store.themes,
        )
        deliverer = Deliverer(alerts, destinations, session)
        if once:
            await engine.run_once()
            return await deliverer.deliver_once()
        if not watchlist.alerts:
            log.info("no [[alerts]] rules in the watch list; the alerter waits idle")
        log.info(
            "alerter running %d rules to %d destinations; Ctrl-C or SIGTERM stops it",
            len(watchlist.alerts),
            len(destinations),
        )
        tasks = [
            asyncio.create_task(engine.run_forever(interval=interval)),
            asyncio.create_task(deliverer.run_forever(interval=interval)),
        ]
        try:
            await wait_for_stop()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return 0
