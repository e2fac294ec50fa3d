"""Running `goodwill up` (and other long-lived Goodwill processes) in tests, and always stopping them.

Every process a test starts carries the test's own ``GOODWILL_DATA_DIR`` in its
environment, and so does every process those start (the supervisor's children, the
database). Teardown finds them all by that mark in /proc and kills them, whatever the
test did or failed to do: a test never leaves a collector or a dashboard running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import free_port


def marked_processes(data_dir: Path) -> dict[int, list[str]]:
    """Live processes (zombies excluded) with ``GOODWILL_DATA_DIR=data_dir`` in their environment.

    Returns each one's pid and command line.
    """
    mark = f"GOODWILL_DATA_DIR={data_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if state != "Z":
            found[int(entry.name)] = command.split("\0")[:-1]
    return found


def wait_until_gone(data_dir: Path, timeout: float) -> dict[int, list[str]]:
    """Wait up to ``timeout`` s for every process marked with ``data_dir`` to exit; those left."""
    deadline = time.monotonic() + timeout
    left = marked_processes(data_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = marked_processes(data_dir)
    return left


def kill_marked(data_dir: Path) -> None:
    """SIGKILL every process marked with ``data_dir`` (repeatedly: one may start another)."""
    for _ in range(10):
        left = marked_processes(data_dir)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


@dataclass
class UpProcess:
    """A `goodwill up` started by a test; its output goes to a file (a pipe could fill up)."""

    process: subprocess.Popen[bytes]
    log: Path
    log_file: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        """The supervisor's pid."""
        return self.process.pid

    def output(self) -> str:
        """Everything it (and its children) printed so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> str:
        """Wait until ``text`` is in the output; fail with the output if it exits or time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                time.sleep(0.5)  # let the last lines land
                if text in self.output():
                    break
                pytest.fail(f"`goodwill up` exited ({self.process.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} from `goodwill up` in {timeout:.0f} s:\n{self.output()}")
            time.sleep(0.2)
        return self.output()

    def interrupt(self, timeout: float = 120.0) -> int:
        """Ctrl-C: SIGINT, as a terminal sends it, and wait for it to exit; its exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], UpProcess]]:
    """A function that starts `goodwill up` with an environment; all it started is killed after."""
    started: list[tuple[UpProcess, Path]] = []

    def start(env: dict[str, str]) -> UpProcess:
        log = tmp_path / f"up-{len(started) + 1}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "up"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            # Ctrl-C as from a terminal: a suite started in the background (`make test &`)
            # passes on SIGINT ignored, and Python then never sees the test's SIGINT.
            preexec_fn=_default_sigint,
        )
        up = UpProcess(process, log, handle)
        started.append((up, Path(env["GOODWILL_DATA_DIR"])))
        return up

    try:
        yield start
    finally:
        for up, data_dir in started:
            if up.process.poll() is None:
                up.process.kill()
            up.process.wait()
            kill_marked(data_dir)
            up.log_file.close()


@pytest.fixture
def up_env(tmp_path: Path) -> dict[str, str]:
    """A private data directory and free ports, with the embedded database (no URI set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODWILL_")}
    env.update(
        GOODWILL_DATA_DIR=str(tmp_path / "data"),
        GOODWILL_DB_PORT=str(free_port()),
        GOODWILL_DASHBOARD_PORT=str(free_port()),
        GOODWILL_REPLAY_INTERVAL_SECONDS="3600",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def light_up_env(goodwill_env: dict[str, str]) -> dict[str, str]:
    """As ``up_env``, but on the session's test database: for tests where the database is not the subject."""
    return {
        **goodwill_env,
        "GOODWILL_DASHBOARD_PORT": str(free_port()),
        "GOODWILL_REPLAY_INTERVAL_SECONDS": "3600",
        "PYTHONUNBUFFERED": "1",
    }
