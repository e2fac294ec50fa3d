"""The Profile page: one person's whole story, and what staff may do about it.

A person is named by a reference typed in (profile id, email, ``source:handle``,
identity key: always a literal value) or by a link ``?profile=<id>``. The page shows
their identities, CRM fields, advocacy per brand with the score over time, every
mention newest first (paged) with how each complaint was handled; and offers merge,
split, a data export (JSON) and erasure (confirmed by typing the profile id). Each
action is recorded under the signed-in account, or without one under *Your name* in
the sidebar (``ui.who``). Names and references in messages are shown literally: they
come from collected posts and from links.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import people, ratings, ui
from goodwill.errors import GoodwillError
from scoring.categories import readable

__all__ = ["profile"]

_REF = "profile_ref"
_PAGE = "profile_mentions_page"
_RESULT = "profile_result"  # (ok, message) of the last action, shown once
_MERGE_WITH = "profile_merge_with"  # the other profile found for a merge, waiting for confirmation
Document = dict[str, Any]


def _result(ok: bool, message: str) -> None:
    st.session_state[_RESULT] = (ok, message)


def _refused(error: Exception) -> str:
    """A refusal's message, credentials masked, made inert for Markdown (it may quote names)."""
    return ui.md(ui.redact(str(error)))


def _reference() -> str | None:
    """The reference to show: the link's ``?profile=`` first, else what was typed."""
    if st.session_state.pop("profile_forget", False):
        st.session_state[_REF] = ""  # the person shown was erased
    linked = st.query_params.get("profile")
    if linked and st.session_state.get("profile_linked") != linked:
        # A new link: it wins over what was typed before, once.
        st.session_state["profile_linked"] = linked
        st.session_state[_REF] = linked
    st.text_input(
        "Person",
        key=_REF,
        max_chars=300,
        placeholder="profile id (p_…), email, source:handle (reddit:bob) or identity key",
        help="Taken literally; a link ?profile=<id> opens a profile directly.",
    )
    reference = str(st.session_state.get(_REF) or "").strip()
    return reference or None


def profile() -> None:
    """One person: identities, CRM fields, scores over time, mentions, complaints; actions."""
    st.title("Profile")
    ui.show_outcome(_RESULT)
    reference = _reference()
    if reference is None:
        st.info(
            "Name a person above, or open one from the *Advocates and detractors* page.",
            icon=":material/person_search:",
        )
        return
    try:
        doc = people.profile(reference)
    except ValueError as error:
        # The reference may come from a link (?profile=), the names from collected posts.
        st.warning(_refused(error), icon=":material/person_off:")
        return
    pid = str(doc["_id"])
    if st.query_params.get("profile") != pid:
        st.query_params["profile"] = pid  # the address bar names the person shown: a link
    if st.session_state.get("profile_shown") != pid:
        st.session_state["profile_shown"] = pid
        st.session_state[_PAGE] = 0
        st.session_state.pop(_MERGE_WITH, None)
    _header(doc)
    _identities(doc)
    _crm(doc)
    _advocacy(pid)
    _mentions(pid)
    _actions(doc)


def _header(doc: Document) -> None:
    st.header(ui.md(people.display_name(doc)))
    counts = doc.get("counts") or {}
    facts = [f"`{doc['_id']}`", f"origin: {ui.md(str(doc.get('origin') or 'collected'))}"]
    if doc.get("first_seen"):
        facts.append(f"first mention {ui.utc(doc['first_seen'])}")
    if doc.get("last_seen"):
        facts.append(f"last {ui.utc(doc['last_seen'])}")
    st.caption(" · ".join(facts))
    if doc.get("do_not_contact"):
        st.error(
            "**Do not contact.** This person asked not to be contacted: never in an export, "
            "never reached out to.",
            icon=":material/block:",
        )
    columns = st.columns(5)
    columns[0].metric("Mentions", f"{int(counts.get('mentions') or 0):,}")
    columns[1].metric("Positive", f"{int(counts.get('positive') or 0):,}")
    columns[2].metric("Negative", f"{int(counts.get('negative') or 0):,}")
    columns[3].metric("Complaints", f"{int(counts.get('complaints') or 0):,}")
    columns[4].metric("Reach", f"{int(doc.get('reach') or 0):,}")


def _identities(doc: Document) -> None:
    st.subheader("Identities")
    identities = doc.get("identities") or []
    if not identities:
        st.caption("No accounts known (a CRM record not yet seen on any source).")
        return
    for identity in identities:
        handle = identity.get("handle")
        who = f"@{str(handle).lstrip('@')}" if handle else str(identity.get("id") or "")
        line = f"**{ui.md(str(identity.get('source') or ''))}** {ui.md(who)}"
        if identity.get("display_name"):
            line += f" ({ui.md(str(identity['display_name']))})"
        url = ui.safe_url(identity.get("url"))
        if url:
            line += f" · [open ↗]({url})"
        if identity.get("followers") is not None:
            line += f" · {int(identity['followers']):,} followers"
        if identity.get("last_seen"):
            line += f" · last seen {ui.utc(identity['last_seen'])}"
        st.markdown("- " + line)


def _crm(doc: Document) -> None:
    st.subheader("Customer record")
    emails = [str(email) for email in doc.get("emails") or []]
    facts = {
        "Customer value": "" if doc.get("value") is None else f"{float(doc['value']):,.2f}",
        "Customer tier": str(doc.get("tier") or ""),
        "CRM": " ".join(str(doc.get(k) or "") for k in ("crm_system", "crm_id")).strip(),
        "Emails": ", ".join(emails) + (" — DO NOT CONTACT" if doc.get("do_not_contact") else ""),
        "Tags": ", ".join(str(tag) for tag in doc.get("tags") or []),
    }
    facts.update({str(k): str(v) for k, v in (doc.get("crm_fields") or {}).items()})
    shown = {key: value for key, value in facts.items() if value}
    if not shown:
        st.caption("No CRM record (import one with `goodwill profiles import`).")
        return
    st.table(pd.DataFrame({"Field": list(shown), "Value": list(shown.values())}))


def _advocacy(pid: str) -> None:
    st.subheader("Advocacy")
    scores = people.profile_advocacy(pid)
    if not scores:
        st.caption(
            "No score yet — scores appear once the scorer has scored this person's mentions."
        )
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Brand": doc.get("brand"),
                    "Score": round(float(doc.get("score") or 0.0), 1),
                    "Tier": doc.get("tier"),
                    "Mentions": doc.get("mentions"),
                    "Positive": doc.get("positive"),
                    "Negative": doc.get("negative"),
                    "Complaints": doc.get("complaints"),
                    "Last mention": doc.get("last_mention_at"),
                }
                for doc in scores
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "Last mention": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm z")
        },
    )
    brands = [str(doc["brand"]) for doc in scores]
    brand = (
        brands[0]
        if len(brands) == 1
        else st.selectbox("Score over time for", brands, key="profile_history_brand")
    )
    history = people.score_history(pid, str(brand))
    if not history:
        return
    frame = pd.DataFrame(history, columns=["day", "score"])
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title=None),
            y=alt.Y("score:Q", title="Score", scale=alt.Scale(domain=[-100, 100])),
            tooltip=[alt.Tooltip("day:T", format="%Y-%m-%d"), alt.Tooltip("score:Q", format=".1f")],
        )
        .properties(height=220)
    )
    st.altair_chart(chart, width="stretch")
    st.caption(f"{ui.md(str(brand))}: the score at the end of each day with a mention.")


def _mentions(pid: str) -> None:
    st.subheader("Mentions")
    page_number = int(st.session_state.get(_PAGE, 0))
    docs, has_next = people.profile_mentions(pid, page_number)
    if not docs and page_number > 0:
        page_number = st.session_state[_PAGE] = 0
        docs, has_next = people.profile_mentions(pid, 0)
    if not docs:
        st.caption("No mentions (yet) by this person.")
        return
    first = page_number * people.MENTIONS_PAGE_SIZE + 1
    st.caption(f"Mentions {first:,}–{first + len(docs) - 1:,}, newest first.")
    for doc in docs:
        _mention(doc)
    ui.pager("profile", page_number, has_next, ui.turner(_PAGE), labels=("← Newer", "Older →"))


def _mention(doc: Document) -> None:
    with st.container(border=True):
        sentiment = (doc.get("sentiment") or {}) if doc.get("score_state") == "scored" else {}
        label = str(sentiment.get("label") or "")
        meta = []
        if label in ui.BADGE:
            colour, icon = ui.BADGE[label]
            meta.append(f":{colour}-badge[{icon} {ui.LABELS[label]}]")
        stars = ratings.stars(doc.get("rating"))
        if stars is not None:
            meta.append(f":orange[{stars}]")
        corrected = ((doc.get("correction") or {}).get("sentiment")) or None
        clash = ratings.clash(
            doc.get("rating"), corrected or label or None, corrected=corrected is not None
        )
        if clash is not None:
            meta.append(f":violet-badge[:material/star_half: {clash}]")
        complaint = doc.get("complaint") or {}
        handling = doc.get("handling") or {}
        if complaint.get("is_complaint"):
            state = str(handling.get("state") or "open")
            meta.append(ui.STATE_BADGES.get(state, ui.md(state)))
        created = doc.get("created_at")
        if isinstance(created, datetime):
            meta.append(ui.utc(created))
        meta.append(ui.md(str(doc.get("brand") or "")))
        meta.append(ui.md(str(doc.get("source") or "")))
        url = ui.safe_url(doc.get("url"))
        if url:
            meta.append(f"[open ↗]({url})")
        meta.append(f"[in the feed](mentions?mention={doc['_id']})")
        st.caption(" · ".join(meta))
        st.text(str(doc.get("text") or ""))
        if complaint.get("is_complaint"):
            _handling(complaint, handling)


def _handling(complaint: Document, handling: Document) -> None:
    facts = []
    if complaint.get("category"):
        facts.append(f"category: {ui.md(readable(str(complaint['category'])))}")
    assignee = handling.get("assignee")
    facts.append(f"assigned to {ui.md(str(assignee))}" if assignee else "unassigned")
    if handling.get("tags"):
        facts.append("tags: " + ", ".join(ui.md(str(tag)) for tag in handling["tags"]))
    st.caption("Complaint · " + " · ".join(facts))
    history = handling.get("history") or []
    if history:
        with st.expander(f"How it was handled ({len(history)})"):
            for step in history:
                value = f" {ui.md(str(step['value']))}" if step.get("value") else ""
                when = f" · {ui.utc(step['at'])}" if isinstance(step.get("at"), datetime) else ""
                st.markdown(
                    f"- {ui.md(str(step.get('action') or ''))}{value} "
                    f"by {ui.md(str(step.get('by') or ''))}{when}"
                )


# -- actions -----------------------------------------------------------------------------


def _actions(doc: Document) -> None:
    pid = str(doc["_id"])
    st.subheader("Actions")
    who = ui.who()
    if who:
        where = (
            "the account you are signed in with" if ui.signed_in() else "*Your name* in the sidebar"
        )
        st.caption(f"Recorded as {ui.md(who)} ({where}).")
    else:
        st.warning("Enter your name in the sidebar (*Your name*) to merge, split or erase.")
    merge_tab, split_tab, export_tab, erase_tab = st.tabs(
        ["Merge", "Split a merge", "Export data", "Erase"]
    )
    with merge_tab:
        _merge(pid, who)
    with split_tab:
        _split(pid, who)
    with export_tab:
        st.caption("Everything Goodwill holds about this person (a data subject access request).")
        st.download_button(
            "Download JSON",
            data=lambda: people.export_data(pid),
            file_name=f"{pid}.json",
            mime="application/json",
            icon=":material/download:",
            key="profile_export",
            on_click="ignore",
        )
    with erase_tab:
        _erase(pid, who)


def _find_other(pid: str) -> None:
    reference = str(st.session_state.get("profile_merge_ref") or "").strip()
    st.session_state.pop(_MERGE_WITH, None)
    if not reference:
        _result(False, "Not found: name the other profile first.")
        return
    try:
        other = people.profile(reference)
    except ValueError as error:
        _result(False, _refused(error))
        return
    if str(other["_id"]) == pid:
        _result(False, "That is this profile; name another one.")
        return
    st.session_state[_MERGE_WITH] = {"id": str(other["_id"]), "name": people.display_name(other)}


def _do_merge(pid: str) -> None:
    other = st.session_state.pop(_MERGE_WITH, None)
    who = ui.who()
    if other is None:
        return
    if not who:
        _result(False, "Not merged: enter your name in the sidebar (*Your name*) first.")
        return
    try:
        people.merge(pid, other["id"], who)
    except (ValueError, GoodwillError) as error:
        _result(False, f"Not merged: {_refused(error)}")
        return
    st.session_state["profile_merge_ref"] = ""
    _result(True, f"Merged {ui.md(other['name'])} ({ui.md(other['id'])}) into this profile.")


def _merge(pid: str, who: str) -> None:
    st.caption("The other profile's identities, emails and mentions move into this one.")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.text_input(
        "Other profile",
        key="profile_merge_ref",
        max_chars=300,
        placeholder="profile id, email, source:handle",
    )
    right.button("Find", key="profile_merge_find", on_click=_find_other, args=(pid,))
    other = st.session_state.get(_MERGE_WITH)
    if other is None:
        return
    st.warning(
        f"Merge **{ui.md(other['name'])}** (`{other['id']}`) into this profile? "
        "A wrong merge can be split again.",
        icon=":material/merge:",
    )
    confirm, cancel = st.columns(2)
    confirm.button(
        "Confirm merge",
        key="profile_merge_confirm",
        type="primary",
        disabled=not who,
        on_click=_do_merge,
        args=(pid,),
    )
    cancel.button(
        "Cancel", key="profile_merge_cancel", on_click=lambda: st.session_state.pop(_MERGE_WITH)
    )


def _do_split(merge_id: str) -> None:
    who = ui.who()
    if not who:
        _result(False, "Not split: enter your name in the sidebar (*Your name*) first.")
        return
    try:
        record = people.split(merge_id, who)
    except (ValueError, GoodwillError) as error:
        _result(False, f"Not split: {_refused(error)}")
        return
    _result(True, f"Split: {record.get('absorbed')} is its own profile again.")


def _split(pid: str, who: str) -> None:
    records = [r for r in people.merges(pid) if r.get("split_at") is None]
    if not records:
        st.caption("This profile has no merge to split.")
        return
    for record in records:
        merge_id = str(record["_id"])
        how = "automatically" if record.get("automatic") else f"by {ui.md(str(record.get('by')))}"
        at = record.get("at")
        when = f" on {ui.utc(at)}" if isinstance(at, datetime) else ""
        reason = f" ({ui.md(str(record['reason']))})" if record.get("reason") else ""
        left, right = st.columns([3, 1], vertical_alignment="center")
        left.markdown(
            f"`{record.get('absorbed')}` merged into `{record.get('into')}` {how}{when}{reason}"
        )
        right.button(
            "Split",
            key=f"profile_split_{merge_id}",
            disabled=not who,
            on_click=_do_split,
            args=(merge_id,),
        )


def _erase(pid: str, who: str) -> None:
    st.warning(
        "Erasure removes this profile, its scores and merges for good, and strips the author "
        "(and, unless the settings keep them, the text) from their mentions. It cannot be undone; "
        "the person is never rebuilt from new mentions.",
        icon=":material/delete_forever:",
    )
    with st.form("profile_erase_form"):
        typed = st.text_input(f"Type the profile id ({pid}) to confirm", max_chars=100)
        erased = st.form_submit_button("Erase this person", type="primary", disabled=not who)
    if not erased:
        return
    if typed.strip() != pid:
        st.error("Not erased: the id typed does not match this profile.", icon=":material/error:")
        return
    try:
        report = people.erase(pid, who)
    except (ValueError, GoodwillError) as error:
        st.error(f"Not erased: {_refused(error)}", icon=":material/error:")
        return
    st.session_state["profile_forget"] = True
    st.session_state.pop("profile_shown", None)
    st.query_params.pop("profile", None)
    _result(
        True,
        f"Erased {pid}: {report.mentions:,} mentions stripped of their author"
        + ("" if report.kept_text else " and text")
        + ".",
    )
    st.rerun()
