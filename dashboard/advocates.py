"""The Advocates and detractors page: a brand's people by advocacy score, and their export.

Two leaderboards, paged (never everything at once): advocates highest score first,
detractors lowest first, each row with its trend over 30 days and a link to the
person's Profile page. The export buttons give the CLI's ``goodwill export
advocates`` file (CSV or XLSX), built only when clicked.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pandas as pd
import streamlit as st

from customers import exports
from dashboard import data, people, ui

__all__ = ["advocates", "export_bytes", "profile_link"]

_PAGE = "board_page_{}"
_FILTERS = "board_filters"
_SINCE = {"Any time": None, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90}
EMPTY_ADVOCATES = (
    "No advocates yet — scores appear once the scorer has scored mentions with known authors."
)
EMPTY_DETRACTORS = (
    "No detractors — nobody's score for this brand is at or below the detractor threshold."
)


def profile_link(profile_id: str) -> str:
    """The Profile page's address for one person, relative to the app (works under a base path)."""
    return f"profile?profile={quote(profile_id)}"


def export_bytes(filters: people.BoardFilters, kind: str) -> bytes:
    """The export file (``csv`` or ``xlsx``) for these filters, as the CLI writes it."""
    rows = people.export_rows(filters)
    return exports.xlsx_bytes(rows) if kind == "xlsx" else exports.csv_bytes(rows)


def _filters(brand: str) -> people.BoardFilters:
    columns = st.columns(4)
    with columns[0]:
        min_score = st.number_input(
            "Advocates: score at least",
            min_value=-100.0,
            max_value=100.0,
            value=None,
            step=5.0,
            key="board_min_score",
            placeholder=f"advocates (≥ {data.settings().advocate_threshold:g})",
        )
    with columns[1]:
        max_score = st.number_input(
            "Detractors: score at most",
            min_value=-100.0,
            max_value=100.0,
            value=None,
            step=5.0,
            key="board_max_score",
            placeholder="any detractor",
        )
    with columns[2]:
        since_label = st.selectbox("Last mention", list(_SINCE), key="board_since")
    with columns[3]:
        source = st.selectbox(
            "Source",
            [None, *data.sources(brand)],
            key="board_source",
            format_func=lambda name: "All sources" if name is None else str(name),
        )
    days = _SINCE[since_label]
    return people.BoardFilters(
        brand=brand,
        min_score=min_score,
        max_score=max_score,
        since=None if days is None else ui.today() - timedelta(days=days - 1),
        source=source,
    )


def _table(board: people.Board) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Name": row.name + (" (do not contact)" if row.do_not_contact else ""),
                "Score": row.score,
                "Trend (30 d)": row.trend,
                "Score over time": list(row.history),
                "Tier": row.tier,
                "Reach": row.reach,
                "Mentions": row.mentions,
                "Last mention": row.last_mention_at,
                "Post": ui.safe_url(row.last_mention_url),
                "Profile": profile_link(row.profile_id),
                "Handles": row.handles,
            }
            for row in board.rows
        ]
    )


_COLUMNS = {
    "Score": st.column_config.NumberColumn(format="%.1f"),
    "Trend (30 d)": st.column_config.NumberColumn(
        format="%+.1f", help="Score now less the score 30 days ago (empty: no score then)."
    ),
    "Score over time": st.column_config.LineChartColumn(y_min=-100, y_max=100),
    "Reach": st.column_config.NumberColumn(format="localized", help="Most followers known."),
    "Last mention": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm z"),
    "Post": st.column_config.LinkColumn(display_text="open ↗"),
    "Profile": st.column_config.LinkColumn(display_text="profile →"),
}


def _leaderboard(filters: people.BoardFilters, kind: str) -> None:
    key = _PAGE.format(kind)
    page_number = int(st.session_state.get(key, 0))
    board = people.leaderboard(filters, kind, page_number)
    if not board.rows and page_number > 0:
        page_number = st.session_state[key] = 0
        board = people.leaderboard(filters, kind, 0)
    if not board.rows:
        st.info(
            EMPTY_ADVOCATES if kind == "advocate" else EMPTY_DETRACTORS,
            icon=":material/group_off:",
        )
        return
    total = people.leaderboard_count(filters, kind)
    first = page_number * people.LEADERBOARD_PAGE_SIZE + 1
    order = "highest score first" if kind == "advocate" else "lowest score first"
    st.caption(f"{first:,}–{first + len(board.rows) - 1:,} of {total:,}, {order}.")
    st.dataframe(
        _table(board),
        hide_index=True,
        width="stretch",
        column_config=_COLUMNS,
        key=f"board_{kind}_table",
    )
    ui.pager(f"board_{kind}", page_number, board.has_next, ui.turner(_PAGE.format(kind)))


def advocates() -> None:
    """A brand's advocates and detractors, with the marketing export."""
    st.title("Advocates and detractors")
    brands = data.brands()
    if not brands:
        st.info(ui.EMPTY_MESSAGE, icon=":material/inbox:")
        return
    brand = ui.brand_picker(brands, key="board_brand")
    if brand is None:
        return
    filters = _filters(brand)
    if st.session_state.get(_FILTERS) != filters:
        st.session_state[_FILTERS] = filters
        for kind in ("advocate", "detractor"):
            st.session_state[_PAGE.format(kind)] = 0
    st.caption(
        "People marked *(do not contact)* are never in an export. "
        "*profile →* opens a person's whole story."
    )
    left, right = st.columns(2)
    with left:
        st.subheader("Advocates")
        _leaderboard(filters, "advocate")
    with right:
        st.subheader("Detractors")
        _leaderboard(filters, "detractor")
    st.subheader("Export")
    what = (
        f"everyone scoring at least {filters.min_score:g}"
        if filters.min_score is not None
        else "the advocates"
    )
    st.caption(
        f"{what.capitalize()} of {ui.md(brand)} with these filters, as `goodwill export "
        "advocates` writes them; never anyone marked do-not-contact."
    )
    name = "".join(ch if ch.isalnum() else "-" for ch in brand).strip("-") or "brand"
    csv_column, xlsx_column = st.columns(2)
    csv_column.download_button(
        "Download CSV",
        data=lambda: export_bytes(filters, "csv"),
        file_name=f"{name}-advocates.csv",
        mime="text/csv",
        icon=":material/download:",
        key="board_export_csv",
        on_click="ignore",
    )
    xlsx_column.download_button(
        "Download XLSX",
        data=lambda: export_bytes(filters, "xlsx"),
        file_name=f"{name}-advocates.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        key="board_export_xlsx",
        on_click="ignore",
    )
