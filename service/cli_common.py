"""What every ``goodwill`` sub-command shares: settings, async running, and failing clearly.

**Printing what others wrote.** Posts, names, handles, CRM cells and error texts from
sources come from strangers; printed raw, an ``ESC`` in a display name is a terminal
escape sequence (``\\x1b]0;title\\x07`` retitles the window, ``\\x1b[2J`` clears it). Every
value from collected data or imported files goes through ``printable`` before it reaches
the terminal: control characters (C0, DEL, C1), bidirectional overrides and lone
surrogates become visible escapes such as ``\\x1b``. ``echo`` and ``fail`` apply it to
whole lines as a safety net, keeping only the newlines and tabs of the layout, and so
does the log on stderr (a source's error may quote what it answered).
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import typer

from config.settings import Settings, load_settings
from goodwill.errors import GoodwillError

__all__ = [
    "ProgressBar",
    "echo",
    "fail",
    "login_name",
    "parse_since",
    "printable",
    "run_async",
    "settings",
]

_T = TypeVar("_T")

# C0 controls, DEL, C1 controls, bidirectional embeddings/overrides/isolates (they reorder
# what the terminal shows) and lone surrogates (undecodable bytes; they cannot be printed).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNPRINTABLE_IN_LAYOUT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, *, layout: bool = False) -> str:
    """``value`` as text safe to print on a terminal: control characters shown as escapes.

    ``ESC``, ``BEL``, carriage returns, every other C0 and C1 control, DEL, bidirectional
    overrides and lone surrogates become ``\\x1b``-style escapes. Newlines and tabs are
    escaped too, unless ``layout`` (a whole block of lines, whose line breaks are ours).
    """
    text = value if isinstance(value, str) else str(value)
    return (_UNPRINTABLE_IN_LAYOUT if layout else _UNPRINTABLE).sub(_escape, text)


def echo(text: object = "", *, err: bool = False) -> None:
    """Print a line (or lines) with ``printable``: a value that slipped through stays harmless."""
    typer.echo(printable(text, layout=True), err=err)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` in red on stderr; raise the returned exit to stop with ``code``."""
    typer.secho(printable(message, layout=True), fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def settings() -> Settings:
    """The settings (a bad value stops the command with a message naming the variable)."""
    try:
        loaded = load_settings()
    except GoodwillError as error:
        raise fail(str(error)) from None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=loaded.log_level, handlers=[handler])
    return loaded


class _PrintableFormatter(logging.Formatter):
    """Log lines through ``printable``: a logged post or error text cannot drive the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), layout=True)


def run_async(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine; a ``GoodwillError`` becomes its message on stderr and exit status 1."""
    try:
        return asyncio.run(make())
    except GoodwillError as error:
        raise fail(str(error)) from None


_UNIT = {
    "h": ("hours", timedelta(hours=1)),
    "d": ("days", timedelta(days=1)),
    "w": ("weeks", timedelta(weeks=1)),
}


def parse_since(value: str, option: str = "--since", *, now: datetime | None = None) -> datetime:
    """The moment an option such as ``--since`` names, in UTC.

    Either an age back from now (``12h``, ``30d``, ``8w``) or a date or time
    (``2024-01-31``, ``2024-01-31T08:00``; UTC unless it says otherwise). Anything else,
    an age reaching back before year 1, or a moment in the future stops the command with
    one line saying what to give instead, and exit status 2 (a usage error).
    """
    moment = now or datetime.now(UTC)
    text = value.strip()
    shown = text if len(text) <= 32 else f"{text[:29]}..."
    match = re.fullmatch(r"(\d+)\s*([hdw])", text)
    if match is not None:
        digits, unit = match.groups()
        name, step = _UNIT[unit]
        most = (moment - datetime.min.replace(tzinfo=UTC)) // step
        # Compare lengths first: a number of thousands of digits is not even parsed.
        if len(digits.lstrip("0")) > len(str(most)) or int(digits) > most:
            raise fail(
                f"{option} {shown} is further back than year 1; give at most {most} {name} "
                "or a date such as 2024-01-31.",
                code=2,
            )
        return moment - int(digits) * step
    try:
        parsed = datetime.fromisoformat(text)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise fail(
            f"{option} {shown!r}: expected an age like 12h, 30d or 8w, or a date like 2024-01-31.",
            code=2,
        ) from None
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise fail(
            f"{option} {shown} is out of the range of dates; give a date such as 2024-01-31.",
            code=2,
        ) from None
    if parsed > moment:
        raise fail(
            f"{option} {shown} is in the future; give a past date or an age like 30d.", code=2
        )
    return parsed


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
