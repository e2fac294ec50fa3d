"""The ``goodwill`` command: run, inspect and operate Goodwill.

Every command prints what went wrong and what to do, and exits non-zero, when a
``GoodwillError`` stops it; no traceback is the only message.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from config.settings import Settings, load_settings
from goodwill.errors import GoodwillError
from service.db_cli import db_app

__all__ = ["app", "main"]

_T = TypeVar("_T")

app = typer.Typer(
    name="goodwill",
    help="Goodwill: hear what people say about your brand, understand it, act on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
model_app = typer.Typer(help="Train and evaluate the sentiment model.", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(db_app, name="db", help="Start, stop and inspect the embedded database server.")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except GoodwillError as error:
        raise _fail(str(error)) from None
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return settings


def _run(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    try:
        return asyncio.run(make())
    except GoodwillError as error:
        raise _fail(str(error)) from None


@app.command()
def up() -> None:
    """Start Goodwill: the database (embedded unless GOODWILL_MONGODB_URI is set), collector, scorer, dashboard."""
    from service.supervisor import Supervisor

    settings = _settings()
    try:
        Supervisor(settings, echo=typer.echo).run()
    except GoodwillError as error:
        raise _fail(str(error)) from None


@app.command()
def collect(
    once: Annotated[bool, typer.Option(help="Run every job once, then exit.")] = False,
) -> None:
    """Collect mentions: every brand x source on its schedule (or once with --once)."""
    from service.processes import collect as run_collect

    settings = _settings()

    def report(result: Any) -> None:
        status = f"error: {result.error}" if result.error else "ok"
        typer.echo(f"{result.job_id}: {result.inserted} new, {result.updated} updated ({status})")

    results = _run(lambda: run_collect(settings, once=once, report=report))
    if any(result.error for result in results):
        raise typer.Exit(1)


@app.command()
def score(
    once: Annotated[bool, typer.Option(help="Score what is waiting, then exit.")] = False,
) -> None:
    """Score collected mentions with the sentiment model (continuously, or once with --once)."""
    from service.processes import score as run_score

    settings = _settings()
    done = 0

    def report(result: Any) -> None:
        nonlocal done
        done += result.written
        typer.echo(
            f"scored {done} mentions ({result.reused} reused from identical texts in the last batch)"
        )

    written = _run(lambda: run_score(settings, once=once, report=report))
    if once:
        typer.echo(f"Done: {written} mentions scored.")


@app.command()
def sources() -> None:
    """List each brand x source: last success, last error, mentions collected."""
    from service.processes import open_store

    settings = _settings()

    async def states() -> list[Any]:
        async with open_store(settings) as store:
            return await store.cursors()

    rows = _run(states)
    if not rows:
        typer.echo("No source has run yet. `goodwill up` or `goodwill collect --once` runs them.")
        return
    typer.echo(f"{'source':10} {'brand':22} {'collected':>9}  {'last success':25} last error")
    for row in rows:
        success = row.last_success.isoformat(timespec="seconds") if row.last_success else "never"
        typer.echo(
            f"{row.source:10} {row.brand:22} {row.collected:>9}  {success:25} {row.last_error or '-'}"
        )


@app.command()
def doctor() -> None:
    """Check the configuration, the database and the model, and say what is wrong."""
    from service.doctor import run_checks

    ok = True
    for check in run_checks():
        mark = (
            typer.style("ok  ", fg=typer.colors.GREEN)
            if check.ok
            else typer.style("FAIL", fg=typer.colors.RED)
        )
        typer.echo(f"[{mark}] {check.name}: {check.detail}")
        ok &= check.ok
    if not ok:
        raise typer.Exit(1)


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@model_app.command("train", context_settings=_PASS_THROUGH, add_help_option=False)
def model_train(ctx: typer.Context) -> None:
    """Fine-tune the sentiment model on the TRAIN tweets: `goodwill model train --output DIR` (--help for all options)."""
    from scoring.train import main as train_main

    _settings()
    try:
        code = train_main(ctx.args)
    except GoodwillError as error:
        raise _fail(str(error)) from None
    raise typer.Exit(code)


@model_app.command("evaluate", context_settings=_PASS_THROUGH, add_help_option=False)
def model_evaluate(ctx: typer.Context) -> None:
    """Accuracy and macro-F1 on the held-out tweets, beside baselines (--help for options)."""
    from scoring.evaluate import main as evaluate_main

    _settings()
    try:
        code = evaluate_main(ctx.args)
    except GoodwillError as error:
        raise _fail(str(error)) from None
    raise typer.Exit(code)


def main() -> None:
    """Entry point of the ``goodwill`` script."""
    app()


if __name__ == "__main__":
    main()
