"""``goodwill profiles import|export-data|erase`` and ``goodwill export advocates``.

The commands are registered on the ``profiles`` and ``export`` sub-apps defined in
``service.profiles_cli``; the work is done by ``customers.crm``, ``customers.rights`` and
``customers.exports``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from customers.crm import PRESETS, ImportReport, RowProblem, import_csv
from customers.exports import AdvocateRow, advocate_rows, write_csv, write_xlsx
from customers.rights import erase, export_data, find_person
from goodwill.errors import InvalidRequest
from service.cli_common import echo, fail, login_name, parse_since, printable, run_async, settings
from service.processes import open_store
from service.profiles_cli import export_app, profiles_app

__all__ = ["export_app", "profiles_app"]

# What JSON leaves unescaped but a terminal acts on (DEL, C1 controls, bidirectional
# overrides) or cannot be written at all (lone surrogates, from undecodable bytes).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _printable_report(report: ImportReport) -> ImportReport:
    """The report with the file's values in its problems made printable (``printable``)."""

    def clean(problems: list[RowProblem]) -> list[RowProblem]:
        return [RowProblem(problem.row, printable(problem.reason)) for problem in problems]

    return dataclasses.replace(
        report,
        file=printable(report.file),
        rejected=clean(report.rejected),
        duplicates=clean(report.duplicates),
    )


@profiles_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The CRM export (CSV), any size.")],
    preset: Annotated[
        str, typer.Option(help=f"Column names: auto, {', '.join(PRESETS)}.")
    ] = "auto",
    mapping: Annotated[
        Path | None,
        typer.Option(help="TOML file naming other columns (see customers/crm/mapping.py)."),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="The file's encoding; Excel on Windows writes cp1252.")
    ] = "utf-8",
    system: Annotated[
        str | None, typer.Option(help="CRM name recorded on profiles (default: the preset).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only; write nothing.")] = False,
) -> None:
    """Import customers from a CRM export: match them to profiles, create the others."""
    loaded = settings()

    async def work() -> str:
        async with open_store(loaded) as store:
            report = await import_csv(
                store,
                file,
                preset=preset,
                mapping=mapping,
                encoding=encoding,
                system=system,
                dry_run=dry_run,
                progress=True,
            )
        return _printable_report(report).summary()

    echo(run_async(work))


@profiles_app.command("export-data")
def export_data_(
    person: Annotated[
        str, typer.Argument(help="Profile id, email, identity key or source:handle.")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="JSON file (default: standard output).")
    ] = None,
) -> None:
    """Everything held about a person, as JSON (a data-access request)."""
    loaded = settings()

    async def work() -> dict[str, object]:
        async with open_store(loaded) as store:
            return await export_data(store, person)

    text = json.dumps(run_async(work), ensure_ascii=False, indent=2)
    # The same JSON, with what a terminal would obey written as \u escapes.
    text = _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        echo(f"Wrote everything held about {person} to {output}.", err=True)


@profiles_app.command("erase")
def erase_(
    person: Annotated[
        str, typer.Argument(help="Profile id, email, identity key or source:handle.")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    by: Annotated[
        str | None, typer.Option(help="Who carries out the erasure (default: your login).")
    ] = None,
) -> None:
    """Erase a person: profile, advocacy and author fields go; an erasure record stays."""
    loaded = settings()
    who = by or login_name()

    async def describe() -> str:
        async with open_store(loaded) as store:
            found = await find_person(store, person)
        if found.profile is None:
            return f"the author {person} (no profile)"
        name = printable(found.profile.get("display_name") or "no name")
        return f"profile {found.profile_id} ({name}, {len(found.identities)} identities)"

    if not yes:
        target = run_async(describe)
        typer.confirm(
            printable(f"Erase {target}? Their profile and author data cannot be recovered."),
            abort=True,
        )

    async def work() -> str:
        async with open_store(loaded) as store:
            report = await erase(store, person, who, keep_text=loaded.erase_keeps_text)
        kept = "text kept" if report.kept_text else "text removed"
        return (
            f"Erased {report.profile_id or person}: {report.mentions} mentions anonymised ({kept}), "
            f"{report.advocacy} advocacy records, {report.proposals} merge proposals, "
            f"{report.merges} merges, {report.alerts} alerts, {report.corrections} corrections, "
            f"{report.dead_letters} dead letters."
        )

    echo(run_async(work))


@export_app.command("advocates")
def advocates(
    brand: Annotated[str, typer.Option(help="The brand whose advocates to export.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The file to write.")],
    min_score: Annotated[
        float | None,
        typer.Option(help="Everyone scoring at least this (-100..100), not only advocates."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Last mention within this age (12h, 90d, 8w) or since a date."),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Only people with a mention from this source.")
    ] = None,
    format_: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from the file name).")
    ] = None,
) -> None:
    """Export a brand's advocates (never anyone marked do-not-contact) as CSV or XLSX."""
    chosen = (format_ or output.suffix.lstrip(".") or "csv").lower()
    if chosen not in ("csv", "xlsx"):
        raise fail(f"--format must be csv or xlsx; got {chosen!r}.")
    start = parse_since(since) if since else None
    loaded = settings()

    async def work() -> list[AdvocateRow]:
        async with open_store(loaded) as store:
            rows = await advocate_rows(
                store, brand, min_score=min_score, since=start, source=source, settings=loaded
            )
            # No row may mean no advocates yet, or a brand Goodwill never heard of (a typo).
            if not rows and brand not in (known := await store.mentions.brands()):
                listed = ", ".join(known) or "none yet (`goodwill collect --once` collects some)"
                raise InvalidRequest(
                    f"No brand is named {brand!r}; the brands with mentions are: {listed}. "
                    "Nothing was written."
                )
        return rows

    rows = run_async(work)
    try:
        count = write_xlsx(rows, output) if chosen == "xlsx" else write_csv(rows, output)
    except OSError as error:
        raise fail(f"Cannot write {output}: {error.strerror}.") from None
    echo(f"Wrote {count} {brand} advocates to {output} ({chosen}).")
