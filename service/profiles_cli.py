"""``goodwill profiles`` and ``goodwill export``: customer profiles, advocacy, exports."""

from __future__ import annotations

import typer

__all__ = ["export_app", "profiles_app"]

profiles_app = typer.Typer(
    help="Customer profiles: look up, merge, split, import from a CRM, export or erase a person.",
    no_args_is_help=True,
)
export_app = typer.Typer(help="Export lists for marketing (CSV or XLSX).", no_args_is_help=True)
