"""``goodwill alerts``: recent alerts and their delivery; send a sample to check a destination."""

from __future__ import annotations

import typer

__all__ = ["alerts_app"]

alerts_app = typer.Typer(help="Alerts to Slack: what was raised, what was delivered.")
