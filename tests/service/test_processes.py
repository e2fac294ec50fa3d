"""The long-running workers (``goodwill collect``, ``alert``) as `goodwill up` runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.service.conftest import kill_marked, marked_processes, wait_until_gone

# A stand-in for `goodwill up` with no parent-death signal (as on systems without one):
# it starts the workers with its pid in GOODWILL_SUPERVISOR_PID, as `goodwill up` does.
_SUPERVISOR = """
import os, subprocess, sys, time
env = {**os.environ, "GOODWILL_SUPERVISOR_PID": str(os.getpid())}
for command in ("collect", "alert"):
    subprocess.Popen([sys.executable, "-m", "service.cli", command], env=env)
time.sleep(600)
"""


@pytest.fixture
def supervisor(
    goodwill_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The stand-in supervisor and the file its workers log to; everything is killed afterwards."""
    env = {**goodwill_env, "GOODWILL_REPLAY_INTERVAL_SECONDS": "1", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "workers.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", _SUPERVISOR], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        kill_marked(Path(env["GOODWILL_DATA_DIR"]))


def _wait_for(log: Path, texts: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(text in log.read_text() for text in texts):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


@pytest.mark.timeout(300)
def test_workers_stop_by_themselves_when_their_supervisor_is_killed(
    supervisor: tuple[subprocess.Popen[bytes], Path],
    goodwill_env: dict[str, str],
    mongodb_uri: str,
    database_name: str,
) -> None:
    """Without a parent-death signal, the collector and the alerter see their `up` gone, stop cleanly, and write no more."""
    process, log = supervisor
    _wait_for(log, ["collector running", "alerter running"], 120)
    data_dir = Path(goodwill_env["GOODWILL_DATA_DIR"])
    workers = {pid for pid in marked_processes(data_dir) if pid != process.pid}
    assert len(workers) == 2

    with MongoClient[dict[str, Any]](mongodb_uri, serverSelectionTimeoutMS=10_000) as client:
        mentions = client[database_name]["mentions"]
        before = mentions.count_documents({})
        deadline = time.monotonic() + 60
        while mentions.count_documents({}) == before:  # the collector writes every second
            assert time.monotonic() < deadline, "the collector wrote nothing"
            time.sleep(0.5)

        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        left = wait_until_gone(data_dir, 60)
        assert not left, f"left running after kill -9 of their supervisor: {left}"
        assert log.read_text().count("is gone; stopping as on SIGTERM") == 2

        # Writes sent before the end may still land; then the count stays still (a
        # collector left running would add mentions every second).
        assert _settles(lambda: mentions.count_documents({}), quiet=5, timeout=90)
        client.drop_database(database_name)


def _settles(count: Callable[[], int], *, quiet: float, timeout: float) -> bool:
    """Whether ``count()`` stops changing for ``quiet`` seconds within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
    return False
