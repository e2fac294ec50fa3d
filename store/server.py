"""The embedded database server: SecantusDB, run by Goodwill as a separate process.

Goodwill never imports SecantusDB (GPL-2.0); it starts the ``secantusd-py`` program that
comes with it, on ``127.0.0.1:db_port`` with its data in ``data_dir/db``, and talks to it
over the MongoDB wire protocol like any client. One server serves every Goodwill process.

What a running server leaves behind, under ``data_dir/run``:

- ``db.json``: its pid, host, port and data directory (the pid file);
- ``db.log``: its output, appended to on each start;
- ``secantusd.toml``: an empty configuration, passed explicitly so that no
  ``./secantusd.toml`` or ``~/.secantus/secantusd.toml`` lying around changes the server;
- ``db.lock``: held while a start is under way, so two Goodwill processes starting
  at once never race each other to the data directory.

Every wait here is bounded; nothing hangs on a server that does not answer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from config.settings import Settings
from goodwill.errors import DatabaseServerError

__all__ = ["ServerInfo", "ensure_running", "start", "status", "stop"]

HOST = "127.0.0.1"
_PROGRAM = "secantusd-py"
_POLL = 0.1  # seconds between checks while waiting for the server
_LOG_LINES = 15  # lines of the server's log quoted in an error
_BUSY_MARKERS = ("Device or resource busy", "already being managed by another process")
_PORT_MARKERS = ("Address already in use",)
_EMPTY_CONFIG = (
    "# Written by Goodwill on every start of the database server, and left empty on purpose:\n"
    "# Goodwill passes every setting on the command line, and passes this file with --config\n"
    "# so that no ./secantusd.toml or ~/.secantus/secantusd.toml changes the server.\n"
)


@dataclass(frozen=True)
class ServerInfo:
    """Where the embedded database server is and how it is doing.

    Attributes:
        pid: The server's process id.
        host: The address it listens on (always 127.0.0.1).
        port: The TCP port it listens on.
        storage_path: Its data directory (``data_dir/db``).
        log_path: The file its output goes to.
        started_at: When Goodwill started it, if the pid file says.
        answering: Whether it answered a ``ping`` when this was asked.
        already_running: True when ``start`` found it running and started nothing.
    """

    pid: int
    host: str
    port: int
    storage_path: Path
    log_path: Path
    started_at: datetime | None = None
    answering: bool = True
    already_running: bool = False

    @property
    def uri(self) -> str:
        """The connection string of this server."""
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"


# -- public API ------------------------------------------------------------------------


def status(settings: Settings) -> ServerInfo | None:
    """The embedded server Goodwill started, or None when none is running.

    A pid file left by a server that is gone (crashed, killed, machine rebooted) is
    removed. Asks the server for a ``ping`` (at most about a second) to fill in
    ``answering``.

    Raises:
        DatabaseServerError: ``GOODWILL_MONGODB_URI`` points at an external database.
    """
    _require_embedded(settings)
    return _running(settings, ping_timeout=1.0)


def start(
    settings: Settings, *, wait: float = 30.0, preexec_fn: Callable[[], None] | None = None
) -> ServerInfo:
    """Start the embedded server, detached, and return once it answers a ``ping``.

    When the server Goodwill started is already running this starts nothing and returns
    its info with ``already_running=True``.

    Args:
        settings: Where the data lives (``data_dir``) and which port to use (``db_port``).
        wait: Seconds to wait for the server to answer before giving up (and stopping it).
        preexec_fn: Called in the server's process before it runs the server, as
            ``subprocess.Popen``'s is: ``goodwill up`` passes one that ties the server's
            life to its own. Without one the server outlives its caller.

    Raises:
        DatabaseServerError: the URI is external; the port is taken by another program;
            the data directory is held by another server; the server is already running
            on another port; or the server died or did not answer during start-up. The
            message says what to do.
    """
    _require_embedded(settings)
    _make_dir(settings.run_dir)
    deadline = time.monotonic() + wait
    with _start_lock(settings, deadline):
        running = _running(settings, ping_timeout=1.0)
        if running is not None:
            return _adopt(settings, running, deadline)
        _check_port_free(settings)
        _make_dir(settings.db_dir)
        return _spawn(settings, deadline, preexec_fn)


def ensure_running(
    settings: Settings, *, wait: float = 30.0, preexec_fn: Callable[[], None] | None = None
) -> ServerInfo:
    """Make sure the embedded server is up: start it unless it already runs.

    The same as :func:`start`, named for callers (``goodwill up``) that only need the
    server to be there. Callers with an external database (``settings.embedded`` False)
    must not call it: it raises ``DatabaseServerError`` for them. ``preexec_fn`` applies
    only to a server this call starts, never to one already running.
    """
    return start(settings, wait=wait, preexec_fn=preexec_fn)


def stop(settings: Settings, *, timeout: float = 20.0) -> bool:
    """Stop the embedded server: SIGTERM, then SIGKILL if it is still there after ``timeout``.

    Returns:
        True when a server was running and is now stopped; False when none was running.

    Raises:
        DatabaseServerError: the URI is external, or the server survived SIGKILL.
    """
    _require_embedded(settings)
    running = _running(settings, ping_timeout=None)
    if running is None:
        return False
    pid = running.pid
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        _signal(pid, signal.SIGKILL)
        if not _wait_gone(pid, 5.0):
            raise DatabaseServerError(
                f"The database server (pid {pid}) did not exit even after SIGKILL. "
                f"Check the process with `ps -p {pid}`; the pid file {_pid_file(settings)} is kept."
            )
    _pid_file(settings).unlink(missing_ok=True)
    return True


# -- the pid file ----------------------------------------------------------------------


def _pid_file(settings: Settings) -> Path:
    return settings.run_dir / "db.json"


def _log_file(settings: Settings) -> Path:
    return settings.run_dir / "db.log"


def _write_pid_file(settings: Settings, info: ServerInfo) -> None:
    record = {
        "pid": info.pid,
        "host": info.host,
        "port": info.port,
        "storage_path": str(info.storage_path),
        "log_path": str(info.log_path),
        "started_at": info.started_at.isoformat() if info.started_at else None,
    }
    path = _pid_file(settings)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    # Atomic, so a reader never sees half a pid file.
    partial.replace(path)


def _read_pid_file(settings: Settings) -> ServerInfo | None:
    """The pid file's record, or None (and no file) when it is missing or unreadable."""
    path = _pid_file(settings)
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        started = record.get("started_at")
        return ServerInfo(
            pid=int(record["pid"]),
            host=str(record.get("host", HOST)),
            port=int(record["port"]),
            storage_path=Path(record.get("storage_path", settings.db_dir)),
            log_path=Path(record.get("log_path", _log_file(settings))),
            started_at=datetime.fromisoformat(started) if started else None,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        # A pid file we cannot read names no process we could manage; a server still
        # holding the data directory is caught when the next one fails to open it.
        path.unlink(missing_ok=True)
        return None


def _running(settings: Settings, *, ping_timeout: float | None) -> ServerInfo | None:
    """The pid file's server if it is alive (removing a stale pid file), pinged if asked."""
    recorded = _read_pid_file(settings)
    if recorded is None:
        return None
    if not _is_our_server(recorded.pid):
        _pid_file(settings).unlink(missing_ok=True)
        return None
    if ping_timeout is None:
        return recorded
    answering = _ping(recorded.port, ping_timeout)
    return replace(recorded, answering=answering)


# -- processes -------------------------------------------------------------------------


def _exit_code(pid: int) -> int | None:
    """Reap ``pid`` if it is our exited child and return its exit status (None otherwise)."""
    try:
        done, raw = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(raw) if done == pid else None


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs: not gone, and not a zombie whose every thread has exited."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its own parent (init, once we exited) reaps it
    else:
        # Our child (we started it in this process): alive until the kernel hands back
        # its exit status, which happens only once all its threads are gone.
        return done != pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to manage
    return not _exited_unreaped(pid)


def _exited_unreaped(pid: int) -> bool:
    """Whether ``pid`` is a zombie with no thread left (its files, and locks, are closed)."""
    proc = Path("/proc") / str(pid)
    try:
        # The state follows the parenthesised command name; "Z" is a zombie. A leader
        # in "Z" whose other threads are still exiting still holds the data directory.
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        threads = len(os.listdir(proc / "task"))
    except FileNotFoundError:
        return Path("/proc/self").exists()  # with /proc present, a missing entry is gone
    except OSError:
        return False
    return state == "Z" and threads <= 1


def _is_our_server(pid: int) -> bool:
    """Whether ``pid`` is alive and (where /proc tells) a SecantusDB server."""
    if not _alive(pid):
        return False
    proc = Path("/proc")
    if not (proc / "self").exists():
        return True  # no /proc here: a live pid from our pid file is the best we know
    try:
        command = (proc / str(pid) / "cmdline").read_bytes()
    except FileNotFoundError:
        return False  # exited between the two checks
    except OSError:
        return True
    # A pid reused by an unrelated program must not be mistaken for the server.
    return b"secantusd" in command


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; True when it did."""
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _program() -> Path:
    beside = Path(sys.executable).with_name(_PROGRAM)
    if beside.is_file():
        return beside
    found = shutil.which(_PROGRAM)
    if found is None:
        raise DatabaseServerError(
            f"The database server program {_PROGRAM} is not installed (looked next to "
            f"{sys.executable} and on PATH). Install it with `pip install secantusdb==0.7.0b3` "
            "in Goodwill's environment, or set GOODWILL_MONGODB_URI to a MongoDB server."
        )
    return Path(found)


def _spawn(
    settings: Settings, deadline: float, preexec_fn: Callable[[], None] | None = None
) -> ServerInfo:
    """Start the server process and wait (until ``deadline``) for it to answer."""
    program = _program()
    storage = settings.db_dir.resolve()
    log_path = _log_file(settings).resolve()
    config = (settings.run_dir / "secantusd.toml").resolve()
    # Rewritten on every start: Goodwill passes every setting on the command line.
    config.write_text(_EMPTY_CONFIG, encoding="utf-8")
    with log_path.open("ab") as log:
        log.write(f"\n--- goodwill: starting {_PROGRAM} at {_now().isoformat()} ---\n".encode())
        offset = log.tell()
    argv = [
        str(program),
        "--config",
        str(config),
        "--host",
        HOST,
        "--port",
        str(settings.db_port),
        "--storage-path",
        str(storage),
    ]
    # The child inherits the environment, as any program would; unbuffered so that the
    # log shows why it died the moment it dies.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        if preexec_fn is None:
            # posix_spawn rather than subprocess.Popen: the server is meant to outlive the
            # call (and the caller), and a Popen object dropped while its process still runs
            # warns "subprocess is still running". setsid=True is start_new_session=True.
            pid = os.posix_spawn(
                str(program),
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (
                        os.POSIX_SPAWN_OPEN,
                        1,
                        str(log_path),
                        os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                        0o644,
                    ),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                ],
                setsid=True,
            )
        else:
            pid = _fork_exec(program, argv, env, log_path, preexec_fn)
    except OSError as error:
        raise DatabaseServerError(
            f"Could not start the database server {program}: {error}. "
            "Check that it is installed and executable."
        ) from error
    info = ServerInfo(
        pid=pid,
        host=HOST,
        port=settings.db_port,
        storage_path=storage,
        log_path=log_path,
        started_at=_now(),
    )
    _write_pid_file(settings, info)
    while True:
        code = _exit_code(pid)
        if code is not None or not _alive(pid):
            _pid_file(settings).unlink(missing_ok=True)
            raise _died(settings, info, code, _log_tail(log_path, offset))
        if _ping(settings.db_port, 0.5):
            return info
        if time.monotonic() >= deadline:
            _kill(pid)
            _pid_file(settings).unlink(missing_ok=True)
            raise DatabaseServerError(
                f"The database server on {HOST}:{settings.db_port} (data in {storage}) did not "
                f"answer within the time allowed, so it was stopped. Last lines of {log_path}:\n"
                f"{_indent(_log_tail(log_path, offset))}\n"
                "Try `goodwill db start` again; if it keeps happening, read the whole log."
            )
        time.sleep(_POLL)


def _fork_exec(
    program: Path,
    argv: list[str],
    env: dict[str, str],
    log_path: Path,
    preexec_fn: Callable[[], None],
) -> int:
    """What ``posix_spawn`` does in :func:`_spawn`, with ``preexec_fn`` run before the exec.

    posix_spawn has no such hook, and subprocess.Popen is out for the reason given there.
    The child's failures (``preexec_fn`` raising, the exec failing) go to the log, and the
    child exits with status 127, which :func:`_spawn` reports with the log's last lines.
    """
    stdin = os.open(os.devnull, os.O_RDONLY)
    try:
        output = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        os.close(stdin)
        raise
    try:
        pid = os.fork()
        if pid == 0:  # the child: from here on, only the exec or _exit leaves
            try:
                os.setsid()
                os.dup2(stdin, 0)
                os.dup2(output, 1)
                os.dup2(output, 2)
                preexec_fn()
                os.execve(program, argv, env)
            except BaseException as error:
                with contextlib.suppress(BaseException):
                    os.write(2, f"goodwill: could not start {program}: {error!r}\n".encode())
            finally:
                os._exit(127)
    finally:
        os.close(stdin)
        os.close(output)
    return pid


def _kill(pid: int) -> None:
    """Stop a server that failed to start: SIGTERM, then SIGKILL, bounded."""
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, 5.0):
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)


def _adopt(settings: Settings, running: ServerInfo, deadline: float) -> ServerInfo:
    """Return the already-running server, once it answers on the expected port."""
    if running.port != settings.db_port:
        raise DatabaseServerError(
            f"The database in {running.storage_path} is already served by pid {running.pid} "
            f"on {running.host}:{running.port}, not on port {settings.db_port} "
            f"(GOODWILL_DB_PORT). Set GOODWILL_DB_PORT={running.port}, or stop it with "
            "`goodwill db stop` and start it again."
        )
    answering = running.answering
    while not answering and time.monotonic() < deadline and _alive(running.pid):
        # Still starting up (another Goodwill process just launched it).
        time.sleep(_POLL)
        answering = _ping(running.port, 0.5)
    if not answering:
        raise DatabaseServerError(
            f"The database server (pid {running.pid}) is running but does not answer on "
            f"{running.host}:{running.port}. Stop it with `goodwill db stop`, then start it "
            f"again; its log is {running.log_path}."
        )
    return replace(running, answering=True, already_running=True)


# -- checks ----------------------------------------------------------------------------


def _require_embedded(settings: Settings) -> None:
    if not settings.embedded:
        raise DatabaseServerError(
            "GOODWILL_MONGODB_URI points at an external database; Goodwill does not manage it. "
            "Start and stop that server with its own tools, or unset GOODWILL_MONGODB_URI "
            "to use the embedded one."
        )


def _check_port_free(settings: Settings) -> None:
    """Refuse when something already listens on (or holds) 127.0.0.1:db_port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server itself does, so a port in TIME_WAIT after a stop counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, settings.db_port))
        except OSError as error:
            if error.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            raise _port_taken(settings) from None


def _port_taken(settings: Settings) -> DatabaseServerError:
    return DatabaseServerError(
        f"Port {settings.db_port} on {HOST} is already in use by another program, so the "
        f"database server cannot listen there. Stop that program, or choose another port "
        f"with GOODWILL_DB_PORT (e.g. GOODWILL_DB_PORT={settings.db_port + 1})."
    )


def _died(settings: Settings, info: ServerInfo, code: int | None, tail: str) -> DatabaseServerError:
    """The error for a server that exited during start-up, from what its log says."""
    if any(marker in tail for marker in _BUSY_MARKERS):
        return DatabaseServerError(
            f"The database directory {info.storage_path} is in use by another database "
            "server (one Goodwill did not start, or whose pid file was removed). Stop that "
            "server, or set GOODWILL_DATA_DIR to another directory. Last lines of "
            f"{info.log_path}:\n{_indent(tail)}"
        )
    if any(marker in tail for marker in _PORT_MARKERS):
        return _port_taken(settings)
    how = f" with exit code {code}" if code is not None else ""
    return DatabaseServerError(
        f"The database server (port {info.port}, data in {info.storage_path}) exited{how} "
        f"while starting. Last lines of {info.log_path}:\n{_indent(tail)}\n"
        "Fix what the log says, then run `goodwill db start` again."
    )


def _ping(port: int, timeout: float) -> bool:
    """Whether a MongoDB-protocol server on 127.0.0.1:port answers ``ping`` within ``timeout``."""
    ms = max(1, int(timeout * 1000))
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://{HOST}:{port}/?directConnection=true",
            serverSelectionTimeoutMS=ms,
            connectTimeoutMS=ms,
            socketTimeoutMS=ms,
        )
        with client:
            client.admin.command("ping")
    except PyMongoError:
        return False
    return True


@contextlib.contextmanager
def _start_lock(settings: Settings, deadline: float) -> Iterator[None]:
    """Hold ``run/db.lock`` so that concurrent starts take turns; bounded by ``deadline``."""
    with (settings.run_dir / "db.lock").open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DatabaseServerError(
                        f"Another Goodwill process is starting the database server in "
                        f"{settings.data_dir} and has not finished. Wait and run "
                        "`goodwill db status`."
                    ) from None
                time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- small helpers ---------------------------------------------------------------------


def _log_tail(path: Path, offset: int) -> str:
    """The last lines the server wrote to its log after ``offset``."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError as error:
        return f"(could not read the log: {error})"
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-_LOG_LINES:]) or "(the log is empty)"


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseServerError(
            f"Cannot create the directory {path}: {error.strerror or error}. "
            "Check GOODWILL_DATA_DIR and its permissions."
        ) from error


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def _now() -> datetime:
    return datetime.now(UTC)
