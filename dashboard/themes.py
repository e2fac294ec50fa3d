"""The Themes page: what a brand's complaints and negative posts are about, and how each theme moves.

For the chosen brand and window, every active theme the scorer found
(``scoring/theme_jobs.py``): its name and key phrases, its posts in the window against
the window as long before it (arrow and %), its complaints, their categories and the
sentiment mix, and a sparkline of its complaints per day. Picking a theme (a row of the
table, or the box under it) shows its most representative posts and its complaints of
the window, with links. Post text is shown as plain text, never as Markdown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from dashboard import data, theme_data, ui
from scoring.categories import readable

__all__ = ["themes", "trend"]

_PICK = "themes_pick"
_TABLE = "themes_table"
_LAST_ROW = "themes_last_row"  # the table row last picked, so the box can be changed after it
_SHOWN_COMPLAINTS = 20
_TEXT_CHARS = 500


def trend(count: int, previous: int) -> str:
    """A theme's change against the previous window: ``▲ +40%``, ``▼ -25%``, ``▲ new``, or a dash."""
    if previous == 0:
        return "▲ new" if count else "–"
    change = (count - previous) / previous
    arrow = "▲" if change > 0 else "▼" if change < 0 else "→"
    return f"{arrow} {change:+.0%}"


def _mix(
    pairs: tuple[tuple[str, int], ...], name: Callable[[str], str] = str, shares: bool = False
) -> str:
    """The three largest parts, ``baggage 5 · delay 2 +1 more`` (or shares of the whole)."""
    total = sum(n for _, n in pairs) or 1
    shown = [
        f"{name(key)} {n / total:.0%}" if shares else f"{name(key)} {n}" for key, n in pairs[:3]
    ]
    more = f" +{len(pairs) - 3} more" if len(pairs) > 3 else ""
    return " · ".join(shown) + more if shown else "–"


def _table(rows: list[theme_data.ThemeRow], compared: bool) -> pd.DataFrame:
    """One row per theme; without an earlier window (all time), no trend."""
    frame = pd.DataFrame(
        [
            {
                "Theme": row.name,
                "Posts": row.count,
                "Trend": trend(row.count, row.previous),
                "Complaints": row.complaints,
                "Complaints per day": list(row.daily),
                "Categories": _mix(row.categories, readable),
                "Sentiment": _mix(row.sentiments, shares=True),
                "Key phrases": ", ".join(row.phrases),
                "Before": row.previous,
                "Id": row.theme_id,
            }
            for row in rows
        ]
    )
    return frame if compared else frame.drop(columns=["Trend", "Before"])


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _when_themes_come(brand: str) -> None:
    """The empty state: why there are no themes yet, and when they will come."""
    have = theme_data.embedded_posts(brand)
    tomorrow = ui.today() + timedelta(days=1)
    nightly = f"and again every night after 00:00 UTC (next: {tomorrow:%Y-%m-%d} 00:00 UTC)"
    if have < theme_data.BOOTSTRAP_POSTS:
        why = (
            f"Themes are found once a brand has {theme_data.BOOTSTRAP_POSTS} complaints or "
            f"negative posts with embeddings in the last 30 days; {ui.md(brand)} has {have:,} so "
            f"far. The scorer clusters them within minutes of reaching that, {nightly}."
        )
    else:
        why = (
            f"{ui.md(brand)} has {have:,} complaints or negative posts with embeddings in the "
            f"last 30 days, enough: the scorer clusters them within minutes while it runs "
            f"(`goodwill up` or `goodwill score`), {nightly}."
        )
    st.info(f"**No themes for {ui.md(brand)} yet.** {why}", icon=":material/hub:")


def _post_box(post: theme_data.ThemePost, *, category: bool = False) -> None:
    with st.container(border=True):
        meta = [ui.utc(post.created_at)] if post.created_at else []
        meta.append(ui.md(post.source))
        if category and post.category:
            meta.append(f"category: {ui.md(readable(post.category))}")
        url = ui.safe_url(post.url)
        if url:
            meta.append(f"[open ↗]({url})")
        st.caption(" · ".join(meta))
        st.text(post.text if len(post.text) <= _TEXT_CHARS else post.text[:_TEXT_CHARS] + "…")


def _picked(rows: list[theme_data.ThemeRow], event: object) -> None:
    """A row picked in the table becomes the box's choice (once: the box may be changed after)."""
    selection = getattr(event, "selection", None)
    picked = list(getattr(selection, "rows", None) or [])
    row = picked[0] if picked else None
    if row != st.session_state.get(_LAST_ROW):
        st.session_state[_LAST_ROW] = row
        if row is not None and 0 <= row < len(rows):
            st.session_state[_PICK] = rows[row].theme_id


def _theme_posts(brand: str, row: theme_data.ThemeRow, first: date, last: date) -> None:
    st.subheader(ui.md(row.name))
    clustered = f"; clustered {ui.ago(row.clustered_at)}" if row.clustered_at else ""
    st.caption(
        f"{ui.md(row.theme_id)} · key phrases: {', '.join(ui.md(p) for p in row.phrases) or '–'} · "
        f"{_plural(row.count, 'post')} in the window ({trend(row.count, row.previous)} against "
        f"{row.previous:,} before), {_plural(row.complaints, 'complaint')} · "
        f"{_plural(row.size, 'post')} when clustered{clustered}. Filter the Complaints queue "
        "by this theme to assign them."
    )
    representatives, complaints = st.columns(2)
    with representatives:
        st.markdown("**Most representative posts**")
        if not row.posts:
            st.caption("Its representative posts are no longer in the database (erased).")
        for post in row.posts:
            _post_box(post)
    with complaints:
        found = theme_data.theme_complaints(brand, row.theme_id, first, last)
        st.markdown("**Its complaints in the window**")
        if not found:
            st.caption("No complaints of this theme in the window.")
        else:
            st.caption(
                f"{_plural(len(found), 'complaint')}{'+' if len(found) >= 200 else ''}, "
                f"the {min(len(found), _SHOWN_COMPLAINTS)} newest shown."
            )
        for post in found[:_SHOWN_COMPLAINTS]:
            _post_box(post, category=True)


def themes() -> None:
    """A brand's complaint themes over a window, each with its trend, and the posts behind one."""
    st.title("Themes")
    brands = data.brands()
    if not brands:
        st.info(ui.EMPTY_MESSAGE, icon=":material/inbox:")
        return
    left, right = st.columns([2, 1])
    with left:
        brand = ui.brand_picker(brands, key="themes_brand")
    with right:
        window = st.selectbox("Window", list(ui.WINDOWS), index=1, key="themes_window")
    assert brand is not None
    first, last = ui.window_bounds(window)
    rows = theme_data.themes(brand, first, last)
    if not rows:
        _when_themes_come(brand)
        return
    days = ui.WINDOWS[window]
    spark = min(theme_data.SPARK_DAYS, (last - first).days + 1)
    event = st.dataframe(
        _table(rows, days is not None),
        hide_index=True,
        width="stretch",
        key=_TABLE,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "Theme": st.column_config.TextColumn(width="medium"),
            "Key phrases": st.column_config.TextColumn(width="medium"),
            "Categories": st.column_config.TextColumn(help="Its complaints by category."),
            "Sentiment": st.column_config.TextColumn(help="Its posts in the window by sentiment."),
            "Posts": st.column_config.NumberColumn(help="Its posts in the window."),
            "Trend": st.column_config.TextColumn(help="Posts against the window before."),
            "Before": st.column_config.NumberColumn(
                help="Its posts in the window as long just before this one."
            ),
            "Complaints per day": st.column_config.LineChartColumn(
                f"Complaints per day (last {spark} d)", y_min=0
            ),
        },
    )
    compared = (
        "all time, no earlier window to compare with"
        if days is None
        else f"trend against the previous {days} day{'s' if days > 1 else ''}"
    )
    st.caption(
        f"{len(rows)} active theme{'s' if len(rows) != 1 else ''} of {ui.md(brand)} · "
        f"{first:%Y-%m-%d} to {last:%Y-%m-%d} (UTC) · {compared}. Themes group complaints and "
        "negative posts by meaning; the scorer finds them again each night. Pick a row to "
        "read its posts."
    )
    _picked(rows, event)
    by_id = {row.theme_id: row for row in rows}
    if st.session_state.get(_PICK) not in by_id:
        st.session_state[_PICK] = rows[0].theme_id
    chosen = st.selectbox(
        "Theme",
        list(by_id),
        key=_PICK,
        format_func=lambda theme_id: f"{by_id[str(theme_id)].name} ({theme_id})",
    )
    _theme_posts(brand, by_id[str(chosen)], first, last)
