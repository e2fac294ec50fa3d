"""``goodwill up``: the whole of Goodwill on one machine, started and stopped as one.

It starts the embedded database (unless GOODWILL_MONGODB_URI points elsewhere), then
the collector, the scorer, the alerter and the dashboard as child processes; it restarts a child
that dies (with back-off, up to a limit), and on Ctrl-C or SIGTERM stops them all and
the database it started. A lock file under the data directory makes a second
``goodwill up`` say where the first one is instead of starting twice.

The children die with the supervisor, even when it is killed with SIGKILL and has no
chance to stop them: on Linux each is started with a parent-death signal (SIGTERM), and
the collector, the scorer and the alerter also watch their parent themselves (their
pid of it comes in ``GOODWILL_SUPERVISOR_PID``). Whatever still survives (another
system, a child stuck on its way out) is recorded in the lock file, so the next
``goodwill up`` stops it before it starts, instead of running a second set beside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
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
from typing import Any

from config.settings import Settings
from goodwill.errors import AlreadyRunning, GoodwillError
from store import server as dbserver

__all__ = ["SUPERVISOR_PID_VARIABLE", "AlreadyRunning", "Supervisor", "running_instance"]

SUPERVISOR_PID_VARIABLE = "GOODWILL_SUPERVISOR_PID"
"""The environment variable that tells a child the pid of the ``goodwill up`` that started it."""

_MAX_RESTARTS = 5
_RESTART_WINDOW = 300.0  # seconds: restarts older than this are forgiven
_LEFTOVER_GRACE = 10.0  # seconds a leftover process gets to exit on SIGTERM before SIGKILL
_DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_log = logging.getLogger(__name__)


def running_instance(settings: Settings) -> dict[str, object] | None:
    """The lock of a live ``goodwill up`` on this data directory, if there is one.

    A lock whose ``goodwill up`` is gone is left in place: the next ``goodwill up`` reads
    it to stop what that one left running.
    """
    info = _read_lock(settings.run_dir / "up.json")
    if info is not None and _lock_holder_alive(info):
        return info
    return None


@dataclass
class _Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: int | None = None  # the kernel's start time of the process, against pid reuse
    restarts: list[float] = field(default_factory=list)


class Supervisor:
    """Starts, watches and stops Goodwill's processes."""

    def __init__(self, settings: Settings, *, echo: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.echo = echo
        self.url = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
        self._lock = settings.run_dir / "up.json"
        self._started_db = False  # stop it on the way out
        self._managing_db = False  # watch it and restart it if it dies
        self._database: dbserver.ServerInfo | None = None  # the server this process started
        self._database_started: int | None = None
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
        previous = _read_lock(self._lock)
        if previous is not None and _lock_holder_alive(previous):
            raise AlreadyRunning(
                f"Goodwill is already running (pid {previous['pid']}): open {previous['url']}. "
                f"Stop it with Ctrl-C in its terminal, or `kill {previous['pid']}`."
            )
        if previous is not None:
            self._stop_leftovers(previous)
            self._lock.unlink(missing_ok=True)
        self._check_port_free()
        exposed = self._warn_if_open_to_the_network()
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self._lock.parent.mkdir(parents=True, exist_ok=True)
            self._write_lock()
            self._start_database()
            for child in self.children:
                self._spawn(child)
            self._wait_for_dashboard()
            self.echo(f"Goodwill is up. Open {self.url}  (Ctrl-C stops everything)")
            if self.settings.watchlist is None:
                self.echo(
                    "The built-in demo replays real airline tweets; its alerts (complaints, "
                    f"negative spikes, emerging themes) appear on {self.url}/sources."
                )
            if exposed is not None:
                self.echo(f"WARNING: {exposed}")
            self._watch()
        except KeyboardInterrupt:
            pass
        finally:
            self.echo("Stopping Goodwill ...")
            self._stop_children()
            if self._started_db:
                dbserver.stop(self.settings)
            self._lock.unlink(missing_ok=True)
            self.echo("Goodwill stopped.")

    def _on_signal(self, signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def _check_port_free(self) -> None:
        host, port = self.settings.dashboard_host, self.settings.dashboard_port
        try:
            free = _can_listen(host, port)
        except socket.gaierror as error:
            raise GoodwillError(
                f"The dashboard cannot listen on {host} (GOODWILL_DASHBOARD_HOST): {error.strerror}. "
                "Set it to an address of this machine, such as 127.0.0.1."
            ) from None
        if not free:
            raise GoodwillError(
                f"Port {port} on {host} is taken, so the dashboard cannot start there. Stop what "
                "uses it, or set GOODWILL_DASHBOARD_PORT to a free port."
            )

    def _warn_if_open_to_the_network(self) -> str | None:
        """Log the warning when the dashboard will listen beyond this machine with no login.

        Returns it, to be said again once Goodwill is up (and the dashboard shows it on
        every page).
        """
        from dashboard.login import exposure_warning, oidc_configured

        password = self.settings.dashboard_password
        warning = exposure_warning(
            self.settings.dashboard_host,
            password=bool(password is not None and password.get_secret_value()),
            oidc=oidc_configured(),
        )
        if warning is not None:
            _log.warning("%s", warning)  # on stderr, and in whatever keeps Goodwill's log
        return warning

    def _start_database(self) -> None:
        if not self.settings.embedded:
            self.echo("Using the database at GOODWILL_MONGODB_URI.")
            return
        info = dbserver.ensure_running(self.settings, preexec_fn=_die_with(os.getpid()))
        self._managing_db = True
        self._started_db = not info.already_running
        if self._started_db:
            self._record_database(info)
        state = "already running" if info.already_running else "started"
        self.echo(
            f"Embedded database {state} on 127.0.0.1:{info.port} (data in {self.settings.db_dir})."
        )

    def _record_database(self, info: dbserver.ServerInfo) -> None:
        self._database = info
        self._database_started = _start_time(info.pid)
        self._write_lock()

    def _spawn(self, child: _Child) -> None:
        # Each child gets its own session: Ctrl-C reaches only this supervisor, which
        # then stops the children in order. Every spawn happens on the main thread: the
        # parent-death signal fires when the *thread* that started the child ends.
        # The children inherit the environment (their settings come from it), as any
        # program would, with one addition: whose child they are, so that they can stop
        # by themselves when this process is gone (service.processes.wait_for_stop).
        env = {**os.environ, SUPERVISOR_PID_VARIABLE: str(os.getpid())}
        child.process = subprocess.Popen(
            child.argv, start_new_session=True, env=env, preexec_fn=_die_with(os.getpid())
        )
        child.started = _start_time(child.process.pid)
        self._write_lock()

    def _write_lock(self) -> None:
        """Record this supervisor and what it started, for a later ``up`` to find."""
        children = [
            {
                "name": child.name,
                "pid": child.process.pid,
                "started": child.started,
                # After the interpreter: what /proc/PID/cmdline must hold to be this child.
                "cmdline": child.argv[1:],
            }
            for child in self.children
            if child.process is not None and child.process.poll() is None
        ]
        if self._database is not None:
            children.append(
                {
                    "name": "database",
                    "pid": self._database.pid,
                    "started": self._database_started,
                    "cmdline": ["--storage-path", str(self._database.storage_path)],
                }
            )
        record = {
            "pid": os.getpid(),
            "started": _start_time(os.getpid()),
            "url": self.url,
            "children": children,
        }
        partial = self._lock.with_suffix(".json.tmp")
        partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        partial.replace(self._lock)  # atomic: a reader never sees half a lock

    def _stop_leftovers(self, previous: dict[str, Any]) -> None:
        """Stop what a killed ``goodwill up`` left running (only processes that are surely its)."""
        recorded = previous.get("children")
        entries = [
            entry
            for entry in (recorded if isinstance(recorded, list) else [])
            if isinstance(entry, dict) and isinstance(entry.get("pid"), int)
        ]
        if not Path("/proc/self").exists():
            # No way to tell a leftover from a process that reuses its pid: say, kill nothing.
            alive = [str(entry["pid"]) for entry in entries if _alive(int(entry["pid"]))]
            if alive:
                self.echo(
                    f"A Goodwill that was killed (pid {previous['pid']}) may have left processes "
                    f"running: {', '.join(alive)}. Check them with `ps -p {','.join(alive)}`."
                )
            return
        ours = [int(entry["pid"]) for entry in entries if _is_recorded_process(entry)]
        if not ours:
            return
        for pid in ours:
            _send(pid, signal.SIGTERM)
        left = _wait_all_gone(ours, _LEFTOVER_GRACE)
        for pid in left:
            _send(pid, signal.SIGKILL)
        left = _wait_all_gone(left, 5.0)
        if left:
            raise GoodwillError(
                f"Processes left by a Goodwill that was killed (pid {previous['pid']}) did not exit "
                f"even after SIGKILL: {', '.join(map(str, left))}. Check them with "
                f"`ps -p {','.join(map(str, left))}`, then run `goodwill up` again."
            )
        plural = "process" if len(ours) == 1 else "processes"
        self.echo(
            f"Stopped {len(ours)} {plural} left by a Goodwill that was killed (pid {previous['pid']})."
        )

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
        info = dbserver.ensure_running(self.settings, preexec_fn=_die_with(os.getpid()))
        self._started_db = True
        if not info.already_running:
            self._record_database(info)

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


# -- children that die with their parent -----------------------------------------------


def _die_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send the child SIGTERM when ``parent`` dies.

    Linux only (``PR_SET_PDEATHSIG``); elsewhere None, and the collector, the scorer and
    the alerter still stop by watching their parent, and the next ``up`` stops the rest.
    """
    if not sys.platform.startswith("linux"):
        return None
    # Looked up here, before the fork: the child should do as little as it can.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    sigterm = int(signal.SIGTERM)

    def set_parent_death_signal() -> None:
        if prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        if os.getppid() != parent:
            # The parent died between the fork and the prctl: the signal will never come.
            raise ChildProcessError("the supervisor is gone")

    return set_parent_death_signal


# -- the lock file and the processes it records ----------------------------------------


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    return info


def _lock_holder_alive(info: dict[str, Any]) -> bool:
    pid = info["pid"]
    if pid == os.getpid() or not _alive(pid):
        return False
    started = info.get("started")
    # A pid recycled by an unrelated process is not the ``goodwill up`` that wrote the lock.
    return started is None or _start_time(pid) in (None, started)


def _is_recorded_process(entry: dict[str, Any]) -> bool:
    """Whether a lock's process entry is still running, and surely the process it records.

    The pid alone is not enough: a pid is reused once its process is gone, and a recycled
    one must never be killed. Its command line must hold the recorded part (the child's
    arguments, the database's data directory), and its start time, where recorded, must
    match. Without /proc nothing can be checked, so the answer is no.
    """
    pid, cmdline, started = entry.get("pid"), entry.get("cmdline"), entry.get("started")
    if not isinstance(pid, int) or pid <= 1 or not isinstance(cmdline, list) or not cmdline:
        return False
    if not _alive(pid):
        return False
    try:
        actual = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        return False
    expected = [str(part).encode() for part in cmdline]
    if not any(
        actual[at : at + len(expected)] == expected for at in range(len(actual) - len(expected) + 1)
    ):
        return False
    return started is None or _start_time(pid) == started


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process its parent has not reaped yet does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state(pid) != "Z"


def _state(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[0] if fields else None


def _start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22); None if unknown."""
    fields = _stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may itself hold spaces and parentheses.
    return text.rpartition(")")[2].split()


def _send(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_all_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` seconds for every pid to exit; the ones still running."""
    deadline = time.monotonic() + timeout
    left = [pid for pid in pids if _alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [pid for pid in left if _alive(pid)]
    return left


# -- the dashboard's port --------------------------------------------------------------


def _can_listen(host: str, port: int) -> bool:
    """Whether the dashboard could listen on ``host:port``, binding as Streamlit's server does.

    As Streamlit's ``_bind_socket`` (``streamlit/web/server/starlette``): IPv6 when the
    address has a colon, SO_REUSEADDR set (except on Windows, where it would let a second
    server share the port), then listen. With SO_REUSEADDR a port whose last connections
    still linger in TIME_WAIT (for a minute after the previous dashboard stopped) is free,
    as it is for the server; a port that something listens on is not.

    Raises:
        socket.gaierror: ``host`` is a name that does not resolve.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if os.name != "nt":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            probe.bind((host, port))
            probe.listen(1)
        except socket.gaierror:
            raise
        except OSError:
            return False
    return True
