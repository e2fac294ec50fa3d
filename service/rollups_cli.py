"""``goodwill rollups``: the daily counts the dashboard, alerts and the digest read.

``rebuild`` recounts every day from the scored mentions. The scorer keeps roll-ups exact
by itself, also across crashes (``store/rollups.py``); this is for an operator who
restored a backup, edited mentions by hand, or wants to be sure.
"""

from __future__ import annotations

from typing import Any

import typer

from service.cli_common import ProgressBar, run_async, settings

__all__ = ["rollups_app"]

rollups_app = typer.Typer(
    help="The daily roll-ups behind the dashboard, alerts and digest.", no_args_is_help=True
)


@rollups_app.command("rebuild")
def rebuild() -> None:
    """Recount every day's roll-ups from the scored mentions, with progress; safe while scorers run."""
    from service.processes import open_store

    loaded = settings()

    async def work() -> Any:
        async with open_store(loaded) as store:
            return await store.rollups.rebuild(bar)

    with ProgressBar("days", "recounting") as bar:
        stats = run_async(work)
    typer.echo(
        f"Recounted {stats.days} days: {stats.fixed} roll-ups corrected, "
        f"{stats.unchanged} already right."
    )
    if stats.busy:
        typer.secho(
            f"{stats.busy} roll-ups were being written by a scorer the whole time and were "
            "left as they are; run `goodwill rollups rebuild` again.",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(1)
