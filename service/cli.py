"""The ``goodwill`` command: run, inspect and operate Goodwill.

Every command prints what went wrong and what to do, and exits non-zero, when a
``GoodwillError`` stops it; no traceback is the only message.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from goodwill.errors import GoodwillError
from service import cli_common
from service.alerts_cli import alerts_app
from service.cli_common import echo, fail, parse_since, printable, run_async
from service.db_cli import db_app
from service.people_cli import export_app, profiles_app
from service.rollups_cli import rollups_app

__all__ = ["app", "main"]


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
corrections_app = typer.Typer(
    help="Labels people corrected on the dashboard: evaluate on them, train on them.",
    no_args_is_help=True,
)
app.add_typer(corrections_app, name="corrections")
app.add_typer(profiles_app, name="profiles")
app.add_typer(export_app, name="export")
app.add_typer(alerts_app, name="alerts")
app.add_typer(rollups_app, name="rollups")


@app.command()
def up() -> None:
    """Start Goodwill: the database (embedded unless GOODWILL_MONGODB_URI is set), collector, scorer, dashboard."""
    from service.supervisor import Supervisor

    settings = cli_common.settings()
    try:
        Supervisor(settings, echo=echo).run()
    except GoodwillError as error:
        raise fail(str(error)) from None


def _print_result(result: Any) -> None:
    cov = result.coverage
    if result.skipped:
        echo(f"{result.job_id}: skipped ({printable(result.skipped)})")
        return
    status = f"error: {printable(result.error)}" if result.error else "ok"
    echo(
        f"{result.job_id}: {cov.fetched} fetched, {cov.matched} matched, {cov.dropped} dropped, "
        f"{result.inserted} new, {result.updated} updated, {cov.dead_lettered} dead-lettered ({status})"
    )


@app.command()
def collect(
    once: Annotated[bool, typer.Option(help="Run each job once, then exit.")] = False,
    brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source type.")] = None,
) -> None:
    """Collect mentions: every brand x source on its schedule (or once with --once)."""
    from service.processes import collect as run_collect

    settings = cli_common.settings()
    results = run_async(
        lambda: run_collect(settings, once=once, brand=brand, source=source, report=_print_result)
    )
    if any(result.error for result in results):
        raise typer.Exit(1)


@app.command()
def backfill(
    since: Annotated[
        str, typer.Option(help="How far back: an age (12h, 30d, 8w) or a date (2024-01-31).")
    ] = "7d",
    brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source type.")] = None,
) -> None:
    """Collect history back to --since; interrupted, it resumes where it stopped."""
    from service.processes import collect as run_collect

    start = parse_since(since)
    settings = cli_common.settings()

    def progress(result: Any) -> None:
        cov = result.coverage
        echo(
            f"  {result.job_id}: page {result.pages}, {cov.fetched} fetched, {cov.matched} matched, "
            f"{result.inserted} new",
            err=True,
        )

    echo(f"Back-filling to {start:%Y-%m-%d %H:%M} UTC ...")
    results = run_async(
        lambda: run_collect(
            settings,
            once=True,
            brand=brand,
            source=source,
            since=start,
            report=_print_result,
            progress=progress,
        )
    )
    if any(result.error for result in results):
        raise typer.Exit(1)


@app.command()
def score(
    once: Annotated[bool, typer.Option(help="Score what is waiting, then exit.")] = False,
) -> None:
    """Score collected mentions with the sentiment model (continuously, or once with --once)."""
    from service.processes import score as run_score

    settings = cli_common.settings()
    done = 0

    def report(result: Any) -> None:
        nonlocal done
        done += result.written
        echo(
            f"scored {done} mentions ({result.reused} reused from identical texts in the last batch)"
        )

    written = run_async(lambda: run_score(settings, once=once, report=report))
    if once:
        echo(f"Done: {written} mentions scored.")


@app.command()
def alert(
    once: Annotated[
        bool, typer.Option(help="Evaluate the rules and deliver what is due once, then exit.")
    ] = False,
) -> None:
    """Raise alerts for the watch list's [[alerts]] rules and deliver them to Slack."""
    from service.processes import alert as run_alert

    settings = cli_common.settings()
    delivered = run_async(lambda: run_alert(settings, once=once))
    if once:
        echo(f"Done: {delivered} messages delivered.")


@app.command()
def rescore(
    model: Annotated[
        str | None, typer.Option(help="Model to score with: a directory, or the bundled one.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only mentions newer than this: 30d, 8w or 2024-01-31.")
    ] = None,
) -> None:
    """Re-score mentions that another model version scored, with a progress bar."""
    from service.processes import rescore as run_rescore

    start = parse_since(since) if since else None
    settings = cli_common.settings()
    bar: Any = None

    def started(version: str, queued: int) -> None:
        nonlocal bar
        echo(f"Re-scoring {queued} mentions with {version} ...")
        bar = typer.progressbar(length=queued, label="re-scoring", file=sys.stderr)
        bar.__enter__()

    def report(result: Any) -> None:
        if bar is not None:
            bar.update(result.claimed)

    try:
        written = run_async(
            lambda: run_rescore(
                settings, model_name=model, since=start, started=started, report=report
            )
        )
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    echo(f"Done: {written} mentions re-scored.")


@app.command()
def classify(
    file: Annotated[
        typer.FileText,
        typer.Argument(help="Texts, one per line, or JSON lines with a 'text' field; - for stdin."),
    ] = "-",  # type: ignore[assignment]  # typer opens the path (or stdin) for us
    output: Annotated[
        typer.FileTextWrite,
        typer.Option("--output", "-o", help="Where to write JSON lines; - for stdout."),
    ] = "-",  # type: ignore[assignment]
) -> None:
    """Score texts with the model and the complaint detector; write JSON lines."""
    from scoring.classify import classify_lines
    from scoring.sentiment import SentimentModel

    settings = cli_common.settings()
    try:
        model = SentimentModel.load(settings.model, precision=settings.served_precision)
        count = classify_lines(
            model,
            file,
            output,
            batch_size=settings.score_batch_size,
            progress=lambda n: echo(f"classified {n}", err=True),
        )
    except GoodwillError as error:
        raise fail(str(error)) from None
    echo(f"Done: {count} lines classified.", err=True)


@app.command()
def sources() -> None:
    """Each brand x source: state, last success, last error, and what was fetched, matched, dropped."""
    from service.processes import open_store

    settings = cli_common.settings()

    async def states() -> list[Any]:
        async with open_store(settings) as store:
            return await store.cursors.all()

    rows = run_async(states)
    if not rows:
        echo("No source has run yet. `goodwill up` or `goodwill collect --once` runs them.")
        return
    echo(
        f"{'source':18} {'brand':22} {'state':8} {'fetched':>8} {'matched':>8} {'dropped':>8} "
        f"{'dead':>5} {'stored':>7}  last success"
    )
    for row in rows:
        cov = row.coverage
        success = row.last_success.strftime("%Y-%m-%d %H:%M") if row.last_success else "never"
        echo(
            f"{printable(row.source):18} {printable(row.brand):22} {row.state:8} "
            f"{cov.fetched:>8} {cov.matched:>8} {cov.dropped:>8} {cov.dead_lettered:>5} "
            f"{row.collected:>7}  {success}"
        )
        if row.state == "paused" and row.paused_until is not None:
            echo(
                f"    paused until {row.paused_until:%Y-%m-%d %H:%M} UTC after {row.failures} failures"
            )
        if row.last_error:
            echo(f"    last error: {printable(row.last_error)}")
        unread = row.open_gaps  # windows a later catch-up read are not shown
        if unread:
            many = len(unread) > 3
            echo(
                f"    {len(unread)} window{'s' if len(unread) > 1 else ''} not read"
                f"{' (the latest 3)' if many else ''}:"
            )
        for gap in unread[-3:]:
            echo(
                f"    not read: {gap['from']:%Y-%m-%d %H:%M} to {gap['to']:%Y-%m-%d %H:%M} "
                f"({printable(gap['reason'])})"
            )


@app.command()
def themes(
    brand: Annotated[str, typer.Option(help="The brand whose themes to show.")],
    since: Annotated[
        str, typer.Option(help="The window: an age (7d, 12h) or a date (2026-01-31).")
    ] = "7d",
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many themes.")] = 10,
    posts: Annotated[int, typer.Option(min=0, max=10, help="Representative posts per theme.")] = 3,
) -> None:
    """A brand's complaint themes: size, trend, categories, sentiment and typical posts."""
    from service.themes_cli import show_themes

    show_themes(brand, since, limit, posts)


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
        typer.echo(f"[{mark}] {check.name}: {printable(check.detail)}")
        ok &= check.ok
    if not ok:
        raise typer.Exit(1)


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


@model_app.command("train", context_settings=_PASS_THROUGH, add_help_option=False)
def model_train(ctx: typer.Context) -> None:
    """Fine-tune the two-headed model on every source's TRAIN side: `goodwill model train --output DIR` (--help for all options)."""
    from scoring.train import main as train_main

    cli_common.settings()
    try:
        code = train_main(ctx.args)
    except GoodwillError as error:
        raise fail(str(error)) from None
    raise typer.Exit(code)


@model_app.command("evaluate", context_settings=_PASS_THROUGH, add_help_option=False)
def model_evaluate(ctx: typer.Context) -> None:
    """Accuracy and macro-F1 on the held-out tweets, beside baselines (--help for options)."""
    from scoring.evaluate import main as evaluate_main

    cli_common.settings()
    try:
        code = evaluate_main(ctx.args)
    except GoodwillError as error:
        raise fail(str(error)) from None
    raise typer.Exit(code)


@corrections_app.command("export")
def corrections_export(
    path: Annotated[Path, typer.Argument(help="JSON lines file to write.")],
    with_corpus: Annotated[
        bool, typer.Option(help="Append the corpus's TRAIN side (corrections win).")
    ] = False,
    keep_held_out: Annotated[
        bool, typer.Option(help="Keep corrections of held-out texts (inflates held-out figures).")
    ] = False,
) -> None:
    """Write corrected sentiments as JSON lines for `goodwill model train --train-data FILE`."""
    from scoring.corrections import export_training_data
    from service.processes import open_store

    settings = cli_common.settings()

    async def export() -> int:
        async with open_store(settings) as store:
            return await export_training_data(
                store, path, include_corpus=with_corpus, exclude_held_out=not keep_held_out
            )

    echo(f"Wrote {run_async(export)} examples to {path}.")


@corrections_app.command("evaluate")
def corrections_evaluate(
    model: Annotated[
        str | None, typer.Option(help="Model directory (default: GOODWILL_MODEL).")
    ] = None,
) -> None:
    """The model's accuracy and macro-F1, and the complaint detector's precision and recall, on corrections."""
    from scoring.corrections import evaluate_on_corrections, format_evaluation
    from scoring.sentiment import SentimentModel
    from service.processes import open_store

    settings = cli_common.settings()

    async def evaluate() -> Any:
        loaded = SentimentModel.load(model or settings.model)
        async with open_store(settings) as store:
            return await evaluate_on_corrections(loaded, store)

    echo(format_evaluation(run_async(evaluate)))


def main() -> None:
    """Entry point of the ``goodwill`` script."""
    app()


if __name__ == "__main__":
    main()
