"""What every page of the dashboard shares: windows, labels, safe text, the brand picker, the sidebar name, paging, error messages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlsplit

import streamlit as st

from goodwill.errors import ConfigError, StoreError

__all__ = [
    "BADGE",
    "COLOURS",
    "CUSTOM",
    "DB_ADVICE",
    "DEFAULT_NAME",
    "EMPTY_MESSAGE",
    "IDENTITY_KEY",
    "LABELS",
    "NAME_KEY",
    "STATE_BADGES",
    "WINDOWS",
    "ago",
    "brand_picker",
    "guarded",
    "md",
    "pager",
    "redact",
    "safe_url",
    "select_brand",
    "show_outcome",
    "signed_in",
    "today",
    "turner",
    "utc",
    "who",
    "window_bounds",
]

_log = logging.getLogger("goodwill.dashboard")

EMPTY_MESSAGE = "No mentions yet — collection runs every few minutes after `goodwill up`."
DB_ADVICE = (
    "If the database is not running, start it with `goodwill db start` (or everything with "
    "`goodwill up`); if it runs elsewhere, check `GOODWILL_MONGODB_URI`. Then reload this page."
)
_BRAND = "goodwill_brand"
NAME_KEY = "goodwill_name"  # who acts, where no login names anyone: typed in the sidebar
# The signed-in account (OIDC), set by ``login.gate`` on each run; no widget writes it.
IDENTITY_KEY = "goodwill_identity"
DEFAULT_NAME = "community manager"

# Windows offered on the Overview and the feed: label -> number of days (None: all time).
WINDOWS: dict[str, int | None] = {
    "Today": 1,
    "Last 7 days": 7,
    "Last 30 days": 30,
    "Last 90 days": 90,
    "Last 365 days": 365,
    "All time": None,
}
CUSTOM = "Custom range"
_ALL_TIME_START = date(2000, 1, 1)

LABELS = {"negative": "Negative", "neutral": "Neutral", "positive": "Positive"}
COLOURS = {"negative": "#d94841", "neutral": "#9aa0a6", "positive": "#2f9e44"}
BADGE = {
    "negative": ("red", ":material/sentiment_dissatisfied:"),
    "neutral": ("gray", ":material/sentiment_neutral:"),
    "positive": ("green", ":material/sentiment_satisfied:"),
}
# Where a complaint's handling stands, as a badge.
STATE_BADGES = {
    "open": ":orange-badge[:material/error: Open]",
    "acknowledged": ":blue-badge[:material/visibility: Acknowledged]",
    "resolved": ":green-badge[:material/check_circle: Resolved]",
}

# -- helpers ---------------------------------------------------------------------------


def today() -> date:
    return datetime.now(UTC).date()


def window_bounds(label: str) -> tuple[date, date]:
    """First and last day (UTC, inclusive) of a window named in ``WINDOWS``."""
    days = WINDOWS[label]
    last = today()
    return (_ALL_TIME_START if days is None else last - timedelta(days=days - 1)), last


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&=])")


def md(text: str) -> str:
    """Text from a source, made inert for Markdown (no links, images, directives, maths)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a Markdown link, or None for anything else."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe=":/?#@!$&'*+,;=%~")


_SECRET_PARAM = re.compile(
    r"(?i)\b([\w-]*(?:token|key|secret|password|passwd|pwd|signature|sig|auth)[\w-]*)=([^&\s'\"]+)"
)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s:]+(?::[^/@\s]*)?@")
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)\s+[a-z0-9._~+/=-]{8,}")


def redact(message: str) -> str:
    """An error message with credentials in URLs, query strings and headers masked."""
    message = _URL_CREDENTIALS.sub(r"\1***@", message)
    message = _SECRET_PARAM.sub(r"\1=***", message)
    return _BEARER.sub(r"\1 ***", message)


def ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if seconds < 90:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (1.5 if unit != "min" else 1):
            count = round(seconds / size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
    return "just now"


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def who() -> str:
    """Who an action is recorded under: the signed-in account, else *Your name* (empty if none).

    With an OIDC login this is the account (its e-mail, else its name), whatever the
    sidebar once held; the password names no one, so there it is the name typed in
    the sidebar, stripped.
    """
    identity = st.session_state.get(IDENTITY_KEY)
    if isinstance(identity, str) and identity.strip():
        return identity.strip()
    return str(st.session_state.get(NAME_KEY) or "").strip()


def signed_in() -> bool:
    """Whether actions are recorded under a signed-in account rather than a typed name."""
    identity = st.session_state.get(IDENTITY_KEY)
    return isinstance(identity, str) and bool(identity.strip())


def brand_picker(brands: list[str], *, key: str, allow_all: bool = False) -> str | None:
    """A brand select box; a brand the user picks is kept as the default of the other pages."""
    options: list[str | None] = [None, *brands] if allow_all else list(brands)
    _PICKERS.add(key)
    remembered = st.session_state.get(_BRAND)
    return st.selectbox(
        "Brand",
        options,
        index=options.index(remembered) if remembered in options else 0,
        key=key,
        format_func=lambda name: "All brands" if name is None else str(name),
        on_change=_remember_brand,
        args=(key,),
    )


_PICKERS: set[str] = set()  # the brand pickers' widget keys, so a link can reset them


def select_brand(brand: str) -> None:
    """Make ``brand`` every page's chosen brand (as if picked), e.g. from a link ``?brand=``."""
    st.session_state[_BRAND] = brand
    for key in _PICKERS:
        st.session_state.pop(key, None)


def _remember_brand(key: str) -> None:
    st.session_state[_BRAND] = st.session_state[key]


def guarded(render: Callable[[], None]) -> Callable[[], None]:
    """A page that shows failures as messages saying what to do, never as tracebacks."""

    def page() -> None:
        try:
            render()
        except StoreError as error:
            st.error(
                f"**Cannot read from the database.** {error}\n\n{DB_ADVICE}",
                icon=":material/error:",
            )
        except ConfigError as error:
            st.error(f"**Goodwill's settings are invalid.** {error}", icon=":material/error:")
        except Exception as error:  # anything else: log it whole, show one line
            _log.exception("Dashboard page %s failed", render.__name__)
            st.error(
                f"**This page failed** ({error.__class__.__name__}). Reload it; if it keeps "
                "failing, the dashboard's log has the details.",
                icon=":material/error:",
            )

    page.__name__ = render.__name__
    return page


def turner(key: str) -> Callable[[int], None]:
    """A ``pager`` callback: moves the page number kept under ``key`` by -1 or +1, never below 0."""

    def turn(step: int) -> None:
        st.session_state[key] = max(0, int(st.session_state.get(key, 0)) + step)

    return turn


def pager(
    key: str,
    page_number: int,
    has_next: bool,
    turn: Callable[[int], None],
    labels: tuple[str, str] = ("← Previous", "Next →"),
) -> None:
    """Previous / page number / Next under a paged list; ``turn`` moves by -1 or +1."""
    previous, where, following = st.columns([1, 2, 1])
    previous.button(
        labels[0],
        key=f"{key}_previous",
        disabled=page_number == 0,
        on_click=turn,
        args=(-1,),
        width="stretch",
    )
    where.caption(f"Page {page_number + 1}", text_alignment="center")
    following.button(
        labels[1],
        key=f"{key}_next",
        disabled=not has_next,
        on_click=turn,
        args=(1,),
        width="stretch",
    )


def show_outcome(key: str) -> None:
    """Show, once, the ``(ok, message)`` an action left under ``key`` in the session."""
    result = st.session_state.pop(key, None)
    if result is not None:
        ok, message = result
        if ok:
            st.success(message, icon=":material/check:")
        else:
            st.error(message, icon=":material/error:")
