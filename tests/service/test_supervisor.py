"""`goodwill up` and the processes it starts: none outlives it, none is started twice, a restart is at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.service.conftest import UpProcess, marked_processes, wait_until_gone

StartUp = Callable[[dict[str, str]], UpProcess]

# Generous for a loaded two-core machine: the dashboard and the model load side by side.
_UP_TIMEOUT = 240.0
# The children get SIGTERM the moment the supervisor dies; they exit in a second or two.
_GONE_TIMEOUT = 60.0


def _role(command: list[str]) -> str | None:
    """Which of `goodwill up`'s processes a command line is."""
    if any("secantusd" in part for part in command):
        return "database"
    if "streamlit" in command:
        return "dashboard"
    if "service.cli" in command:
        return {"collect": "collector", "score": "scorer", "alert": "alerter", "up": "up"}.get(
            command[-1]
        )
    return None


def _children(data_dir: Path, supervisor: int) -> dict[str, int]:
    """The live processes of the `goodwill up` on ``data_dir`` other than ``supervisor``, by role."""
    return {
        role: pid
        for pid, command in marked_processes(data_dir).items()
        if pid != supervisor and (role := _role(command)) is not None
    }


@pytest.mark.timeout(600)
def test_a_killed_supervisor_takes_every_child_with_it_and_up_starts_again(
    start_up: StartUp, up_env: dict[str, str]
) -> None:
    """kill -9 of `goodwill up`: collector, scorer, alerter, dashboard and database all exit; a new `up` starts."""
    data_dir = Path(up_env["GOODWILL_DATA_DIR"])
    first = start_up(up_env)
    first.wait_for("Goodwill is up", _UP_TIMEOUT)
    children = _children(data_dir, first.pid)
    assert set(children) == {"collector", "scorer", "alerter", "dashboard", "database"}, children

    os.kill(first.pid, signal.SIGKILL)
    first.process.wait(timeout=30)
    left = wait_until_gone(data_dir, _GONE_TIMEOUT)
    assert not left, f"left running after kill -9 of `goodwill up`: {left}"

    second = start_up(up_env)
    output = second.wait_for("Goodwill is up", _UP_TIMEOUT)
    assert "is taken" not in output and "already running" not in output
    assert set(_children(data_dir, second.pid)) == set(children)
    assert second.interrupt() == 0
    assert not wait_until_gone(data_dir, _GONE_TIMEOUT)


@pytest.fixture
def sleepers(
    light_up_env: dict[str, str],
) -> Iterator[Callable[[list[str]], subprocess.Popen[bytes]]]:
    """Start stand-ins for a killed `goodwill up`'s children; killed afterwards if still running."""
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str]) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen(argv, env=light_up_env, start_new_session=True))
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()


def _start_time(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])


@pytest.mark.timeout(400)
def test_up_stops_what_a_killed_up_left_running_and_starts(
    start_up: StartUp,
    light_up_env: dict[str, str],
    sleepers: Callable[[list[str]], subprocess.Popen[bytes]],
) -> None:
    """A lock whose `goodwill up` is dead: its recorded children are stopped, in one line; an unrelated pid is not."""
    killed_up = sleepers([sys.executable, "-c", "import time; time.sleep(600)"])
    dead_pid, dead_started = killed_up.pid, _start_time(killed_up.pid)
    killed_up.kill()
    killed_up.wait()
    collector_argv = [sys.executable, "-c", "import time; time.sleep(600)", "collect"]
    dashboard_argv = [sys.executable, "-c", "import time; time.sleep(600)", "streamlit"]
    collector, dashboard = sleepers(collector_argv), sleepers(dashboard_argv)
    # A process that reuses a recorded pid: its command line is another's, so it is left alone.
    unrelated = sleepers([sys.executable, "-c", "import time; time.sleep(600)"])
    run_dir = Path(light_up_env["GOODWILL_DATA_DIR"]) / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "up.json").write_text(
        json.dumps(
            {
                "pid": dead_pid,
                "started": dead_started,  # so that a reuse of the pid is not taken for it
                "url": "http://127.0.0.1:1",
                "children": [
                    {"name": "collector", "pid": collector.pid, "cmdline": collector_argv[1:],
                     "started": _start_time(collector.pid)},
                    {"name": "dashboard", "pid": dashboard.pid, "cmdline": dashboard_argv[1:]},
                    {"name": "scorer", "pid": unrelated.pid, "cmdline": ["-m", "service.cli", "score"]},
                ],
            }
        )
    )  # fmt: skip

    up = start_up(light_up_env)
    output = up.wait_for("Goodwill is up", _UP_TIMEOUT)
    assert f"Stopped 2 processes left by a Goodwill that was killed (pid {dead_pid})." in output
    assert collector.poll() is not None and dashboard.poll() is not None
    assert unrelated.poll() is None
    recorded = json.loads((run_dir / "up.json").read_text())
    assert recorded["pid"] == up.pid
    assert {child["name"] for child in recorded["children"]} == {
        "collector",
        "scorer",
        "alerter",
        "dashboard",
    }
    assert up.interrupt() == 0


def _close_from_the_server_side(port: int) -> None:
    """One request that the dashboard's server closes first: its side of it lingers in TIME_WAIT."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(b"GET /_stcore/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := client.recv(65536):  # until the server closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer


def _in_time_wait(port: int) -> bool:
    """Whether a TCP connection on local port ``port`` is in TIME_WAIT (per /proc/net/tcp*)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if int(local.rpartition(":")[2], 16) == port and state == "06":
                return True
    return False


@pytest.mark.timeout(600)
def test_up_starts_again_right_after_ctrl_c(
    start_up: StartUp, light_up_env: dict[str, str]
) -> None:
    """Ctrl-C, then `goodwill up` at once: it starts, though the dashboard's port is in TIME_WAIT."""
    port = int(light_up_env["GOODWILL_DASHBOARD_PORT"])
    first = start_up(light_up_env)
    first.wait_for("Goodwill is up", _UP_TIMEOUT)
    _close_from_the_server_side(port)
    assert first.interrupt() == 0
    assert _in_time_wait(port), "the test needs the dashboard's port in TIME_WAIT"

    second = start_up(light_up_env)
    output = second.wait_for("Goodwill is up", _UP_TIMEOUT)
    assert "is taken" not in output
    assert second.interrupt() == 0
    assert "Goodwill stopped." in second.output()
