"""``retry_call`` retries what it is told to, backs off, logs each retry, gives up when told;
``run_passes`` runs a pass forever and waits out database outages."""

from __future__ import annotations

import asyncio
import logging

import pytest
import stamina

from goodwill.errors import StoreError
from goodwill.retry import retry_call, run_passes

log = logging.getLogger("tests.goodwill.retry")


class Flaky:
    """Raises ``error`` (numbered) on its first ``failures`` calls, then returns ``"done"``."""

    def __init__(self, failures: int, error: type[BaseException] = StoreError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


def _retries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == log.name]


async def _call(flaky: Flaky, **options: object) -> str:
    settings: dict[str, object] = {
        "on": StoreError,
        "attempts": 5,
        "log": log,
        "problem": "database unreachable",
        "first_wait": 0.001,
        "max_wait": 0.004,
        **options,
    }
    return await retry_call(flaky, **settings)  # type: ignore[arg-type]


async def test_a_call_that_fails_a_few_times_then_succeeds_returns_its_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three failures, then the fourth call's result; each failure logged as retried."""
    flaky = Flaky(3)
    with caplog.at_level(logging.WARNING, logger=log.name):
        assert await _call(flaky) == "done"
    assert flaky.calls == 4
    assert [record.getMessage() for record in _retries(caplog)] == [
        f"database unreachable (failure {n}); retrying in 0 s" for n in (1, 2, 3)
    ]


async def test_waits_double_from_the_first_up_to_the_longest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The logged waits double from ``first_wait`` and stay at ``max_wait``."""
    flaky = Flaky(5)
    with caplog.at_level(logging.WARNING, logger=log.name):
        await _call(flaky, attempts=6)
    assert [record.args[2] for record in _retries(caplog)] == [  # type: ignore[index]
        0.001,
        0.002,
        0.004,
        0.004,
        0.004,
    ]


async def test_a_call_that_succeeds_at_once_is_called_once_and_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No failure: one call, no warning."""
    flaky = Flaky(0)
    with caplog.at_level(logging.WARNING, logger=log.name):
        assert await _call(flaky) == "done"
    assert flaky.calls == 1
    assert _retries(caplog) == []


async def test_the_last_error_is_raised_once_the_attempts_are_spent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three attempts, all failing: the third error is raised, only two retries are logged."""
    flaky = Flaky(10)
    with (
        caplog.at_level(logging.WARNING, logger=log.name),
        pytest.raises(StoreError, match="failure 3"),
    ):
        await _call(flaky, attempts=3)
    assert flaky.calls == 3
    assert len(_retries(caplog)) == 2


async def test_other_errors_are_raised_at_once(caplog: pytest.LogCaptureFixture) -> None:
    """An error not in ``on`` is not retried, nor logged."""
    flaky = Flaky(1, ValueError)
    with (
        caplog.at_level(logging.WARNING, logger=log.name),
        pytest.raises(ValueError, match="failure 1"),
    ):
        await _call(flaky)
    assert flaky.calls == 1
    assert _retries(caplog) == []


async def test_cancellation_is_not_retried() -> None:
    """A cancelled call stops the retries, even when ``on`` is every ``Exception``."""
    flaky = Flaky(1, asyncio.CancelledError)
    with pytest.raises(asyncio.CancelledError):
        await _call(flaky, on=Exception)
    assert flaky.calls == 1


async def test_several_error_types_can_be_retried() -> None:
    """``on`` may be a tuple of error types."""
    flaky = Flaky(2, ConnectionError)
    assert await _call(flaky, on=(StoreError, ConnectionError)) == "done"
    assert flaky.calls == 3


async def test_no_limit_retries_past_staminas_default_attempts() -> None:
    """``attempts=None`` keeps trying (stamina alone would stop after 10 attempts)."""
    flaky = Flaky(15)
    assert await _call(flaky, attempts=None) == "done"
    assert flaky.calls == 16


async def test_staminas_test_mode_switches_the_waits_off_and_sets_the_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In test mode nothing waits, even a long back-off, and even no limit stops at its attempts."""
    flaky = Flaky(10)
    with (
        stamina.set_testing(True, attempts=3),
        caplog.at_level(logging.WARNING, logger=log.name),
        pytest.raises(StoreError, match="failure 3"),
    ):
        await _call(flaky, attempts=None, first_wait=60.0, max_wait=60.0)
    assert flaky.calls == 3
    assert [record.getMessage() for record in _retries(caplog)] == [
        f"database unreachable (failure {n}); retrying in 0 s" for n in (1, 2)
    ]


async def test_in_test_mode_a_call_that_recovers_returns_its_result() -> None:
    """Test mode: two failures, then the third call's result, without waiting."""
    flaky = Flaky(2)
    with stamina.set_testing(True, attempts=3):
        assert await _call(flaky, first_wait=60.0, max_wait=60.0) == "done"
    assert flaky.calls == 3


async def test_passes_go_on_after_a_database_outage_until_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two failed passes are retried (and logged); then passes follow each other."""
    flaky = Flaky(2)
    done = asyncio.Event()

    async def one_pass() -> None:
        await flaky()
        if flaky.calls >= 5:
            done.set()

    with caplog.at_level(logging.WARNING, logger=log.name):
        loop = asyncio.create_task(run_passes(one_pass, every=0.001, log=log, max_backoff=0.01))
        await asyncio.wait_for(done.wait(), timeout=10)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert flaky.calls >= 5
    assert len(_retries(caplog)) == 2


async def test_a_pass_failing_otherwise_ends_the_loop() -> None:
    flaky = Flaky(1, ValueError)
    with pytest.raises(ValueError, match="failure 1"):
        await asyncio.wait_for(run_passes(flaky, every=0.001, log=log, max_backoff=0.01), 10)
    assert flaky.calls == 1
