"""The Sources and alerts page: where collection stands, and where the latest alerts went.

One row per brand x source (status, last success, what was fetched, matched, dropped
or dead-lettered, the windows still not read, the last error, redacted), the list of
those windows (a window a later catch-up read after all is no longer shown), then the
alerts kept on the dashboard (``dashboard.alert_list``: the built-in destination's alerts,
readable, by rule) and the latest 50 alerts with their delivery (state, attempts, next
attempt, last error).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import alert_list, data, ui

__all__ = ["sources"]

_ALERT_STATES = {
    "pending": "⏳ pending",
    "sending": "📤 sending",
    "sent": "✅ sent",
    "failed": "❌ failed",
    # Written only by an older Goodwill: delivered inside one of its group messages.
    "grouped": "🧺 sent in a group",
}


def _status(state: data.SourceState) -> str:
    if state.state == "paused" and state.paused_until is not None:
        return f"paused until {state.paused_until:%Y-%m-%d %H:%M} UTC"
    return {"new": "not run yet"}.get(state.state, state.state)


def sources() -> None:
    """Where collection of each brand x source stands, and the latest alerts' delivery."""
    st.title("Sources and alerts")
    _collection()
    _alerts()


def _collection() -> None:
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
        "Windows not read: periods lost to an outage, a quota or a source's own cap, and "
        "not read since."
    )
    rows = [
        {
            "Brand": state.brand,
            "Source": state.source,
            "Status": _status(state),
            "Last success": state.last_success,
            "Ago": ui.ago(state.last_success),
            "Fetched": state.fetched,
            "Matched": state.matched,
            "Dropped": state.dropped,
            "Dead-lettered": state.dead_lettered,
            "Collected": state.collected,
            "Windows not read": state.gaps,
            "Last error": ui.redact(state.last_error) if state.last_error else "",
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
    _windows_not_read(states)


def _windows_not_read(states: list[data.SourceState]) -> None:
    """Each window still not read, under one expander that says how many there are."""
    total = sum(len(state.windows) for state in states)
    if not total:
        return
    with st.expander(f"{total} window{'s' if total > 1 else ''} not read"):
        for state in states:
            for window in state.windows:
                st.text(f"{state.brand} · {state.source}: {ui.redact(window)}")


def _alerts() -> None:
    """The latest alerts, newest first, with where their delivery stands."""
    st.subheader("Recent alerts")
    alerts = data.recent_alerts(50)
    if not alerts:
        st.info(
            "No alerts yet — they are sent when a rule fires (a negative spike, a complaint "
            "from a valued customer ...); see `goodwill alerts`.",
            icon=":material/notifications_off:",
        )
        return
    alert_list.show_kept_alerts()
    st.markdown("**Delivery**")
    failed = sum(alert.state == "failed" for alert in alerts)
    if failed:
        st.warning(
            f"{failed} of the latest {len(alerts)} alerts could not be delivered; "
            "see *Last error* below.",
            icon=":material/warning:",
        )
    rows = [
        {
            "Created": alert.created_at,
            "Brand": alert.brand,
            "Rule": alert.rule,
            "Destination": alert.destination,
            "Delivery": _ALERT_STATES.get(alert.state, alert.state),
            "Attempts": alert.attempts,
            "Sent": alert.sent_at,
            "Next attempt": alert.next_attempt_at if alert.state in ("pending", "failed") else None,
            "Last error": ui.redact(alert.last_error) if alert.last_error else "",
        }
        for alert in alerts
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "Created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm z"),
            "Sent": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm z"),
            "Next attempt": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm z"),
            "Last error": st.column_config.TextColumn(width="large"),
        },
    )
    st.caption(f"The latest {len(alerts)} alerts, newest first.")
