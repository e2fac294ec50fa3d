"""Goodwill's dashboard: ``streamlit run dashboard/app.py``.

Four pages over the store: **Overview** (``dashboard.overview``: a brand beside its
competitors, from the daily roll-ups), **Mentions** (the feed, filtered and paged),
**Complaints queue** (open complaints and their shared workflow: assign, acknowledge,
resolve, tag, note) and **Sources and alerts** (where collection of each brand x
source stands; the latest alerts and their delivery). A login comes first
(``dashboard.login``: OIDC when configured, else the password from settings). No
page ever shows a secret or a traceback: failures are shown as messages that say
what to do.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from scoring.categories import readable

try:
    from dashboard import advocates, data, login, overview, people, profile, ui
except ModuleNotFoundError:  # `streamlit run dashboard/app.py` from a checkout not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from dashboard import advocates, data, login, overview, people, profile, ui

from goodwill.errors import ConfigError, StoreError
from store import CORRECTION_KINDS

_LOGGED_IN = "goodwill_logged_in"
_FEED_PAGE = "feed_page"
_FEED_FILTERS = "feed_filters"
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


# -- Mentions --------------------------------------------------------------------------


def _feed_filters() -> data.FeedFilters:
    brands = data.brands()
    top = st.columns(3)
    with top[0]:
        brand = ui.brand_picker(brands, key="feed_brand", allow_all=True)
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
                name, ui.LABELS.get(str(name), str(name))
            ),
        )
    bottom = st.columns([1, 1, 2])
    with bottom[0]:
        period = st.selectbox("Created", [*ui.WINDOWS, ui.CUSTOM], index=5, key="feed_period")
    first: date | None
    last: date | None
    if period == ui.CUSTOM:
        with bottom[1]:
            today = ui.today()
            chosen = st.date_input(
                "From – to (UTC)",
                value=(today - timedelta(days=29), today),
                max_value=today,
                key="feed_dates",
            )
        picked = [day for day in chosen if day is not None] if isinstance(chosen, tuple) else []
        first = picked[0] if picked else None
        last = picked[-1] if picked else None
    elif ui.WINDOWS[period] is None:
        first = last = None
    else:
        first, last = ui.window_bounds(period)
    with bottom[2]:
        contains = st.text_input(
            "Text contains",
            key="feed_contains",
            max_chars=200,
            placeholder="any words, taken literally",
        )
    more = st.columns(3)
    with more[0]:
        complaint = st.selectbox(
            "Complaint",
            [None, True, False],
            key="feed_complaint",
            format_func=lambda flag: {
                None: "Any",
                True: "Complaints only",
                False: "Not complaints",
            }[flag],
        )
    with more[1]:
        language = st.text_input(
            "Language",
            key="feed_language",
            max_chars=8,
            placeholder="a code: en, es, fr ...",
            help="en: the mentions the model scored; another code: those skipped as that language.",
        )
    with more[2]:
        author = st.text_input(
            "Author", key="feed_author", max_chars=200, placeholder="a handle, e.g. @bob"
        )
    return data.FeedFilters(
        brand=brand,
        source=source,
        sentiment=sentiment,
        first=first,
        last=last,
        contains=contains.strip() or None,
        complaint=complaint,
        language=language.strip() or None,
        author=author.strip() or None,
    )


# The author's advocacy tier for the mention's brand (neutral authors get no badge).
_TIER_BADGES = {
    "advocate": ":green-badge[:material/favorite: Advocate]",
    "detractor": ":red-badge[:material/thumb_down: Detractor]",
}


def _turn_page(step: int) -> None:
    st.session_state[_FEED_PAGE] = max(0, int(st.session_state.get(_FEED_PAGE, 0)) + step)


def _show_mention(item: data.FeedItem, *, show_brand: bool) -> None:
    with st.container(border=True):
        if item.sentiment in ui.BADGE:
            colour, icon = ui.BADGE[item.sentiment]
            confidence = f" {item.confidence:.0%}" if item.confidence is not None else ""
            badge = f":{colour}-badge[{icon} {ui.LABELS[item.sentiment]}{confidence}]"
        elif item.language is not None:
            badge = f":gray-badge[:material/translate: Not English ({ui.md(item.language)}): not scored]"
        else:
            badge = ":gray-badge[:material/hourglass_empty: Not scored yet]"
        meta = [ui.utc(item.created_at)]
        who = item.author_handle or item.author_name
        if who:
            meta.append(ui.md(f"@{who}" if item.author_handle else who))
        meta.append(ui.md(item.source))
        if show_brand:
            meta.append(ui.md(item.brand))
        url = ui.safe_url(item.url)
        if url:
            meta.append(f"[open ↗]({url})")
        if item.model_version:
            meta.append(ui.md(f"scored by {item.model_version}"))
        kind = item.corrected_kind if item.corrected else item.kind
        if kind == "complaint":
            badge += " :orange-badge[:material/report: Complaint]"
        if item.tier in _TIER_BADGES:
            badge += " " + _TIER_BADGES[item.tier]
        st.caption(f"{badge} &nbsp; " + " · ".join(meta))
        if item.title:
            st.markdown(f"**{ui.md(item.title)}**")
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
        [ui.LABELS[item.corrected_sentiment].lower()]
        if item.corrected_sentiment in ui.LABELS
        else []
    )
    if item.corrected_kind in _KIND_PHRASES:
        what.append(_KIND_PHRASES[item.corrected_kind])
    when = f" · {ui.ago(item.corrected_at)}" if item.corrected_at is not None else ""
    to = f" to {', '.join(what)}" if what else ""
    return f":violet[:material/how_to_reg:] corrected{to} by {ui.md(item.corrected_by or '')}{when}"


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
    st.caption(ui.md(item.text if len(item.text) <= 300 else item.text[:300] + "…"))
    said = f"{ui.LABELS[item.sentiment].lower()}" if item.sentiment in ui.LABELS else "nothing yet"
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
            format_func=lambda name: ui.LABELS[name],
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
    name = str(st.session_state.get(ui.NAME_KEY) or "").strip()
    if name:
        st.caption(f"Recorded as {ui.md(name)} (*Your name* in the sidebar).")
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
        return f"Not saved: the database refused or did not answer ({ui.redact(str(error))})."
    return None


def _linked_mention(mention_id: str) -> None:
    """The one mention a link ``?mention=<id>`` names (from an alert), and a way back to the feed."""
    doc = people.mention(mention_id)
    if doc is None:
        st.warning(
            "The linked mention is not here (erased, or a malformed link).",
            icon=":material/search_off:",
        )
    else:
        _show_mention(data.feed_item(doc), show_brand=True)
        if doc.get("profile_id"):
            st.page_link(
                _PROFILE_PAGE,
                label="The author's profile",
                icon=":material/person:",
                query_params={"profile": str(doc["profile_id"])},
            )
    if st.button("Show the whole feed", icon=":material/forum:", key="feed_unlink"):
        st.query_params.pop("mention", None)
        st.rerun()


def mentions() -> None:
    """The feed: every mention, newest first, filtered, 25 to a page."""
    st.title("Mentions")
    linked = st.query_params.get("mention")
    if linked:
        _linked_mention(linked)
        return
    if not data.brands():
        st.info(ui.EMPTY_MESSAGE, icon=":material/inbox:")
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
    shown_from = page_number * data.FEED_PAGE_SIZE + 1
    shown_to = shown_from + len(page.items) - 1
    if filters.contains or filters.author:
        # No text index: counting the matches of a text search reads the whole window
        # (seconds at a million mentions), while a page stops as soon as it is full.
        st.caption(
            f"Mentions {shown_from:,}–{shown_to:,}, newest first "
            "(text and author searches are paged, not counted)."
        )
    else:
        count = data.feed_count(filters)
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
    ui.pager("feed", page_number, page.has_next, _turn_page)


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
    what = _ACTION_PHRASES.get(step.action, ui.md(step.action))
    value = f" {ui.md(step.value)}" if step.value else ""
    if step.action == "note" and step.value:
        value = f": {ui.md(step.value)}"
    return f"{what}{value} by {ui.md(step.by)} · {ui.ago(step.at)}"


def _show_complaint(item: data.ComplaintItem, *, show_brand: bool) -> None:
    with st.container(border=True):
        meta = [_STATE_BADGES.get(item.state, ui.md(item.state)), ui.utc(item.created_at)]
        meta.append(ui.md(item.source))
        if show_brand:
            meta.append(ui.md(item.brand))
        if item.category:
            meta.append(f"category: {ui.md(readable(item.category))}")
        if item.customer_value is not None or item.customer_tier:
            who = ui.md(item.customer_name or "customer")
            worth = f" {item.customer_value:,.0f}" if item.customer_value is not None else ""
            tier = f" ({ui.md(item.customer_tier)})" if item.customer_tier else ""
            meta.append(f":violet-badge[:material/star: {who}{worth}{tier}]")
        meta.append(f"assigned to {ui.md(item.assignee)}" if item.assignee else "unassigned")
        if item.tags:
            meta.append("tags: " + ", ".join(ui.md(tag) for tag in item.tags))
        url = ui.safe_url(item.url)
        if url:
            meta.append(f"[open ↗]({url})")
        st.caption(" · ".join(meta))
        st.text(item.text)
        if item.reasons:
            st.caption("Why a complaint: " + "; ".join(ui.md(reason) for reason in item.reasons))
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
    name = str(state.get(ui.NAME_KEY) or "").strip()
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
            f"Not done: the database refused or did not answer ({ui.redact(str(error))}).",
        )
        return
    state["complaints_value"] = ""
    state[_QUEUE_RESULT] = (True, f"Done: {_ACTION_PHRASES.get(action, action)}.")


def _action_form(items: list[data.ComplaintItem]) -> None:
    """One compact form for the page: which complaint, which action, its value."""
    labels = {
        item.id: f"{ui.utc(item.created_at)} · {item.source} · "
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
    ui.show_outcome(_QUEUE_RESULT)


def complaints() -> None:
    """Open complaints, valued customers first, with a workflow shared by everyone: assign to resolve."""
    st.title("Complaints queue")
    brands = data.brands()
    if not brands:
        st.info(ui.EMPTY_MESSAGE, icon=":material/inbox:")
        return
    left, middle, right = st.columns(3)
    with left:
        brand = ui.brand_picker(brands, key="complaints_brand", allow_all=True)
    with middle:
        view = st.selectbox(
            "Show",
            data.COMPLAINT_VIEWS,
            key="complaints_view",
            format_func=lambda name: _VIEW_LABELS[str(name)],
        )
    with right:
        order = st.selectbox(
            "Order",
            ["value", "newest"],
            key="complaints_order",
            format_func=lambda name: {
                "value": "Valued customers first, then the longest waiting",
                "newest": "Newest first",
            }[str(name)],
            help="Valued first sorts the open complaints of the last 30 days by the "
            "customer value the CRM gives their author.",
        )
    name = str(st.session_state.get(ui.NAME_KEY) or "").strip()
    if view == "mine" and not name:
        st.warning("Enter your name in the sidebar (*Your name*) to see your complaints.")
        return
    filters = (brand, view, name if view == "mine" else None)
    if st.session_state.get(_QUEUE_FILTERS) != (*filters, order):
        st.session_state[_QUEUE_FILTERS] = (*filters, order)
        st.session_state[_QUEUE_PAGE] = 0
    page_number = int(st.session_state.get(_QUEUE_PAGE, 0))
    page = data.complaints_page(*filters, page_number, order=order)
    if not page.items and page_number > 0:
        page_number = st.session_state[_QUEUE_PAGE] = 0
        page = data.complaints_page(*filters, 0, order=order)
    if not page.items:
        st.info("No open complaints.", icon=":material/task_alt:")
        result = st.session_state.pop(_QUEUE_RESULT, None)
        if result is not None and result[0]:
            st.success(result[1], icon=":material/check:")
        return
    _action_form(page.items)
    shown_from = page_number * data.COMPLAINTS_PAGE_SIZE + 1
    st.caption(
        f"Complaints {shown_from:,}–{shown_from + len(page.items) - 1:,}, "
        f"{'valued customers first' if order == 'value' else 'newest first'}. "
        "Actions are saved at once and seen by everyone."
    )
    for item in page.items:
        _show_complaint(item, show_brand=brand is None)
    ui.pager("complaints", page_number, page.has_next, _turn_queue_page)


# -- Sources ---------------------------------------------------------------------------


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
        "Windows not read: periods lost to an outage or a quota."
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


_ALERT_STATES = {
    "pending": "⏳ pending",
    "sending": "📤 sending",
    "sent": "✅ sent",
    "failed": "❌ failed",
    # Written only by an older Goodwill: delivered inside one of its group messages.
    "grouped": "🧺 sent in a group",
}


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


# -- the app ---------------------------------------------------------------------------

_PROFILE_PAGE = st.Page(
    ui.guarded(profile.profile), title="Profile", icon=":material/person:", url_path="profile"
)


def _follow_link(current: st.Page, pages: list[st.Page]) -> None:
    """Alerts link to the app's root: ``?mention=``, ``?profile=``, ``?brand=``; open their page."""
    if current.url_path not in ("", "overview"):
        return
    params = st.query_params
    by_path = {page.url_path: page for page in pages}
    if params.get("mention"):
        st.switch_page(by_path["mentions"], query_params={"mention": params["mention"]})
    if params.get("profile"):
        st.switch_page(_PROFILE_PAGE, query_params={"profile": params["profile"]})
    brand = params.get("brand")
    if brand and st.session_state.get("goodwill_linked_brand") != brand:
        # Once per link: the brand picker is the person's to change afterwards.
        st.session_state["goodwill_linked_brand"] = brand
        ui.select_brand(brand)


def main() -> None:
    """Run one pass of the app: settings, login, then the chosen page."""
    st.set_page_config(page_title="Goodwill", page_icon=":material/forum:", layout="wide")
    try:
        access = login.gate()
    except ConfigError as error:
        st.error(f"**Goodwill's settings are invalid.** {error}", icon=":material/error:")
        return
    if access is None:
        return
    pages = [
        st.Page(
            ui.guarded(overview.overview),
            title="Overview",
            icon=":material/insights:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            ui.guarded(mentions), title="Mentions", icon=":material/forum:", url_path="mentions"
        ),
        st.Page(
            ui.guarded(complaints),
            title="Complaints queue",
            icon=":material/report:",
            url_path="complaints",
        ),
        st.Page(
            ui.guarded(advocates.advocates),
            title="Advocates and detractors",
            icon=":material/groups:",
            url_path="advocates",
        ),
        _PROFILE_PAGE,
        st.Page(
            ui.guarded(sources),
            title="Sources and alerts",
            icon=":material/sensors:",
            url_path="sources",
        ),
    ]
    current = st.navigation(pages)
    _follow_link(current, pages)
    with st.sidebar:
        st.caption("Goodwill · data refreshes every 30 s")
        st.session_state.setdefault(ui.NAME_KEY, access.user or ui.DEFAULT_NAME)
        st.text_input(
            "Your name",
            key=ui.NAME_KEY,
            max_chars=100,
            help="Recorded with each label you correct on the Mentions page.",
        )
        if st.button("Refresh now", icon=":material/refresh:"):
            data.clear_caches()
        login.sidebar(access)
    current.run()


if __name__ == "__main__":
    main()
