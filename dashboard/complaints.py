"""The Complaints queue page: open complaints and the workflow everyone shares on them.

Open complaints of a brand (or all), valued customers first or newest first, 25 to a
page, in views (all open, unassigned, mine, overdue), and for one brand by complaint
theme. One form for the page assigns, acknowledges, resolves, tags or notes a complaint
under the signed-in account (or, without one, *Your name* in the sidebar: ``ui.who``);
another assigns every complaint listed under the filters at once. Each action is saved
at once and shown in the complaint's history.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data, theme_data, ui
from goodwill.errors import StoreError
from scoring.categories import readable

__all__ = ["complaints"]

_QUEUE_PAGE = "complaints_page"
_QUEUE_FILTERS = "complaints_filters"
_QUEUE_RESULT = "complaints_result"  # (ok, message) of the last action, shown once
_BULK_RESULT = "complaints_bulk_result"
_LISTED = "complaints_listed"  # the filters of the list shown: (brand, view, whose, order, theme)
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


def _history_line(step: data.HandlingStep) -> str:
    """Reads like ``assigned to Bo by Ana · 5 min ago`` (names and values made inert)."""
    what = _ACTION_PHRASES.get(step.action, ui.md(step.action))
    value = f" {ui.md(step.value)}" if step.value else ""
    if step.action == "note" and step.value:
        value = f": {ui.md(step.value)}"
    return f"{what}{value} by {ui.md(step.by)} · {ui.ago(step.at)}"


def _show_complaint(item: data.ComplaintItem, *, show_brand: bool) -> None:
    with st.container(border=True):
        meta = [ui.STATE_BADGES.get(item.state, ui.md(item.state)), ui.utc(item.created_at)]
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
    name = ui.who()
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


def _assign_listed() -> None:
    """The bulk form's submit: assign every complaint listed under the filters at once."""
    state = st.session_state
    assignee = str(state.get("complaints_bulk_to") or "").strip()
    name = ui.who()
    filters = state.get(_LISTED)
    if not name:
        state[_BULK_RESULT] = (False, "Not done: enter your name in the sidebar (*Your name*).")
        return
    if not assignee or filters is None:
        state[_BULK_RESULT] = (False, "Not done: name who the complaints go to.")
        return
    try:
        changed = data.assign_listed(filters, assignee, name)
    except ValueError as error:
        state[_BULK_RESULT] = (False, f"Not done: {error}")
        return
    except StoreError as error:
        state[_BULK_RESULT] = (
            False,
            f"Not done: the database refused or did not answer ({ui.redact(str(error))}).",
        )
        return
    state["complaints_bulk_to"] = ""
    state[_BULK_RESULT] = (
        True,
        f"Done: {changed:,} complaint{'s' if changed != 1 else ''} assigned to {ui.md(assignee)}.",
    )


def _bulk_form() -> None:
    """Assign all the complaints the filters list (the first 500 in the list's order)."""
    with st.expander("Assign all listed complaints"):
        with st.form("complaints_bulk_form"):
            st.text_input("Assign to", max_chars=100, key="complaints_bulk_to")
            st.form_submit_button(
                "Assign all listed", key="complaints_bulk_apply", on_click=_assign_listed
            )
        st.caption(
            f"Every open complaint under the filters above (the first "
            f"{data.BULK_ASSIGN_CAP:,} in the list's order), recorded under your name; "
            "those resolved or already assigned to that person meanwhile are left as they are."
        )
    ui.show_outcome(_BULK_RESULT)


def _theme_picker(brand: str | None) -> str | None:
    """The brand's complaint themes as a filter (none without a brand, or before any theme)."""
    names = theme_data.theme_names(brand) if brand is not None else {}
    if not names:
        st.session_state.pop("complaints_theme", None)
        return None
    options: list[str | None] = [None, *names]
    if st.session_state.get("complaints_theme") not in options:  # another brand's theme
        st.session_state.pop("complaints_theme", None)
    theme = st.selectbox(
        "Theme",
        options,
        key="complaints_theme",
        format_func=lambda theme_id: (
            "All themes"
            if theme_id is None
            else f"{names.get(str(theme_id), theme_id)} ({theme_id})"
        ),
        help="The complaint themes the scorer found for this brand (see Themes).",
    )
    return None if theme is None else str(theme)


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
    theme = _theme_picker(brand)
    name = ui.who()
    if view == "mine" and not name:
        st.warning("Enter your name in the sidebar (*Your name*) to see your complaints.")
        return
    filters = (brand, view, name if view == "mine" else None)
    if st.session_state.get(_QUEUE_FILTERS) != (*filters, order, theme):
        st.session_state[_QUEUE_FILTERS] = (*filters, order, theme)
        st.session_state[_QUEUE_PAGE] = 0
    st.session_state[_LISTED] = (*filters, order, theme)
    page_number = int(st.session_state.get(_QUEUE_PAGE, 0))
    page = data.complaints_page(*filters, page_number, order=order, theme_id=theme)
    if not page.items and page_number > 0:
        page_number = st.session_state[_QUEUE_PAGE] = 0
        page = data.complaints_page(*filters, 0, order=order, theme_id=theme)
    if not page.items:
        st.info("No open complaints.", icon=":material/task_alt:")
        for key in (_QUEUE_RESULT, _BULK_RESULT):
            result = st.session_state.pop(key, None)
            if result is not None and result[0]:
                st.success(result[1], icon=":material/check:")
        return
    _action_form(page.items)
    _bulk_form()
    shown_from = page_number * data.COMPLAINTS_PAGE_SIZE + 1
    st.caption(
        f"Complaints {shown_from:,}–{shown_from + len(page.items) - 1:,}, "
        f"{'valued customers first' if order == 'value' else 'newest first'}. "
        "Actions are saved at once and seen by everyone."
    )
    for item in page.items:
        _show_complaint(item, show_brand=brand is None)
    ui.pager("complaints", page_number, page.has_next, ui.turner(_QUEUE_PAGE))
