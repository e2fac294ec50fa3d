"""``goodwill db``: start, stop and look at the embedded database server.

Each command prints where the server is (host:port, data directory, pid). Errors are
printed alone, in red, on stderr, with exit status 1; ``status`` exits 3 when no server
is running, so scripts can test for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from config.settings import Settings, get_settings
from goodwill.errors import GoodwillError
from service.cli_common import printable
from store import server as dbserver

__all__ = ["NOT_RUNNING", "db_app"]

NOT_RUNNING = 3
"""Exit status of ``goodwill db status`` when no server is running."""

db_app = typer.Typer(
    help="Start, stop and check the embedded database server (SecantusDB on 127.0.0.1).",
    no_args_is_help=True,
)

_T = TypeVar("_T")


def _run(action: Callable[[], _T]) -> _T:
    """Run ``action``; a GoodwillError becomes its message, in red on stderr, and exit 1."""
    try:
        return action()
    except GoodwillError as error:
        typer.secho(printable(error, layout=True), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _settings() -> Settings:
    return _run(get_settings)


def _describe(info: dbserver.ServerInfo) -> str:
    lines = [
        f"  address:  {info.host}:{info.port}",
        f"  data:     {info.storage_path}",
        f"  pid:      {info.pid}",
        f"  log:      {info.log_path}",
        f"  uri:      {info.uri}",
    ]
    if info.started_at is not None:
        lines.append(f"  started:  {info.started_at:%Y-%m-%d %H:%M:%S %Z}")
    return "\n".join(lines)


@db_app.command()
def start(
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the server to answer.", min=0.0)
    ] = 30.0,
) -> None:
    """Start the database server in the background (nothing happens if it already runs)."""
    info = _run(lambda: dbserver.start(_settings(), wait=wait))
    if info.already_running:
        typer.echo("The database server is already running:")
    else:
        typer.secho("Database server started:", fg=typer.colors.GREEN)
    typer.echo(_describe(info))


@db_app.command()
def stop(
    timeout: Annotated[
        float,
        typer.Option(help="Seconds to wait after SIGTERM before sending SIGKILL.", min=0.0),
    ] = 20.0,
) -> None:
    """Stop the database server (SIGTERM, then SIGKILL after --timeout)."""
    stopped = _run(lambda: dbserver.stop(_settings(), timeout=timeout))
    if stopped:
        typer.echo("Database server stopped.")
    else:
        typer.echo("The database server was not running.")


@db_app.command()
def status() -> None:
    """Say whether the database server runs, and where (exit status 3 when it does not)."""
    settings = _settings()
    info = _run(lambda: dbserver.status(settings))
    if info is None:
        typer.echo(
            f"The database server is not running (data in {settings.db_dir}, "
            f"port {settings.db_port}). Start it with `goodwill db start`."
        )
        raise typer.Exit(NOT_RUNNING)
    if info.answering:
        typer.secho("The database server is running:", fg=typer.colors.GREEN)
    else:
        typer.secho(
            "The database server is running but does not answer a ping "
            "(starting up, or stuck: see its log):",
            fg=typer.colors.YELLOW,
        )
    typer.echo(_describe(info))
