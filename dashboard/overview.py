"""The Overview page: a brand at a glance, beside its competitors, from the daily roll-ups.

Volumes, sentiment mix, net sentiment over time and by source, share of voice against
the watch list's competitors, what changed since the previous equal window (and the
posts behind the worst day), the words that rose in negative mentions, and complaints by
category. Everything but the posts and the terms comes from ``rollups`` (the complaint
categories too); the posts and terms read a capped slice of ``mentions``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, theme_data, ui
from scoring.categories import readable
from store.rollups import RATING_COUNTS

__all__ = ["overview"]

_SOV_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
_RATED = RATING_COUNTS  # rated, stars, rated_scored, stars_agree, stars_clash


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
    long["label"] = long["sentiment"].map(ui.LABELS)
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
                    domain=[ui.LABELS[name] for name in data.SENTIMENTS],
                    range=[ui.COLOURS[name] for name in data.SENTIMENTS],
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
            "label": [ui.LABELS[name] for name in data.SENTIMENTS],
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
                    domain=[ui.LABELS[name] for name in data.SENTIMENTS],
                    range=[ui.COLOURS[name] for name in data.SENTIMENTS],
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


def _period_start(frame: pd.DataFrame, per: str) -> pd.Series:
    """Each row's period (UTC midnight of its day, week or month), as the volume chart buckets."""
    moments = pd.to_datetime(frame["day"])
    if per == "week":
        moments = moments.dt.to_period("W").dt.start_time
    elif per == "month":
        moments = moments.dt.to_period("M").dt.start_time
    return moments.dt.tz_localize("UTC")


def _net_over_time(frame: pd.DataFrame, per: str) -> pd.DataFrame:
    """Net sentiment per period: one series per source and one for all sources together."""
    periods = frame.assign(period=_period_start(frame, per))
    by_source = periods.groupby(["period", "source"], as_index=False)[
        ["total", "negative", "positive"]
    ].sum()
    overall = periods.groupby("period", as_index=False)[["total", "negative", "positive"]].sum()
    overall["source"] = "All sources"
    long = pd.concat([overall, by_source], ignore_index=True)
    long["net"] = (long["positive"] - long["negative"]) / long["total"].where(long["total"] > 0)
    return long.dropna(subset=["net"])


def _net_chart(long: pd.DataFrame, per: str) -> Any:
    unit = "utcyearmonth" if per == "month" else "utcyearmonthdate"
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{unit}(period):T", title=None),
            y=alt.Y("net:Q", title="net sentiment", axis=alt.Axis(format="+.0%")),
            color=alt.Color("source:N", title="Source", legend=alt.Legend(orient="top")),
            strokeWidth=alt.condition(
                alt.datum.source == "All sources", alt.value(3.5), alt.value(1.5)
            ),
            tooltip=[
                alt.Tooltip(f"{unit}(period):T", title=per.capitalize()),
                alt.Tooltip("source:N", title="Source"),
                alt.Tooltip("net:Q", title="Net sentiment", format="+.0%"),
                alt.Tooltip("total:Q", title="Mentions"),
            ],
        )
        .properties(height=280)
    )


def _stars_over_time(frame: pd.DataFrame, per: str) -> pd.DataFrame:
    """Average stars and rated reviews per period (periods with a rated review only)."""
    periods = frame.assign(period=_period_start(frame, per))
    summed = periods.groupby("period", as_index=False)[["rated", "stars"]].sum()
    summed = summed[summed["rated"] > 0]
    return summed.assign(average=summed["stars"] / summed["rated"])


def _stars_chart(long: pd.DataFrame, per: str) -> Any:
    """A line of average stars per period over faint bars of how many reviews it averages."""
    unit = "utcyearmonth" if per == "month" else "utcyearmonthdate"
    tooltip = [
        alt.Tooltip(f"{unit}(period):T", title=per.capitalize()),
        alt.Tooltip("average:Q", title="Average stars", format=".2f"),
        alt.Tooltip("rated:Q", title="Rated reviews"),
    ]
    base = alt.Chart(long).encode(x=alt.X(f"{unit}(period):T", title=None), tooltip=tooltip)
    counts = base.mark_bar(color="#f59f00", opacity=0.2).encode(
        y=alt.Y("rated:Q", title="rated reviews", axis=alt.Axis(orient="right"))
    )
    line = base.mark_line(point=True, color="#f59f00").encode(
        y=alt.Y("average:Q", title="average stars", scale=alt.Scale(domain=[1, 5]))
    )
    return alt.layer(counts, line).resolve_scale(y="independent").properties(height=240)


def _ratings(frame: pd.DataFrame, previous: pd.DataFrame | None, per: str) -> None:
    """Star ratings beside the model: average over time, and how often stars and verdict agree.

    Shown only when the brand has rated reviews in the window. Stars read 1-2 negative,
    3 neutral, 4-5 positive (``store.rollups.stars_label``); they never change the counts.
    """
    now = {name: int(frame[name].sum()) if name in frame else 0 for name in _RATED}
    if not now["rated"]:
        return
    st.subheader("Star ratings")
    average = now["stars"] / now["rated"]
    before = (
        None
        if previous is None
        else {name: int(previous[name].sum()) if name in previous else 0 for name in _RATED}
    )
    change = (
        None
        if before is None or not before["rated"]
        else f"{average - before['stars'] / before['rated']:+.2f}"
    )
    columns = st.columns(4)
    columns[0].metric(
        "Average stars",
        f"{average:.2f} ★",
        delta=change,
        help="Mean star rating of the rated reviews (App Store) in the window.",
    )
    columns[1].metric("Rated reviews", f"{now['rated']:,}")
    agreement = now["stars_agree"] / now["rated_scored"] if now["rated_scored"] else None
    columns[2].metric(
        "Stars agree with the verdict",
        "–" if agreement is None else f"{agreement:.0%}",
        help="Of the rated reviews with a sentiment: those whose stars say the same "
        "(1-2 stars negative, 3 neutral, 4-5 positive).",
    )
    columns[3].metric(
        "Stars and verdict opposite",
        f"{now['stars_clash']:,}",
        help="Negative stars read positive, or positive stars read negative: worth a look.",
    )
    st.altair_chart(_stars_chart(_stars_over_time(frame, per), per), width="stretch")
    scored = (
        f"{now['stars_agree']:,} of {now['rated_scored']:,} rated reviews with a sentiment "
        f"agree with their stars; {now['stars_clash']:,} say the opposite (marked in the feed)"
        if now["rated_scored"]
        else "No rated review has a sentiment yet"
    )
    st.caption(
        f"{scored}. Stars read 1-2 negative, 3 neutral, 4-5 positive; the verdict is the "
        "model's, or a person's correction. Stars are shown beside the model, never counted "
        "in its place."
    )


def _competition(
    current: pd.DataFrame, previous: pd.DataFrame | None, names: list[str]
) -> pd.DataFrame:
    """One row per brand: volume, share of voice, sentiment, complaints, change in volume."""
    # Volume and share of voice count every mention, in any language; sentiment the scored.
    current = current.assign(volume=current["total"] + current["unscored"])
    summed = current.groupby("brand")[
        ["volume", "total", "negative", "positive", "complaints"]
    ].sum()
    before = (
        None
        if previous is None
        else (previous["total"] + previous["unscored"]).groupby(previous["brand"]).sum()
    )
    everyone = int(summed["volume"].sum()) or 1
    rows = []
    for name in names:
        counts = summed.loc[name] if name in summed.index else None
        volume = int(counts["volume"]) if counts is not None else 0
        scored = int(counts["total"]) if counts is not None else 0
        negative = int(counts["negative"]) if counts is not None else 0
        positive = int(counts["positive"]) if counts is not None else 0
        earlier = None if before is None else int(before.get(name, 0))
        rows.append(
            {
                "Brand": name,
                "Mentions": volume,
                "Share of voice": volume / everyone,
                "Negative": negative,
                "Positive": positive,
                "Net sentiment": _net(positive, negative, scored),
                "Complaints": int(counts["complaints"]) if counts is not None else 0,
                "Mentions vs previous": None if earlier is None else volume - earlier,
            }
        )
    return pd.DataFrame(rows)


def _share_chart(current: pd.DataFrame, per: str, names: list[str]) -> Any:
    periods = current.assign(
        period=_period_start(current, per), total=current["total"] + current["unscored"]
    )
    summed = periods.groupby(["period", "brand"], as_index=False)["total"].sum()
    unit = "utcyearmonth" if per == "month" else "utcyearmonthdate"
    return (
        alt.Chart(summed)
        .mark_area()
        .encode(
            x=alt.X(f"{unit}(period):T", title=None),
            y=alt.Y(
                "sum(total):Q",
                stack="normalize",
                title="share of voice",
                axis=alt.Axis(format=".0%"),
            ),
            color=alt.Color(
                "brand:N",
                title="Brand",
                scale=alt.Scale(domain=names, range=_SOV_COLOURS),
                legend=alt.Legend(orient="top"),
            ),
            order=alt.Order("brand:N"),
            tooltip=[
                alt.Tooltip(f"{unit}(period):T", title=per.capitalize()),
                alt.Tooltip("brand:N", title="Brand"),
                alt.Tooltip("sum(total):Q", title="Mentions"),
            ],
        )
        .properties(height=260)
    )


def _terms_table(terms: list[tuple[str, int, int, float]], compared: bool) -> pd.DataFrame:
    """One row per term: mentions using it now and before, and how much its share rose."""
    frame = pd.DataFrame(terms, columns=["Term", "Now", "Before", "Rise"])
    return frame if compared else frame.drop(columns=["Before", "Rise"])


def _top_terms(brand: str, names: list[str], first: date, last: date, days: int | None) -> None:
    """The words that rose most in negative mentions, this window against the one before."""
    st.subheader("Top terms")
    terms, now, before = data.top_terms(brand, first, last, tuple(names), days)
    if not terms:
        st.caption(
            "No word rose in negative mentions of this window against the previous one."
            if days is not None
            else "No words stand out in the negative mentions of this window yet."
        )
        return
    st.dataframe(
        _terms_table(terms, days is not None),
        hide_index=True,
        width="stretch",
        column_config={
            "Now": st.column_config.NumberColumn(help="Negative mentions of the window using it."),
            "Before": st.column_config.NumberColumn(
                help="Negative mentions of the previous window using it."
            ),
            "Rise": st.column_config.NumberColumn(
                format="%.1f×", help="Its share of negative mentions now over its share before."
            ),
        },
    )
    if days is None:
        st.caption(
            f"Words most used by the latest {now:,} negative mentions of all time "
            "(common words and brand names left out)."
        )
        return
    st.caption(
        f"Words that rose most in negative mentions: the latest {now:,} negative mentions of "
        f"this window against the latest {before:,} of the previous {days} "
        f"day{'s' if days > 1 else ''}. Rise = share of mentions using the word now over its "
        "share before, each count plus 2 so rare words do not leap; at least 3 mentions now. "
        "Common words and brand names left out."
    )


def _categories_over_time(frame: pd.DataFrame, per: str) -> pd.DataFrame:
    periods = frame.assign(period=_period_start(frame, per), label=frame["category"].map(readable))
    return periods.groupby(["period", "label"], as_index=False)["complaints"].sum()


def _categories_chart(long: pd.DataFrame, per: str) -> Any:
    unit = "utcyearmonth" if per == "month" else "utcyearmonthdate"
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(f"{unit}(period):T", title=None),
            y=alt.Y("sum(complaints):Q", title=f"complaints per {per}"),
            color=alt.Color("label:N", title="Category", legend=alt.Legend(orient="top")),
            tooltip=[
                alt.Tooltip(f"{unit}(period):T", title=per.capitalize()),
                alt.Tooltip("label:N", title="Category"),
                alt.Tooltip("sum(complaints):Q", title="Complaints"),
            ],
        )
        .properties(height=260)
    )


def _categories(brand: str, first: date, last: date, previous_first: date | None, per: str) -> None:
    """Complaints per category in the window against the previous one, and over time."""
    st.subheader("Complaints by category")
    frame = theme_data.categories(brand, previous_first or first, last)
    current = frame[frame["day"] >= first]
    if current.empty:
        st.caption("No complaints in this window.")
        return
    now = current.groupby("category")["complaints"].sum()
    before = (
        None
        if previous_first is None
        else frame[frame["day"] < first].groupby("category")["complaints"].sum()
    )
    names = sorted(set(now.index) | set(() if before is None else before.index))
    rows = [
        {
            "Category": readable(name),
            "Complaints": int(now.get(name, 0)),
            **(
                {}
                if before is None
                else {
                    "Before": int(before.get(name, 0)),
                    "Change": _change(int(now.get(name, 0)), int(before.get(name, 0))),
                }
            ),
        }
        for name in names
    ]
    table = pd.DataFrame(rows).sort_values(["Complaints", "Category"], ascending=[False, True])
    table_column, chart_column = st.columns([2, 3])
    with table_column:
        st.dataframe(table, hide_index=True, width="stretch")
    with chart_column:
        st.altair_chart(
            _categories_chart(_categories_over_time(current, per), per), width="stretch"
        )
    compared = "" if previous_first is None else ", against the window as long before it"
    st.caption(
        f"Complaints of {ui.md(brand)} in the window by the detector's category (a person's "
        f"correction counts over the model's verdict){compared}; per {per} on the right."
    )


def _change(now: int, before: int) -> str:
    if before == 0:
        return "new" if now else "no change"
    return f"{(now - before) / before:+.0%}"


def _counts(frame: pd.DataFrame) -> dict[str, int]:
    names = ("total", *data.SENTIMENTS, "complaints", "unscored")
    counts = {name: int(frame[name].sum()) if name in frame else 0 for name in names}
    counts["volume"] = counts["total"] + counts["unscored"]  # every mention, read or not
    return counts


def _what_changed(
    brand: str, current: pd.DataFrame, previous: pd.DataFrame | None, span_days: int | None
) -> None:
    """Deltas against the previous equal window, the source that moved most, the worst day's posts."""
    st.subheader("What changed")
    now = _counts(current)
    lines = []
    if previous is not None and span_days is not None:
        before = _counts(previous)
        lines.append(
            f"**Mentions** {before['total']:,} → {now['total']:,} ({_change(now['total'], before['total'])}) "
            f"against the previous {span_days} day{'s' if span_days > 1 else ''}."
        )
        share_now = now["negative"] / now["total"] if now["total"] else 0.0
        share_before = before["negative"] / before["total"] if before["total"] else 0.0
        lines.append(
            f"**Negative** {before['negative']:,} → {now['negative']:,}: "
            f"{share_before:.0%} → {share_now:.0%} of mentions "
            f"({(share_now - share_before) * 100:+.0f} points)."
        )
        lines.append(
            f"**Complaints** {before['complaints']:,} → {now['complaints']:,} "
            f"({_change(now['complaints'], before['complaints'])})."
        )
        moved = (
            current.groupby("source")["total"]
            .sum()
            .subtract(previous.groupby("source")["total"].sum(), fill_value=0)
        )
        if not moved.empty and moved.abs().max() > 0:
            source = str(moved.abs().idxmax())
            lines.append(f"**Moved most:** {ui.md(source)} ({int(moved[source]):+,} mentions).")
    else:
        lines.append("All time: no earlier window to compare with.")
    st.markdown("\n".join(f"- {line}" for line in lines))

    daily = current.groupby("day")[["negative", "total"]].sum()
    if daily.empty or int(daily["negative"].max()) == 0:
        st.caption("No negative mentions in this window.")
        return
    worst = daily["negative"].idxmax()
    mean = float(daily["negative"].sum()) / max(len(daily), 1)
    ratio = (
        f", {daily.loc[worst, 'negative'] / mean:.1f}× the window's daily average" if mean else ""
    )
    st.markdown(
        f"**Most negative day: {worst:%Y-%m-%d}** — {int(daily.loc[worst, 'negative']):,} negative "
        f"of {int(daily.loc[worst, 'total']):,} mentions{ratio}. The posts behind it, most negative "
        "and most engaged first:"
    )
    posts = data.negative_posts(brand, worst, 1, 3)
    if not posts:
        st.caption("Its mentions are no longer in the database (erased).")
    for post in posts:
        with st.container(border=True):
            meta = [ui.utc(post.created_at), ui.md(post.source)]
            if post.author:
                meta.append(ui.md(post.author))
            meta.append(f"engagement {post.engagement:,}")
            meta.append(f"negative {post.negativity:.0%}")
            if post.complaint:
                meta.append(":orange-badge[complaint]")
            url = ui.safe_url(post.url)
            if url:
                meta.append(f"[open ↗]({url})")
            st.caption(" · ".join(meta))
            st.text(post.text if len(post.text) <= 500 else post.text[:500] + "…")


def _competitors_section(
    brand: str,
    names: list[str],
    named: bool,
    frame_all: pd.DataFrame,
    first: date,
    previous_first: date | None,
    per: str,
) -> None:
    st.subheader("Competitors side by side")
    if len(names) == 1:
        st.info(
            f"No competitors to compare {ui.md(brand)} with: list them in the watch list "
            '(`competitors = ["..."]` under the brand).',
            icon=":material/compare_arrows:",
        )
        return
    current = frame_all[frame_all["day"] >= first]
    previous = None if previous_first is None else frame_all[frame_all["day"] < first]
    table = _competition(current, previous, names)
    silent = [name for name in names[1:] if name not in set(frame_all["brand"])]
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Share of voice": st.column_config.ProgressColumn(
                format="percent", min_value=0, max_value=1
            ),
            "Net sentiment": st.column_config.NumberColumn(format="percent"),
            "Mentions vs previous": st.column_config.NumberColumn(format="%+d"),
        },
    )
    source = "the watch list's competitors" if named else "every other brand in the database"
    note = (
        f" No scored mentions of {', '.join(ui.md(name) for name in silent)} in this window."
        if silent
        else ""
    )
    st.caption(
        f"Share of voice: each brand's share of the mentions of {ui.md(brand)} and {source}.{note}"
    )
    if not current.empty:
        st.altair_chart(_share_chart(current, per, names), width="stretch")


def overview() -> None:
    """A brand's volume and sentiment over a window, beside its competitors, from the roll-ups."""
    st.title("Overview")
    brands = data.brands()
    if not brands:
        st.info(ui.EMPTY_MESSAGE, icon=":material/inbox:")
        return
    left, right = st.columns([2, 1])
    with left:
        brand = ui.brand_picker(brands, key="overview_brand")
    with right:
        window = st.selectbox("Window", list(ui.WINDOWS), index=2, key="overview_window")
    assert brand is not None
    first, last = ui.window_bounds(window)
    days = ui.WINDOWS[window]
    previous_first = None if days is None else first - timedelta(days=days)
    rivals, named = data.competitors(brand)
    names = [brand, *(name for name in rivals if name != brand)]
    frame_all = data.brand_rollups(tuple(names), previous_first or first, last)
    own = frame_all[frame_all["brand"] == brand]
    frame = own[own["day"] >= first]
    previous = None if previous_first is None else own[own["day"] < first]
    waiting = data.unscored_count(brand)
    waiting_note = f" {waiting:,} more await scoring." if waiting else ""
    if frame.empty or int(frame["total"].sum() + frame["unscored"].sum()) == 0:
        st.info(
            f"No scored mentions of {ui.md(brand)} in this window ({window.lower()})."
            f"{waiting_note} Try a longer window, or wait for the scorer.",
            icon=":material/inbox:",
        )
        return

    now = _counts(frame)
    before = None if previous is None else _counts(previous)
    total = now["total"]

    def delta(name: str) -> int | None:
        return None if before is None else now[name] - before[name]

    columns = st.columns(6)
    unread = (
        f" {now['unscored']:,} of them in languages the model does not read: counted, not scored."
        if now["unscored"]
        else ""
    )
    columns[0].metric(
        "Mentions",
        f"{now['volume']:,}",
        delta=delta("volume"),
        help=f"Every mention in the window.{unread}",
    )
    for column, name in zip(columns[1:4], data.SENTIMENTS, strict=True):
        share = now[name] / total if total else 0.0
        column.metric(
            ui.LABELS[name],
            f"{now[name]:,}",
            delta=delta(name),
            delta_color="inverse" if name == "negative" else "normal",
            help=f"{share:.0%} of scored mentions",
        )
        column.caption(f"{share:.0%} of scored mentions")
    net = _net(now["positive"], now["negative"], total)
    net_delta = (
        None
        if before is None
        else f"{(net - _net(before['positive'], before['negative'], before['total'])) * 100:+.0f} pts"
    )
    columns[4].metric(
        "Net sentiment", f"{net:+.0%}", delta=net_delta, help="(positive − negative) / mentions"
    )
    columns[5].metric(
        "Complaints",
        f"{now['complaints']:,}",
        delta=delta("complaints"),
        delta_color="inverse",
        help="Mentions the complaint detector flagged.",
    )
    compared = (
        ""
        if days is None
        else f" · changes against the previous {days} day{'s' if days > 1 else ''}"
    )
    st.caption(
        f"{ui.md(brand)} · {first:%Y-%m-%d} to {last:%Y-%m-%d} (UTC) · sentiment of scored "
        f"mentions; a person's correction counts over the model's{compared}.{waiting_note}"
    )
    if now["unscored"]:
        languages = data.language_mix(brand, first, last)
        shown = ", ".join(f"{ui.md(code)} {count:,}" for code, count in languages.items())
        st.caption(
            f"Not scored (language): {now['unscored']:,} mentions the model does not read"
            + (f" ({shown})" if shown else "")
            + ". They count in volume and share of voice, not in sentiment."
        )

    long, per = _bucketed(frame, days)
    st.subheader(f"Volume per {per}")
    span = None if days is None else (first, last)
    st.altair_chart(_volume_chart(long, per, span), width="stretch")

    changed, terms_column = st.columns([3, 2])
    with changed:
        _what_changed(brand, frame, previous, days)
    with terms_column:
        _top_terms(brand, names, first, last, days)
    _categories(brand, first, last, previous_first, per)

    st.subheader(f"Net sentiment per {per}")
    st.altair_chart(_net_chart(_net_over_time(frame, per), per), width="stretch")
    _ratings(frame, previous, per)

    mix, sources = st.columns([1, 2])
    with mix:
        st.subheader("Sentiment mix")
        st.altair_chart(_mix_chart({name: now[name] for name in data.SENTIMENTS}), width="stretch")
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

    _competitors_section(brand, names, named, frame_all, first, previous_first, per)
