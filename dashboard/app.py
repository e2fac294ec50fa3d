"""Goodwill's dashboard: ``streamlit run dashboard/app.py``.

Four pages over the store: **Overview** (a brand's volume and sentiment from the
daily roll-ups), **Mentions** (the feed, filtered and paged), **Complaints queue**
(open complaints and their shared workflow: assign, acknowledge, resolve, tag, note)
and **Sources** (where collection of each brand x source stands). When ``GOODWILL_DASHBOARD_PASSWORD`` is
set, a password form comes first. No page ever shows a secret or a traceback:
failures are shown as messages that say what to do.
"""

from __future__ import annotations

import hmac
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import altair as alt
import pandas as pd
import streamlit as st

try:
    from dashboard import data
except ModuleNotFoundError:  # `streamlit run dashboard/app.py` from a checkout not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from dashboard import data

from goodwill.errors import ConfigError, StoreError
from goodwill.store import CORRECTION_KINDS

_log = logging.getLogger("goodwill.dashboard")

EMPTY_MESSAGE = "No mentions yet — collection runs every few minutes after `goodwill up`."
_DB_ADVICE = (
    "If the database is not running, start it with `goodwill db start` (or everything with "
    "`goodwill up`); if it runs elsewhere, check `GOODWILL_MONGODB_URI`. Then reload this page."
)
_LOGGED_IN = "goodwill_logged_in"
_BRAND = "goodwill_brand"
_FEED_PAGE = "feed_page"
_FEED_FILTERS = "feed_filters"
_NAME = "goodwill_name"  # who corrects labels: entered once in the sidebar
_DEFAULT_NAME = "community manager"
_CORRECTING = "correcting"  # the mention whose "Correct" dialog is open
# How the kinds of a correction read: in the form, and on a corrected mention.
_KIND_LABELS = {
    None: "Not judged",
    "complaint": "Complaint",
    "negative_opinion": "Negative opinion (no failure)",
    "question": "Question",
    "other": "Other (not a complaint)",
}
_KIND_PHRASES = {
    "complaint": "complaint",
    "negative_opinion": "negative opinion",
    "question": "question",
    "other": "not a complaint",
}

# Windows offered on the Overview and the feed: label -> number of days (None: all time).
_WINDOWS: dict[str, int | None] = {
    "Today": 1,
    "Last 7 days": 7,
    "Last 30 days": 30,
    "Last 90 days": 90,
    "Last 365 days": 365,
    "All time": None,
}
_CUSTOM = "Custom range"
_ALL_TIME_START = date(2000, 1, 1)

_LABELS = {"negative": "Negative", "neutral": "Neutral", "positive": "Positive"}
_COLOURS = {"negative": "#d94841", "neutral": "#9aa0a6", "positive": "#2f9e44"}
_BADGE = {
    "negative": ("red", ":material/sentiment_dissatisfied:"),
    "neutral": ("gray", ":material/sentiment_neutral:"),
    "positive": ("green", ":material/sentiment_satisfied:"),
}


# -- helpers ---------------------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).date()


def _window(label: str) -> tuple[date, date]:
    """First and last day (UTC, inclusive) of a window named in ``_WINDOWS``."""
    days = _WINDOWS[label]
    today = _today()
    return (_ALL_TIME_START if days is None else today - timedelta(days=days - 1)), today


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&=])")


def _md(text: str) -> str:
    """Text from a source, made inert for Markdown (no links, images, directives, maths)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _safe_url(url: str | None) -> str | None:
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


def _redact(message: str) -> str:
    """An error message with credentials in URLs, query strings and headers masked."""
    message = _URL_CREDENTIALS.sub(r"\1***@", message)
    message = _SECRET_PARAM.sub(r"\1=***", message)
    return _BEARER.sub(r"\1 ***", message)


def _ago(moment: datetime | None) -> str:
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


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _brand_picker(brands: list[str], *, key: str, allow_all: bool = False) -> str | None:
    """A brand select box; a brand the user picks is kept as the default of the other pages."""
    options: list[str | None] = [None, *brands] if allow_all else list(brands)
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


def _remember_brand(key: str) -> None:
    st.session_state[_BRAND] = st.session_state[key]


def _guarded(render: Callable[[], None]) -> Callable[[], None]:
    """A page that shows failures as messages saying what to do, never as tracebacks."""

    def page() -> None:
        try:
            render()
        except StoreError as error:
            st.error(
                f"**Cannot read from the database.** {error}\n\n{_DB_ADVICE}",
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


# -- login -----------------------------------------------------------------------------


def _password() -> str | None:
    """The dashboard password, if one is set (an empty one counts as none)."""
    secret = data.settings().dashboard_password
    value = secret.get_secret_value() if secret is not None else ""
    return value or None


def _logged_in(password: str) -> bool:
    """Show the password form until the right password is given; True once it was."""
    if st.session_state.get(_LOGGED_IN):
        return True
    st.title("Goodwill")
    with st.form("login"):
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        if hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
            st.session_state[_LOGGED_IN] = True
            st.rerun()
        st.error("Wrong password.")
    return False


def _log_out() -> None:
    st.session_state[_LOGGED_IN] = False


# -- Overview --------------------------------------------------------------------------


def _net(positive: int, negative: int, total: int) -> float:
    return (positive - negative) / total if total else 0.0


def _bucketed(frame: pd.DataFrame, days: int | None) -> tuple[pd.DataFrame, str]:
    """Counts per period and sentiment, long form; days for short windows, else weeks/months."""
    period, label = ("D", "day") if days is not None and days <= 90 else ("W", "week")
    if days is None and not frame.empty:
        span = (frame["day"].max() - frame["day"].min()).days
        if span > 730:
            period, label = "M", "month"
    moments = pd.to_datetime(frame["day"])
    start = moments if period == "D" else moments.dt.to_period(period).dt.start_time
    summed = (
        frame.assign(period=start.dt.tz_localize("UTC"))
        .groupby("period", as_index=False)[list(data.SENTIMENTS)]
        .sum()
    )
    long = summed.melt(id_vars="period", var_name="sentiment", value_name="mentions")
    long["label"] = long["sentiment"].map(_LABELS)
    long["order"] = long["sentiment"].map({name: i for i, name in enumerate(data.SENTIMENTS)})
    return long, label


def _utc_datetime(day: date) -> Any:
    return alt.DateTime(year=day.year, month=day.month, date=day.day, utc=True)


def _volume_chart(long: pd.DataFrame, per: str, window: tuple[date, date] | None) -> Any:
    """Stacked bars of mentions per period by sentiment; the x axis spans the whole window."""
    unit = {"day": "utcyearmonthdate", "week": "utcyearmonthdate", "month": "utcyearmonth"}[per]
    scale = (
        alt.Scale()
        if window is None
        else alt.Scale(
            domain=[_utc_datetime(window[0]), _utc_datetime(window[1] + timedelta(days=1))]
        )
    )
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(f"{unit}(period):T", title=None, scale=scale),
            y=alt.Y("sum(mentions):Q", title=f"mentions per {per}"),
            color=alt.Color(
                "label:N",
                title="Sentiment",
                scale=alt.Scale(
                    domain=[_LABELS[name] for name in data.SENTIMENTS],
                    range=[_COLOURS[name] for name in data.SENTIMENTS],
                ),
                legend=alt.Legend(orient="top"),
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip(f"{unit}(period):T", title=per.capitalize()),
                alt.Tooltip("label:N", title="Sentiment"),
                alt.Tooltip("sum(mentions):Q", title="Mentions"),
            ],
        )
        .properties(height=320)
    )


def _mix_chart(totals: dict[str, int]) -> Any:
    total = sum(totals.values()) or 1
    mix = pd.DataFrame(
        {
            "label": [_LABELS[name] for name in data.SENTIMENTS],
            "mentions": [totals[name] for name in data.SENTIMENTS],
            "share": [totals[name] / total for name in data.SENTIMENTS],
            "order": list(range(len(data.SENTIMENTS))),
        }
    )
    return (
        alt.Chart(mix)
        .mark_arc(innerRadius=55)
        .encode(
            theta=alt.Theta("mentions:Q", stack=True),
            color=alt.Color(
                "label:N",
                title="Sentiment",
                scale=alt.Scale(
                    domain=[_LABELS[name] for name in data.SENTIMENTS],
                    range=[_COLOURS[name] for name in data.SENTIMENTS],
                ),
            ),
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("label:N", title="Sentiment"),
                alt.Tooltip("mentions:Q", title="Mentions"),
                alt.Tooltip("share:Q", title="Share", format=".0%"),
            ],
        )
        .properties(height=240)
    )


def _by_source(frame: pd.DataFrame) -> pd.DataFrame:
    summed = frame.groupby("source", as_index=False)[["total", *data.SENTIMENTS]].sum()
    summed["net"] = [
        _net(int(row.positive), int(row.negative), int(row.total))
        for row in summed.itertuples(index=False)
    ]
    summed = summed.sort_values(["total", "source"], ascending=[False, True])
    return summed.rename(
        columns={
            "source": "Source",
            "total": "Mentions",
            "negative": "Negative",
            "neutral": "Neutral",
            "positive": "Positive",
            "net": "Net sentiment",
        }
    )


def overview() -> None:
    """A brand's volume and sentiment over a window, from the daily roll-ups."""
    st.title("Overview")
    brands = data.brands()
    if not brands:
        st.info(EMPTY_MESSAGE, icon=":material/inbox:")
        return
    left, right = st.columns([2, 1])
    with left:
        brand = _brand_picker(brands, key="overview_brand")
    with right:
        window = st.selectbox("Window", list(_WINDOWS), index=2, key="overview_window")
    assert brand is not None
    first, last = _window(window)
    frame = data.rollups(brand, first, last)
    waiting = data.unscored_count(brand)
    waiting_note = f" {waiting:,} more await scoring." if waiting else ""
    if frame.empty or int(frame["total"].sum()) == 0:
        st.info(
            f"No scored mentions of {_md(brand)} in this window ({window.lower()})."
            f"{waiting_note} Try a longer window, or wait for the scorer.",
            icon=":material/inbox:",
        )
        return

    totals = {name: int(frame[name].sum()) for name in data.SENTIMENTS}
    total = int(frame["total"].sum())
    columns = st.columns(5)
    columns[0].metric("Mentions", f"{total:,}", help="Scored mentions in the window.")
    for column, name in zip(columns[1:4], data.SENTIMENTS, strict=True):
        share = totals[name] / total if total else 0.0
        column.metric(_LABELS[name], f"{totals[name]:,}", help=f"{share:.0%} of mentions")
        column.caption(f"{share:.0%} of mentions")
    columns[4].metric(
        "Net sentiment",
        f"{_net(totals['positive'], totals['negative'], total):+.0%}",
        help="(positive − negative) / mentions",
    )
    st.caption(
        f"{_md(brand)} · {first:%Y-%m-%d} to {last:%Y-%m-%d} (UTC) · "
        f"counts of scored mentions.{waiting_note}"
    )

    long, per = _bucketed(frame, _WINDOWS[window])
    st.subheader(f"Volume per {per}")
    span = None if _WINDOWS[window] is None else (first, last)
    st.altair_chart(_volume_chart(long, per, span), width="stretch")

    mix, sources = st.columns([1, 2])
    with mix:
        st.subheader("Sentiment mix")
        st.altair_chart(_mix_chart(totals), width="stretch")
    with sources:
        st.subheader("By source")
        st.dataframe(
            _by_source(frame),
            hide_index=True,
            width="stretch",
            column_config={
                "Net sentiment": st.column_config.NumberColumn(format="percent"),
            },
        )


# -- Mentions --------------------------------------------------------------------------


def _feed_filters() -> data.FeedFilters:
    brands = data.brands()
    top = st.columns(3)
    with top[0]:
        brand = _brand_picker(brands, key="feed_brand", allow_all=True)
    with top[1]:
        source_options: list[str | None] = [None, *data.sources(brand)]
        source = st.selectbox(
            "Source",
            source_options,
            key="feed_source",
            format_func=lambda name: "All sources" if name is None else str(name),
        )
    with top[2]:
        sentiment = st.selectbox(
            "Sentiment",
            [None, *data.SENTIMENTS, data.UNSCORED],
            key="feed_sentiment",
            format_func=lambda name: {None: "Any", data.UNSCORED: "Not scored yet"}.get(
                name, _LABELS.get(str(name), str(name))
            ),
        )
    bottom = st.columns([1, 1, 2])
    with bottom[0]:
        period = st.selectbox("Created", [*_WINDOWS, _CUSTOM], index=5, key="feed_period")
    first: date | None
    last: date | None
    if period == _CUSTOM:
        with bottom[1]:
            today = _today()
            chosen = st.date_input(
                "From – to (UTC)",
                value=(today - timedelta(days=29), today),
                max_value=today,
                key="feed_dates",
            )
        picked = [day for day in chosen if day is not None] if isinstance(chosen, tuple) else []
        first = picked[0] if picked else None
        last = picked[-1] if picked else None
    elif _WINDOWS[period] is None:
        first = last = None
    else:
        first, last = _window(period)
    with bottom[2]:
        contains = st.text_input(
            "Text contains",
            key="feed_contains",
            max_chars=200,
            placeholder="any words, taken literally",
        )
    return data.FeedFilters(
        brand=brand,
        source=source,
        sentiment=sentiment,
        first=first,
        last=last,
        contains=contains.strip() or None,
    )


def _turn_page(step: int) -> None:
    st.session_state[_FEED_PAGE] = max(0, int(st.session_state.get(_FEED_PAGE, 0)) + step)


def _pager(key: str, page_number: int, has_next: bool, turn: Callable[[int], None]) -> None:
    """Previous / page number / Next under a paged list; ``turn`` moves by -1 or +1."""
    previous, where, following = st.columns([1, 2, 1])
    previous.button(
        "← Previous",
        key=f"{key}_previous",
        disabled=page_number == 0,
        on_click=turn,
        args=(-1,),
        width="stretch",
    )
    where.caption(f"Page {page_number + 1}", text_alignment="center")
    following.button(
        "Next →",
        key=f"{key}_next",
        disabled=not has_next,
        on_click=turn,
        args=(1,),
        width="stretch",
    )


def _show_mention(item: data.FeedItem, *, show_brand: bool) -> None:
    with st.container(border=True):
        if item.sentiment in _BADGE:
            colour, icon = _BADGE[item.sentiment]
            confidence = f" {item.confidence:.0%}" if item.confidence is not None else ""
            badge = f":{colour}-badge[{icon} {_LABELS[item.sentiment]}{confidence}]"
        elif item.language is not None:
            badge = (
                f":gray-badge[:material/translate: Not English ({_md(item.language)}): not scored]"
            )
        else:
            badge = ":gray-badge[:material/hourglass_empty: Not scored yet]"
        meta = [_utc(item.created_at)]
        who = item.author_handle or item.author_name
        if who:
            meta.append(_md(f"@{who}" if item.author_handle else who))
        meta.append(_md(item.source))
        if show_brand:
            meta.append(_md(item.brand))
        url = _safe_url(item.url)
        if url:
            meta.append(f"[open ↗]({url})")
        st.caption(f"{badge} &nbsp; " + " · ".join(meta))
        if item.title:
            st.markdown(f"**{_md(item.title)}**")
        st.text(item.text)
        if item.corrected:
            st.caption(_correction_line(item))
        if item.sentiment is not None:
            st.button(
                "Correct",
                key=f"correct_{item.id}",
                icon=":material/edit:",
                type="tertiary",
                on_click=_start_correcting,
                args=(item.id,),
            )


def _correction_line(item: data.FeedItem) -> str:
    """Reads like ``corrected to negative, complaint by Ana · 5 min ago`` (the name made inert)."""
    what = (
        [_LABELS[item.corrected_sentiment].lower()] if item.corrected_sentiment in _LABELS else []
    )
    if item.corrected_kind in _KIND_PHRASES:
        what.append(_KIND_PHRASES[item.corrected_kind])
    when = f" · {_ago(item.corrected_at)}" if item.corrected_at is not None else ""
    to = f" to {', '.join(what)}" if what else ""
    return f":violet[:material/how_to_reg:] corrected{to} by {_md(item.corrected_by or '')}{when}"


def _start_correcting(mention_id: str) -> None:
    st.session_state[_CORRECTING] = mention_id


def _stop_correcting() -> None:
    st.session_state.pop(_CORRECTING, None)


@st.dialog("Correct this mention", on_dismiss=_stop_correcting)
def _correction_dialog(item: data.FeedItem) -> None:
    """Sentiment, kind and a note for one mention; Save records them under the sidebar name.

    One dialog for the page rather than a form per mention: 25 forms would be 75
    widgets on every run, each kept in the session while its mention is shown.
    """
    st.caption(_md(item.text if len(item.text) <= 300 else item.text[:300] + "…"))
    said = f"{_LABELS[item.sentiment].lower()}" if item.sentiment in _LABELS else "nothing yet"
    if item.confidence is not None:
        said += f" ({item.confidence:.0%})"
    if item.kind in _KIND_PHRASES:
        said += f", {_KIND_PHRASES[item.kind]}"
    st.caption(f"The model said: {said}.")
    sentiment = item.corrected_sentiment or item.sentiment
    kinds: list[str | None] = [None, *CORRECTION_KINDS]
    kind = item.corrected_kind if item.corrected else item.kind
    with st.form(f"correct_form_{item.id}", border=False):
        chosen_sentiment = st.selectbox(
            "Sentiment",
            data.SENTIMENTS,
            index=data.SENTIMENTS.index(sentiment) if sentiment in data.SENTIMENTS else 0,
            format_func=lambda name: _LABELS[name],
            key=f"correct_sentiment_{item.id}",
        )
        chosen_kind = st.selectbox(
            "Kind",
            kinds,
            index=kinds.index(kind) if kind in kinds else 0,
            format_func=lambda name: _KIND_LABELS[name],
            key=f"correct_kind_{item.id}",
        )
        note = st.text_input("Note (optional)", max_chars=2000, key=f"correct_note_{item.id}")
        saved = st.form_submit_button("Save", key=f"correct_save_{item.id}", type="primary")
    name = str(st.session_state.get(_NAME) or "").strip()
    if name:
        st.caption(f"Recorded as {_md(name)} (*Your name* in the sidebar).")
    if not saved:
        return
    refusal = _save_correction(item.id, chosen_sentiment, chosen_kind, note, name)
    if refusal is None:
        _stop_correcting()
        st.rerun()  # the whole page, which closes the dialog and shows the correction
    st.error(refusal, icon=":material/error:")


def _save_correction(
    mention_id: str, sentiment: str | None, kind: str | None, note: str, name: str
) -> str | None:
    """Save one correction; None when saved, else why not, for the person."""
    if not name:
        return "Not saved: enter your name in the sidebar (*Your name*) first."
    try:
        data.save_correction(mention_id, sentiment=sentiment, kind=kind, by=name, note=note or None)
    except ValueError as error:
        return f"Not saved: {error}"
    except StoreError as error:
        return f"Not saved: the database refused or did not answer ({_redact(str(error))})."
    return None


def mentions() -> None:
    """The feed: every mention, newest first, filtered, 25 to a page."""
    st.title("Mentions")
    if not data.brands():
        st.info(EMPTY_MESSAGE, icon=":material/inbox:")
        return
    filters = _feed_filters()
    if st.session_state.get(_FEED_FILTERS) != filters:
        st.session_state[_FEED_FILTERS] = filters
        st.session_state[_FEED_PAGE] = 0
    page_number = int(st.session_state.get(_FEED_PAGE, 0))
    page = data.feed_page(filters, page_number)
    if not page.items and page_number > 0:
        # The feed shrank under us (filters elsewhere, data erased): back to the start.
        page_number = st.session_state[_FEED_PAGE] = 0
        page = data.feed_page(filters, 0)
    if not page.items:
        st.info("No mentions match these filters.", icon=":material/search_off:")
        return
    count = data.feed_count(filters)
    shown_from = page_number * data.FEED_PAGE_SIZE + 1
    shown_to = shown_from + len(page.items) - 1
    of = f"{data.FEED_COUNT_CAP:,}+" if count >= data.FEED_COUNT_CAP else f"{count:,}"
    st.caption(f"Mentions {shown_from:,}–{shown_to:,} of {of}, newest first.")
    for item in page.items:
        _show_mention(item, show_brand=filters.brand is None)
    correcting = st.session_state.get(_CORRECTING)
    if correcting is not None:
        shown = [item for item in page.items if item.id == correcting]
        if shown:
            _correction_dialog(shown[0])
        else:  # its mention left the page (another filter, another page)
            _stop_correcting()
    _pager("feed", page_number, page.has_next, _turn_page)


# -- Complaints queue ------------------------------------------------------------------

_QUEUE_PAGE = "complaints_page"
_QUEUE_FILTERS = "complaints_filters"
_QUEUE_RESULT = "complaints_result"  # (ok, message) of the last action, shown once
_VIEW_LABELS = {
    "all": "All open",
    "unassigned": "Unassigned",
    "mine": "Mine",
    "overdue": "Overdue (open > 24 h)",
}
_ACTION_LABELS = {
    "assign": "Assign to (a name; empty: you)",
    "acknowledge": "Acknowledge",
    "resolve": "Resolve",
    "tag": "Add a tag",
    "note": "Add a note",
}
_ACTION_PHRASES = {
    "assign": "assigned to",
    "acknowledge": "acknowledged",
    "resolve": "resolved",
    "tag": "tagged",
    "note": "noted",
}
_STATE_BADGES = {
    "open": ":orange-badge[:material/error: Open]",
    "acknowledged": ":blue-badge[:material/visibility: Acknowledged]",
    "resolved": ":green-badge[:material/check_circle: Resolved]",
}


def _turn_queue_page(step: int) -> None:
    st.session_state[_QUEUE_PAGE] = max(0, int(st.session_state.get(_QUEUE_PAGE, 0)) + step)


def _history_line(step: data.HandlingStep) -> str:
    """Reads like ``assigned to Bo by Ana · 5 min ago`` (names and values made inert)."""
    what = _ACTION_PHRASES.get(step.action, _md(step.action))
    value = f" {_md(step.value)}" if step.value else ""
    if step.action == "note" and step.value:
        value = f": {_md(step.value)}"
    return f"{what}{value} by {_md(step.by)} · {_ago(step.at)}"


def _show_complaint(item: data.ComplaintItem, *, show_brand: bool) -> None:
    with st.container(border=True):
        meta = [_STATE_BADGES.get(item.state, _md(item.state)), _utc(item.created_at)]
        meta.append(_md(item.source))
        if show_brand:
            meta.append(_md(item.brand))
        if item.category:
            meta.append(f"category: {_md(item.category)}")
        meta.append(f"assigned to {_md(item.assignee)}" if item.assignee else "unassigned")
        if item.tags:
            meta.append("tags: " + ", ".join(_md(tag) for tag in item.tags))
        url = _safe_url(item.url)
        if url:
            meta.append(f"[open ↗]({url})")
        st.caption(" · ".join(meta))
        st.text(item.text)
        if item.reasons:
            st.caption("Why a complaint: " + "; ".join(_md(reason) for reason in item.reasons))
        if item.history:
            st.caption("Latest: " + _history_line(item.history[-1]))
            with st.expander(f"History ({len(item.history)})"):
                for step in reversed(item.history):
                    st.markdown("- " + _history_line(step))


def _act_on_complaint() -> None:
    """The action form's submit: write the action at once, keep a message for the next run."""
    state = st.session_state
    target = state.get("complaints_target")
    action = str(state.get("complaints_action") or "")
    value = str(state.get("complaints_value") or "").strip()
    name = str(state.get(_NAME) or "").strip()
    if action == "assign" and not value:
        value = name
    if target is None:
        state[_QUEUE_RESULT] = (False, "Not done: pick a complaint first.")
        return
    if not name:
        state[_QUEUE_RESULT] = (False, "Not done: enter your name in the sidebar (*Your name*).")
        return
    try:
        data.handle_complaint(str(target), action, name, value or None)
    except ValueError as error:
        state[_QUEUE_RESULT] = (False, f"Not done: {error}")
        return
    except StoreError as error:
        state[_QUEUE_RESULT] = (
            False,
            f"Not done: the database refused or did not answer ({_redact(str(error))}).",
        )
        return
    state["complaints_value"] = ""
    state[_QUEUE_RESULT] = (True, f"Done: {_ACTION_PHRASES.get(action, action)}.")


def _action_form(items: list[data.ComplaintItem]) -> None:
    """One compact form for the page: which complaint, which action, its value."""
    labels = {
        item.id: f"{_utc(item.created_at)} · {item.source} · "
        + (item.text if len(item.text) <= 80 else item.text[:80] + "…")
        for item in items
    }
    with st.form("complaints_form"):
        st.selectbox(
            "Complaint",
            list(labels),
            key="complaints_target",
            format_func=lambda mention_id: labels.get(str(mention_id), str(mention_id)),
        )
        left, right = st.columns([1, 2])
        with left:
            st.selectbox(
                "Action",
                data.COMPLAINT_ACTIONS,
                key="complaints_action",
                format_func=lambda action: _ACTION_LABELS[str(action)],
            )
        with right:
            st.text_input(
                "Name, tag or note",
                max_chars=2000,
                key="complaints_value",
                placeholder="for Assign, Add a tag and Add a note",
            )
        st.form_submit_button("Apply", key="complaints_apply", on_click=_act_on_complaint)
    result = st.session_state.pop(_QUEUE_RESULT, None)
    if result is not None:
        ok, message = result
        if ok:
            st.success(message, icon=":material/check:")
        else:
            st.error(message, icon=":material/error:")


def complaints() -> None:
    """Open complaints, newest first, with a workflow shared by everyone: assign to resolve."""
    st.title("Complaints queue")
    brands = data.brands()
    if not brands:
        st.info(EMPTY_MESSAGE, icon=":material/inbox:")
        return
    left, right = st.columns(2)
    with left:
        brand = _brand_picker(brands, key="complaints_brand", allow_all=True)
    with right:
        view = st.selectbox(
            "Show",
            data.COMPLAINT_VIEWS,
            key="complaints_view",
            format_func=lambda name: _VIEW_LABELS[str(name)],
        )
    name = str(st.session_state.get(_NAME) or "").strip()
    if view == "mine" and not name:
        st.warning("Enter your name in the sidebar (*Your name*) to see your complaints.")
        return
    filters = (brand, view, name if view == "mine" else None)
    if st.session_state.get(_QUEUE_FILTERS) != filters:
        st.session_state[_QUEUE_FILTERS] = filters
        st.session_state[_QUEUE_PAGE] = 0
    page_number = int(st.session_state.get(_QUEUE_PAGE, 0))
    page = data.complaints_page(*filters, page_number)
    if not page.items and page_number > 0:
        page_number = st.session_state[_QUEUE_PAGE] = 0
        page = data.complaints_page(*filters, 0)
    if not page.items:
        st.info("No open complaints.", icon=":material/task_alt:")
        result = st.session_state.pop(_QUEUE_RESULT, None)
        if result is not None and result[0]:
            st.success(result[1], icon=":material/check:")
        return
    _action_form(page.items)
    shown_from = page_number * data.COMPLAINTS_PAGE_SIZE + 1
    st.caption(
        f"Complaints {shown_from:,}–{shown_from + len(page.items) - 1:,}, newest first. "
        "Actions are saved at once and seen by everyone."
    )
    for item in page.items:
        _show_complaint(item, show_brand=brand is None)
    _pager("complaints", page_number, page.has_next, _turn_queue_page)


# -- Sources ---------------------------------------------------------------------------


def _status(state: data.SourceState) -> str:
    if state.state == "paused" and state.paused_until is not None:
        return f"paused until {state.paused_until:%Y-%m-%d %H:%M} UTC"
    return {"new": "not run yet"}.get(state.state, state.state)


def sources() -> None:
    """Where collection of each brand x source stands."""
    st.title("Sources")
    states = data.cursor_states()
    if not states:
        st.info(
            "No source has run yet — collection runs every few minutes after `goodwill up`.",
            icon=":material/inbox:",
        )
        return
    failing = [state for state in states if state.last_error]
    if failing:
        st.warning(
            f"{len(failing)} of {len(states)} brand × source pairs failed on their last run; "
            "see *Last error* below.",
            icon=":material/warning:",
        )
    st.caption(
        "Fetched: items the source gave; Matched: those that match the brand's query; "
        "Dropped: those that did not; Dead-lettered: items that could not be read; "
        "Windows not read: periods lost to an outage or a quota."
    )
    rows = [
        {
            "Brand": state.brand,
            "Source": state.source,
            "Status": _status(state),
            "Last success": state.last_success,
            "Ago": _ago(state.last_success),
            "Fetched": state.fetched,
            "Matched": state.matched,
            "Dropped": state.dropped,
            "Dead-lettered": state.dead_lettered,
            "Collected": state.collected,
            "Windows not read": state.gaps,
            "Last error": _redact(state.last_error) if state.last_error else "",
        }
        for state in states
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "Last success": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm z"),
            "Collected": st.column_config.NumberColumn(format="localized"),
            "Last error": st.column_config.TextColumn(width="large"),
        },
    )


# -- the app ---------------------------------------------------------------------------


def main() -> None:
    """Run one pass of the app: settings, login, then the chosen page."""
    st.set_page_config(page_title="Goodwill", page_icon=":material/forum:", layout="wide")
    try:
        password = _password()
    except ConfigError as error:
        st.error(f"**Goodwill's settings are invalid.** {error}", icon=":material/error:")
        return
    if password is not None and not _logged_in(password):
        return
    pages = [
        st.Page(
            _guarded(overview),
            title="Overview",
            icon=":material/insights:",
            url_path="overview",
            default=True,
        ),
        st.Page(_guarded(mentions), title="Mentions", icon=":material/forum:", url_path="mentions"),
        st.Page(
            _guarded(complaints),
            title="Complaints queue",
            icon=":material/report:",
            url_path="complaints",
        ),
        st.Page(_guarded(sources), title="Sources", icon=":material/sensors:", url_path="sources"),
    ]
    current = st.navigation(pages)
    with st.sidebar:
        st.caption("Goodwill · data refreshes every 30 s")
        st.session_state.setdefault(_NAME, _DEFAULT_NAME)
        st.text_input(
            "Your name",
            key=_NAME,
            max_chars=100,
            help="Recorded with each label you correct on the Mentions page.",
        )
        if st.button("Refresh now", icon=":material/refresh:"):
            data.clear_caches()
        if password is not None:
            st.button("Log out", on_click=_log_out)
    current.run()


if __name__ == "__main__":
    main()
