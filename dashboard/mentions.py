"""The Mentions page: the feed, filtered and paged, and the corrections people make to it.

Every mention newest first, 25 to a page, filtered by brand, source, sentiment, date,
text, complaint, language and author. Each scored mention offers *Correct*: one
dialog for the page records a sentiment, a kind and a note under *Your name* in the
sidebar. A link ``?mention=<id>`` (from an alert) shows that one mention instead.
"""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from dashboard import data, people, profile, ratings, ui
from goodwill.errors import StoreError
from store import CORRECTION_KINDS

__all__ = ["mentions"]

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
# The author's advocacy tier for the mention's brand (neutral authors get no badge).
_TIER_BADGES = {
    "advocate": ":green-badge[:material/favorite: Advocate]",
    "detractor": ":red-badge[:material/thumb_down: Detractor]",
}


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


def _show_mention(item: data.FeedItem, *, show_brand: bool) -> None:
    with st.container(border=True):
        if item.sentiment in ui.BADGE:
            colour, icon = ui.BADGE[item.sentiment]
            confidence = f" {item.confidence:.0%}" if item.confidence is not None else ""
            badge = f":{colour}-badge[{icon} {ui.LABELS[item.sentiment]}{confidence}]"
        elif item.language is not None:
            # Counted in volume, never in a sentiment (the model does not read the language).
            language = ui.md(item.language)
            badge = f":gray-badge[:material/translate: Not scored (language) · Not English ({language})]"
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
        stars = ratings.stars(item.rating)
        if stars is not None:
            badge += f" :orange[{stars}]"
        # Stars beside the verdict, never over it: a strong disagreement is marked for a person.
        verdict = item.corrected_sentiment or item.sentiment
        clash = ratings.clash(item.rating, verdict, corrected=item.corrected_sentiment is not None)
        if clash is not None:
            badge += f" :violet-badge[:material/star_half: {clash}]"
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
    name = ui.who()
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


def _profile_page() -> st.Page:
    """The app's Profile page as a link's target: Streamlit knows a page by its ``url_path``.

    Made for the link rather than taken from ``app.py``'s navigation, whose page objects
    are made afresh on each run (``st.navigation`` marks the one it runs).
    """
    return st.Page(profile.profile, url_path="profile")


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
                _profile_page(),
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
    ui.pager("feed", page_number, page.has_next, ui.turner(_FEED_PAGE))
