"""``goodwill up``: the whole of Goodwill on one machine, started and stopped as one.

It starts the embedded database (unless GOODWILL_MONGODB_URI points elsewhere), then
the collector, the scorer, the alerter and the dashboard as child processes; it restarts a child
that dies (with back-off, up to a limit), and on Ctrl-C or SIGTERM stops them all and
the database it started. A lock file under the data directory makes a second
``goodwill up`` say where the first one is instead of starting twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings
from goodwill import dbserver
from goodwill.errors import GoodwillError

__all__ = ["AlreadyRunning", "Supervisor", "running_instance"]

_MAX_RESTARTS = 5
_RESTART_WINDOW = 300.0  # seconds: restarts older than this are forgiven
_DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


class AlreadyRunning(GoodwillError):
    """Another ``goodwill up`` holds this data directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_instance(settings: Settings) -> dict[str, object] | None:
    """The lock of a live ``goodwill up`` on this data directory, if there is one."""
    lock = settings.run_dir / "up.json"
    try:
        info: dict[str, object] = json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
    pid = info.get("pid")
    if isinstance(pid, int) and _alive(pid):
        return info
    lock.unlink(missing_ok=True)  # a stale lock from a process that is gone
    return None


@dataclass
class _Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)


class Supervisor:
    """Starts, watches and stops Goodwill's processes."""

    def __init__(self, settings: Settings, *, echo: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.echo = echo
        self.url = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
        self._started_db = False  # stop it on the way out
        self._managing_db = False  # watch it and restart it if it dies
        python = sys.executable
        self.children = [
            _Child("collector", [python, "-m", "service.cli", "collect"]),
            _Child("scorer", [python, "-m", "service.cli", "score"]),
            _Child("alerter", [python, "-m", "service.cli", "alert"]),
            _Child(
                "dashboard",
                [
                    python, "-m", "streamlit", "run", str(_DASHBOARD_APP),
                    "--server.headless", "true",
                    "--server.address", settings.dashboard_host,
                    "--server.port", str(settings.dashboard_port),
                    "--browser.gatherUsageStats", "false",
                    "--client.toolbarMode", "minimal",
                ],
            ),
        ]  # fmt: skip

    def run(self) -> None:
        """Start everything, print where to open it, and watch until asked to stop."""
        other = running_instance(self.settings)
        if other is not None:
            raise AlreadyRunning(
                f"Goodwill is already running (pid {other['pid']}): open {other['url']}. "
                f"Stop it with Ctrl-C in its terminal, or `kill {other['pid']}`."
            )
        self._check_port_free()
        signal.signal(signal.SIGTERM, self._on_signal)
        lock = self.settings.run_dir / "up.json"
        try:
            self._start_database()
            lock.parent.mkdir(parents=True, exist_ok=True)
            lock.write_text(json.dumps({"pid": os.getpid(), "url": self.url}))
            for child in self.children:
                self._spawn(child)
            self._wait_for_dashboard()
            self.echo(f"Goodwill is up. Open {self.url}  (Ctrl-C stops everything)")
            self._watch()
        except KeyboardInterrupt:
            pass
        finally:
            self.echo("Stopping Goodwill ...")
            self._stop_children()
            if self._started_db:
                dbserver.stop(self.settings)
            lock.unlink(missing_ok=True)
            self.echo("Goodwill stopped.")

    def _on_signal(self, signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def _check_port_free(self) -> None:
        with socket.socket() as sock:
            try:
                sock.bind((self.settings.dashboard_host, self.settings.dashboard_port))
            except OSError:
                raise GoodwillError(
                    f"Port {self.settings.dashboard_port} on {self.settings.dashboard_host} is taken, "
                    "so the dashboard cannot start there. Stop what uses it, or set "
                    "GOODWILL_DASHBOARD_PORT to a free port."
                ) from None

    def _start_database(self) -> None:
        if not self.settings.embedded:
            self.echo("Using the database at GOODWILL_MONGODB_URI.")
            return
        info = dbserver.ensure_running(self.settings)
        self._managing_db = True
        self._started_db = not info.already_running
        state = "already running" if info.already_running else "started"
        self.echo(
            f"Embedded database {state} on 127.0.0.1:{info.port} (data in {self.settings.db_dir})."
        )

    def _spawn(self, child: _Child) -> None:
        # Each child gets its own session: Ctrl-C reaches only this supervisor, which
        # then stops the children in order.
        child.process = subprocess.Popen(child.argv, start_new_session=True)

    def _wait_for_dashboard(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_children()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise GoodwillError(
            f"The dashboard did not answer at {self.url} within {timeout:.0f} s; see its output above."
        )

    def _watch(self) -> None:
        ticks = 0
        while True:
            self._check_children()
            ticks += 1
            if self._managing_db and ticks % 5 == 0:
                self._check_database()
            time.sleep(1.0)

    def _check_database(self) -> None:
        # The collector and the scorer reconnect by themselves once the database is back.
        if dbserver.status(self.settings) is not None:
            return
        self.echo("The embedded database stopped; starting it again.")
        dbserver.ensure_running(self.settings)
        self._started_db = True

    def _check_children(self) -> None:
        for child in self.children:
            process = child.process
            if process is None or process.poll() is None:
                continue
            now = time.monotonic()
            child.restarts = [at for at in child.restarts if now - at < _RESTART_WINDOW]
            if len(child.restarts) >= _MAX_RESTARTS:
                raise GoodwillError(
                    f"The {child.name} stopped {_MAX_RESTARTS} times in {_RESTART_WINDOW / 60:.0f} minutes "
                    f"(last exit code {process.returncode}); see its messages above. Goodwill stops."
                )
            delay = 2.0 ** len(child.restarts)
            self.echo(
                f"The {child.name} exited with code {process.returncode}; restarting in {delay:.0f} s."
            )
            time.sleep(delay)
            child.restarts.append(now)
            self._spawn(child)

    def _stop_children(self) -> None:
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
