"""The embedded database server, run as a real separate process, and ``goodwill db``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from typer.testing import CliRunner

from config.settings import Settings, get_settings, load_settings
from goodwill.errors import DatabaseServerError
from service.db_cli import NOT_RUNNING, db_app
from store import server as dbserver
from tests.conftest import free_port

SERVER = Path(sys.executable).with_name("secantusd-py")


def _pid_file(settings: Settings) -> Path:
    return settings.run_dir / "db.json"


def _servers_on(storage: Path) -> list[int]:
    """Pids of the live secantusd processes whose command line names ``storage``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        is_server = any(b"secantusd" in part for part in command)
        if state != "Z" and is_server and str(storage.resolve()).encode() in command:
            pids.append(int(entry.name))
    return pids


def _client(uri: str, *, timeout_ms: int = 5000) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings for an embedded server in a fresh data dir on a free port; stopped afterwards."""
    made = load_settings(data_dir=tmp_path / "data", db_port=free_port(), mongodb_uri=None)
    yield made
    dbserver.stop(made, timeout=10)


@pytest.fixture
def foreign_server(settings: Settings, tmp_path: Path) -> Iterator[int]:
    """A secantusd started directly (no Goodwill pid file) on the settings' data dir."""
    port = free_port()
    settings.db_dir.mkdir(parents=True)
    config = tmp_path / "empty.toml"
    config.write_text("")
    storage = str(settings.db_dir)
    with (tmp_path / "foreign.log").open("wb") as log:
        process = subprocess.Popen(
            [str(SERVER), "--config", str(config), "--port", str(port), "--storage-path", storage],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            assert process.poll() is None, (tmp_path / "foreign.log").read_text()
            assert time.monotonic() < deadline, "the foreign server did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(port: int) -> bool:
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        with _client(uri, timeout_ms=300) as client:
            client.admin.command("ping")
    except PyMongoError:
        return False
    return True


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _write_pid_file(settings: Settings, pid: int) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "pid": pid,
        "host": "127.0.0.1",
        "port": settings.db_port,
        "storage_path": str(settings.db_dir),
        "log_path": str(settings.run_dir / "db.log"),
    }
    _pid_file(settings).write_text(json.dumps(record))


# -- the module ------------------------------------------------------------------------


def test_start_status_stop_round_trip(settings: Settings) -> None:
    """start runs a detached server that answers, status finds it, stop ends it and its pid file."""
    info = dbserver.start(settings)
    assert not info.already_running
    assert (info.host, info.port) == ("127.0.0.1", settings.db_port)
    assert os.getsid(info.pid) == info.pid  # its own session: detached from ours
    with _client(info.uri) as client:
        assert client.admin.command("ping")["ok"] == 1
    assert json.loads(_pid_file(settings).read_text())["pid"] == info.pid
    assert "listening on 127.0.0.1" in (settings.run_dir / "db.log").read_text()

    found = dbserver.status(settings)
    assert found is not None
    assert found.pid == info.pid
    assert found.answering

    assert dbserver.stop(settings) is True
    assert not _pid_file(settings).exists()
    assert _servers_on(settings.db_dir) == []
    assert dbserver.status(settings) is None


def test_the_server_outlives_the_process_that_started_it(settings: Settings) -> None:
    """A server started by a process that has exited keeps running and is stopped by another."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODWILL_")}
    env.update(GOODWILL_DATA_DIR=str(settings.data_dir), GOODWILL_DB_PORT=str(settings.db_port))
    script = "from config.settings import get_settings; from store import server as dbserver; "
    script += "print(dbserver.start(get_settings()).pid)"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = dbserver.status(settings)
    assert found is not None
    assert found.pid == int(done.stdout)
    assert found.answering
    assert dbserver.stop(settings) is True
    assert _servers_on(settings.db_dir) == []


def test_data_survives_a_stop_and_a_start(settings: Settings) -> None:
    """What was written before a stop is there after the next start."""
    with _client(dbserver.start(settings).uri) as client:
        client.goodwill.things.insert_one({"_id": "kept", "n": 1})
    assert dbserver.stop(settings)
    with _client(dbserver.start(settings).uri) as client:
        assert client.goodwill.things.find_one({"_id": "kept"}) == {"_id": "kept", "n": 1}


def test_starting_twice_returns_the_running_server(settings: Settings) -> None:
    """A second start reports already_running and spawns no second process."""
    first = dbserver.start(settings)
    second = dbserver.start(settings)
    assert second.already_running
    assert second.pid == first.pid
    assert dbserver.ensure_running(settings).pid == first.pid
    assert _servers_on(settings.db_dir) == [first.pid]


def test_concurrent_starts_share_one_server(settings: Settings) -> None:
    """Two starts racing each other end with one server, which both of them return."""
    results: list[dbserver.ServerInfo | BaseException] = []

    def start() -> None:
        try:
            results.append(dbserver.start(settings))
        except BaseException as error:
            results.append(error)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    infos = [result for result in results if isinstance(result, dbserver.ServerInfo)]
    assert len(infos) == 2, results
    assert infos[0].pid == infos[1].pid
    assert sorted(info.already_running for info in infos) == [False, True]
    assert _servers_on(settings.db_dir) == [infos[0].pid]


def test_a_port_taken_by_another_program_is_refused(settings: Settings) -> None:
    """start refuses, naming the port, when another program listens on it."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", settings.db_port))
        other.listen()
        with pytest.raises(DatabaseServerError, match=f"Port {settings.db_port} .* in use"):
            dbserver.start(settings)
    assert not _pid_file(settings).exists()
    assert _servers_on(settings.db_dir) == []


def test_a_data_dir_held_by_another_server_is_refused(
    settings: Settings, foreign_server: int
) -> None:
    """start refuses, saying the directory is in use, when another server holds the data dir."""
    with pytest.raises(DatabaseServerError, match="is in use by another database server") as caught:
        dbserver.start(settings)
    assert str(settings.db_dir.resolve()) in str(caught.value)
    assert "Device or resource busy" in str(caught.value)  # quoted from the log
    assert not _pid_file(settings).exists()
    assert _answers(foreign_server)  # the other server is left alone


def test_a_server_that_dies_while_starting_is_reported_with_its_log(settings: Settings) -> None:
    """A server exiting during start-up raises with the last lines of its log and a next step."""
    settings.db_dir.mkdir(parents=True)
    (settings.db_dir / "WiredTiger").write_text("not a database\n")
    (settings.db_dir / "WiredTiger.turtle").write_text("not a database\n")
    with pytest.raises(DatabaseServerError, match="exited with exit code") as caught:
        dbserver.start(settings)
    assert "corruption" in str(caught.value)
    assert "goodwill db start" in str(caught.value)
    assert not _pid_file(settings).exists()


def test_an_external_uri_is_refused() -> None:
    """With GOODWILL_MONGODB_URI set, start, stop and status refuse to manage that server."""
    external = load_settings(mongodb_uri="mongodb://db.example.com:27017/")
    for action in (dbserver.start, dbserver.stop, dbserver.status, dbserver.ensure_running):
        with pytest.raises(DatabaseServerError, match="points at an external database"):
            action(external)


def test_stop_when_nothing_runs_returns_false(settings: Settings) -> None:
    """stop returns False, and creates nothing, when no server runs."""
    assert dbserver.stop(settings) is False
    assert not settings.data_dir.exists()


def test_a_stale_pid_file_is_cleaned_up(settings: Settings) -> None:
    """A pid file naming a process that is gone is removed, and start then starts a server."""
    _write_pid_file(settings, _dead_pid())
    assert dbserver.status(settings) is None
    assert not _pid_file(settings).exists()

    _write_pid_file(settings, _dead_pid())
    info = dbserver.start(settings)
    assert not info.already_running
    assert json.loads(_pid_file(settings).read_text())["pid"] == info.pid


def test_a_pid_file_naming_an_unrelated_process_is_stale(settings: Settings) -> None:
    """A pid reused by a program that is not the database server is not mistaken for it."""
    with subprocess.Popen(["sleep", "30"]) as unrelated:
        try:
            _write_pid_file(settings, unrelated.pid)
            assert dbserver.status(settings) is None
            assert dbserver.stop(settings) is False
            assert unrelated.poll() is None  # left alone
        finally:
            unrelated.kill()


def test_stop_kills_a_server_that_outlives_the_timeout(settings: Settings) -> None:
    """After the timeout stop sends SIGKILL, and the server is gone when it returns."""
    info = dbserver.start(settings)
    assert dbserver.stop(settings, timeout=0) is True
    assert _servers_on(settings.db_dir) == []
    assert not _pid_file(settings).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(info.pid, 0)


# -- goodwill db -----------------------------------------------------------------------


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The environment `goodwill db` reads, naming the test's data dir and port."""
    monkeypatch.setenv("GOODWILL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GOODWILL_DB_PORT", str(settings.db_port))
    monkeypatch.delenv("GOODWILL_MONGODB_URI", raising=False)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def _invoke(*args: str) -> Any:
    get_settings.cache_clear()  # each command is its own process in real life
    return CliRunner().invoke(db_app, list(args))


def test_cli_start_status_stop(cli_env: Settings) -> None:
    """`goodwill db` start/status/stop print where the server is; status exits 3 once stopped."""
    started = _invoke("start")
    assert started.exit_code == 0, started.output
    assert f"127.0.0.1:{cli_env.db_port}" in started.output
    assert str(cli_env.db_dir.resolve()) in started.output
    pid = json.loads(_pid_file(cli_env).read_text())["pid"]
    assert str(pid) in started.output

    again = _invoke("start")
    assert again.exit_code == 0
    assert "already running" in again.output

    running = _invoke("status")
    assert running.exit_code == 0
    assert f"pid:      {pid}" in running.output

    stopped = _invoke("stop")
    assert stopped.exit_code == 0
    assert "stopped" in stopped.output

    after = _invoke("status")
    assert after.exit_code == NOT_RUNNING
    assert "not running" in after.output
    assert _invoke("stop").output.strip() == "The database server was not running."


def test_cli_errors_are_printed_alone_with_exit_status_1(cli_env: Settings) -> None:
    """A refused start prints the message (no traceback) on stderr and exits 1."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", cli_env.db_port))
        other.listen()
        result = _invoke("start")
    assert result.exit_code == 1
    assert f"Port {cli_env.db_port}" in result.stderr
    assert "Traceback" not in result.output


def test_cli_refuses_an_external_uri(cli_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """With GOODWILL_MONGODB_URI set, `goodwill db status` says Goodwill does not manage it."""
    monkeypatch.setenv("GOODWILL_MONGODB_URI", "mongodb://db.example.com:27017/")
    result = _invoke("status")
    assert result.exit_code == 1
    assert "does not manage it" in result.stderr
