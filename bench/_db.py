"""A throwaway SecantusDB server for benchmarks: a separate process, as Goodwill runs it."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pymongo import MongoClient

__all__ = ["embedded_server"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedded_server() -> Iterator[str]:
    """Start a server on a free port with a temporary data directory; yield its URI."""
    data = Path(tempfile.mkdtemp(prefix="goodwill-bench-"))
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("secantusd-py")),
            "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(data / "db"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=data,
    )  # fmt: skip
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        client: MongoClient[dict[str, object]]
        with MongoClient(uri, serverSelectionTimeoutMS=30_000) as client:
            client.admin.command("ping")
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
