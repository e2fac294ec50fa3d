"""Shared fixtures: one real SecantusDB server per test session, a clean database per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from store import Database


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """A real SecantusDB server (MongoDB wire protocol) on a free port, for the whole session."""
    data = Path(tempfile.mkdtemp(prefix="goodwill-test-db-"))
    port = free_port()
    server = Path(sys.executable).with_name("secantusd-py")
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(server),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(data / "db"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=data,
    )
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    deadline = time.monotonic() + 30
    while True:
        try:
            with MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=500) as client:
                client.admin.command("ping")
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError((data / "server.log").read_text()) from None
            time.sleep(0.2)
    yield uri
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def database_name() -> str:
    """A fresh database name per test, so tests never see each other's data."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(mongodb_uri: str, database_name: str) -> AsyncIterator[Database]:
    """An open store on a fresh database, dropped after the test."""
    opened = await Database.open(mongodb_uri, database_name)
    yield opened
    await opened._client.drop_database(database_name)
    await opened.close()


@pytest.fixture
def goodwill_env(mongodb_uri: str, database_name: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a Goodwill subprocess pointed at the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODWILL_")}
    env.update(
        GOODWILL_MONGODB_URI=mongodb_uri,
        GOODWILL_DATABASE=database_name,
        GOODWILL_DATA_DIR=str(tmp_path / "data"),
    )
    return env
