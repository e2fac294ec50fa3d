"""Retrying a call with exponential back-off (stamina), each retry logged.

Goodwill's long-running loops (the scorer, the alert engine, the deliverer) wait out a
database outage the same way: the failed pass is tried again after 1 s, 2 s, 4 s ... up
to a cap, a warning is logged before each wait, and the next success starts the waits
over. ``retry_call`` is that back-off, on stamina, so tests switch it off the way they
switch off every retry of Goodwill's: ``stamina.set_testing(True, attempts=...)``;
``run_passes`` is the loop itself: a pass, a pause, forever, each pass so retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import stamina

from goodwill.errors import StoreError

__all__ = ["retry_call", "run_passes"]

T = TypeVar("T")

_RETRYING = "%s (%s); retrying in %.0f s"


async def retry_call(
    call: Callable[[], Awaitable[T]],
    *,
    on: type[Exception] | tuple[type[Exception], ...],
    attempts: int | None,
    log: logging.Logger,
    problem: str,
    first_wait: float = 1.0,
    max_wait: float = 60.0,
) -> T:
    """Await ``call()`` until it returns, calling it again after each error of type ``on``.

    The waits double from ``first_wait`` up to ``max_wait``, without jitter. Each failure
    that is retried is logged on ``log`` as a warning: ``"<problem> (<error>); retrying in
    <n> s"``; stamina's own instrumentation sees each retry too.

    Args:
        call: What to await; called anew for each attempt.
        on: The errors worth another attempt; any other error (and cancellation) passes
            through at once.
        attempts: How many calls at most, the first included; ``None`` retries for as long
            as it takes (there is no time limit either way).
        log: The logger of the caller, whose warnings these are.
        problem: What a failure means, for the warning (``"database unreachable"``).
        first_wait: Seconds to wait after the first failure.
        max_wait: The longest wait, in seconds.

    Returns:
        What ``call()`` returned.

    Raises:
        The last error of type ``on`` once the attempts are spent (not logged: the caller
        says what giving up means). In stamina's test mode there is no wait and the number
        of attempts is the test mode's, ``attempts=None`` included.
    """
    # stamina's test mode can stop earlier than ``attempts`` says, and it does not wait:
    # there, a retry is logged when the next attempt starts, so a last failure never is.
    retried: Exception | None = None
    async for attempt in stamina.retry_context(
        on,
        attempts=attempts,
        timeout=None,
        wait_initial=first_wait,
        wait_max=max_wait,
        wait_jitter=0.0,
    ):
        if retried is not None:
            log.warning(_RETRYING, problem, retried, 0.0)
            retried = None
        with attempt:
            try:
                return await call()
            except on as error:
                if stamina.is_testing():
                    retried = error
                elif attempts is None or attempt.num < attempts:
                    log.warning(_RETRYING, problem, error, attempt.next_wait)
                raise
    raise AssertionError("unreachable: stamina re-raises the last error")


async def run_passes(
    one_pass: Callable[[], Awaitable[object]],
    *,
    every: float,
    log: logging.Logger,
    max_backoff: float = 60.0,
) -> None:
    """Run ``one_pass()``, pause ``every`` seconds, and again, until cancelled.

    A pass the database fails (``StoreError``) is tried again after 1 s, 2 s, 4 s ... up
    to ``max_backoff``, for as long as it takes, each retry logged as "database
    unreachable"; the next pass starts the waits over. Any other error ends the loop.
    """
    while True:
        await retry_call(
            one_pass,
            on=StoreError,
            attempts=None,
            log=log,
            problem="database unreachable",
            max_wait=max_backoff,
        )
        await asyncio.sleep(every)
