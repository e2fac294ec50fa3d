"""What every ``goodwill`` sub-command shares: settings, async running, and failing clearly."""

from __future__ import annotations

import asyncio
import getpass
import logging
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import typer

from config.settings import Settings, load_settings
from goodwill.errors import GoodwillError

__all__ = ["ProgressBar", "fail", "login_name", "parse_age", "run_async", "settings"]

_T = TypeVar("_T")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` in red on stderr; raise the returned exit to stop with ``code``."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def settings() -> Settings:
    """The settings (a bad value stops the command with a message naming the variable)."""
    try:
        loaded = load_settings()
    except GoodwillError as error:
        raise fail(str(error)) from None
    logging.basicConfig(
        level=loaded.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return loaded


def run_async(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine; a ``GoodwillError`` becomes its message on stderr and exit status 1."""
    try:
        return asyncio.run(make())
    except GoodwillError as error:
        raise fail(str(error)) from None


def parse_age(value: str) -> timedelta:
    """An age as options take it (``12h``, ``30d``, ``8w``); anything else is a usage error."""
    match = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", value)
    if match is None:
        raise typer.BadParameter(f"{value!r}: expected an age like 12h, 30d or 8w")
    number = int(match.group(1))
    return {
        "h": timedelta(hours=number),
        "d": timedelta(days=number),
        "w": timedelta(weeks=number),
    }[match.group(2)]


def login_name() -> str:
    """Who runs the command, as actions record it when no ``--by`` is given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


class ProgressBar:
    """A tqdm bar on stderr, made on the first ``(done, total)`` a long job reports.

    Use as a context manager and pass the object as the job's ``progress`` callback;
    the bar is closed on the way out, also when the job fails.
    """

    def __init__(self, unit: str, desc: str) -> None:
        self.unit = unit
        self.desc = desc
        self._bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

            self._bar = tqdm(total=total, unit=self.unit, desc=self.desc, file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
