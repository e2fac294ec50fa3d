"""The alerts of the built-in ``dashboard`` destination, as a readable list.

A rule with ``destination = "dashboard"`` needs no Slack: the alerter keeps each of its
alerts in the outbox with the message Slack would have got (``message``: Block Kit), and
this list shows that message, newest first: the alert's title, its rule, brand and time,
what Slack shows (who, the post, the figures), and links to the post and to the mention,
profile or brand in Goodwill. Slack's ``mrkdwn`` becomes Streamlit Markdown here, with
every piece of text from a post made inert (``ui.md``): only Goodwill's own bold, links
and quotes are formatting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import streamlit as st

from config.alerting import LOCAL_DESTINATION
from dashboard import data, mentions, overview, profile, ui

__all__ = ["KeptAlert", "kept_alerts", "rule_counts", "show_kept_alerts", "slack_markdown"]

_ALL = "All rules"
_LIMIT = 50
# Goodwill's own mrkdwn: <url|label> links and *bold*; anything else is text.
_TOKEN = re.compile(r"<(?P<url>[^|>\s]+)\|(?P<label>[^>]*)>|\*(?P<bold>[^*\n]+)\*")


@dataclass(frozen=True)
class KeptAlert:
    """One alert of the dashboard destination: its facts and the message it was kept with."""

    id: str
    rule: str
    brand: str
    created_at: datetime | None
    state: str
    summary: str
    message: dict[str, Any] | None
    post_url: str | None
    link: tuple[str, str, str] | None  # (page url_path, query parameter, value) in Goodwill


def _in_goodwill(payload: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """Where in Goodwill the alert points: its ``dashboard_url``'s ?mention=, ?profile= or ?brand=."""
    query = parse_qs(urlsplit(str(payload.get("dashboard_url") or "")).query)
    for parameter, page in (("mention", "mentions"), ("profile", "profile"), ("brand", "overview")):
        if query.get(parameter):
            return page, parameter, query[parameter][0]
    return None


def _kept(doc: Mapping[str, Any]) -> KeptAlert:
    payload = doc.get("payload") or {}
    message = doc.get("message")
    return KeptAlert(
        id=str(doc.get("_id")),
        rule=str(doc.get("rule", "")),
        brand=str(doc.get("brand") or ""),
        created_at=doc.get("created_at"),
        state=str(doc.get("state", "")),
        summary=str(payload.get("summary") or payload.get("kind") or "alert"),
        message=dict(message) if isinstance(message, Mapping) else None,
        post_url=ui.safe_url(str(payload.get("url") or "")),
        link=_in_goodwill(payload),
    )


@st.cache_data(ttl=15, show_spinner=False)
def kept_alerts(rule: str | None = None, limit: int = _LIMIT) -> list[KeptAlert]:
    """The latest alerts of the dashboard destination (of one rule, or all), newest first."""
    outbox = data.backend().store.outbox
    docs = data.run(outbox.recent(limit=limit, rule=rule, destination=LOCAL_DESTINATION))
    return [_kept(doc) for doc in docs]


@st.cache_data(ttl=15, show_spinner=False)
def rule_counts() -> dict[str, int]:
    """How many alerts each rule raised to the dashboard destination."""
    return data.run(data.backend().store.outbox.rule_counts(LOCAL_DESTINATION))


# -- Slack's mrkdwn as Streamlit Markdown -------------------------------------------------


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _inert(text: str) -> str:
    """``ui.md`` keeping one space at either end (it sits between formatted pieces)."""
    core = ui.md(_unescape(text))
    if not core:
        return " " if text[:1].isspace() else ""
    return (" " if text[:1].isspace() else "") + core + (" " if text[-1:].isspace() else "")


def _line(text: str) -> str:
    out, position = [], 0
    for token in _TOKEN.finditer(text):
        out.append(_inert(text[position : token.start()]))
        if token.group("bold") is not None:
            out.append(f"**{ui.md(_unescape(token.group('bold')))}**")
        else:
            label = ui.md(_unescape(token.group("label"))) or "link"
            url = ui.safe_url(_unescape(token.group("url")))
            out.append(f"[{label}]({url})" if url else label)
        position = token.end()
    out.append(_inert(text[position:]))
    return "".join(out).strip()


def slack_markdown(mrkdwn: str) -> str:
    """Goodwill's Slack ``mrkdwn`` as Streamlit Markdown: bold, links, quotes and bullets kept,
    every other character inert (a post's own ``*``, ``[...](...)`` or ``#`` shows as typed)."""
    lines: list[str] = []
    for raw in mrkdwn.split("\n"):
        if raw.startswith("> "):
            lines.append("> " + _line(raw[2:]))
        elif raw.startswith("• "):
            lines.append("- " + _line(raw[2:]))
        elif raw.startswith("_") and raw.endswith("_") and len(raw) > 2:
            lines.append(f"*{_line(raw[1:-1])}*")
        else:
            lines.append(_line(raw))
    joined = ""
    for index, line in enumerate(lines):
        if index:
            previous = lines[index - 1]
            # A quote or a list ends with its line; other lines break within the paragraph.
            quote_or_list = previous.startswith(("> ", "- ")) or line.startswith(("> ", "- "))
            joined += "\n\n" if quote_or_list else "  \n"
        joined += line
    return joined


def _text_of(obj: Any) -> str:
    if not isinstance(obj, Mapping):
        return ""
    text = str(obj.get("text") or "")
    return slack_markdown(text) if obj.get("type") == "mrkdwn" else ui.md(text)


# -- the list ------------------------------------------------------------------------------


def _page(path: str) -> st.Page:
    """A page of the app as a link's target: Streamlit knows a page by its ``url_path``
    (as ``mentions._profile_page``; ``app.py`` makes its page objects afresh each run)."""
    target = {"mentions": mentions.mentions, "profile": profile.profile}.get(
        path, overview.overview
    )
    return st.Page(target, url_path=path)


_LINK_LABELS = {
    "mentions": "Open the mention",
    "profile": "Open the profile",
    "overview": "Open the brand",
}


def _blocks(message: Mapping[str, Any]) -> None:
    """The message's blocks, as Slack lays them out (its buttons are the links below)."""
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind == "section":
            fields = block.get("fields") or []
            if fields:
                for column, field in zip(st.columns(len(fields)), fields, strict=True):
                    column.markdown(_text_of(field))
            if block.get("text"):
                st.markdown(_text_of(block["text"]))
        elif kind == "context":
            st.caption(" · ".join(_text_of(element) for element in block.get("elements") or []))


def _card(alert: KeptAlert) -> None:
    with st.container(border=True):
        blocks = (alert.message or {}).get("blocks") or []
        header = next((b for b in blocks if b.get("type") == "header"), None)
        title = (header or {}).get("text", {}).get("text") if header else None
        st.markdown(f"**{ui.md(str(title or alert.summary))}**")
        when = (
            f"{ui.utc(alert.created_at)} ({ui.ago(alert.created_at)})" if alert.created_at else ""
        )
        st.caption(" · ".join(ui.md(part) for part in (alert.rule, alert.brand, when) if part))
        if alert.message is None:
            st.markdown(ui.md(alert.summary))
        else:
            _blocks(alert.message)
        if alert.link is None and alert.post_url is None:
            return
        inside, outside = st.columns(2)
        if alert.link is not None:
            path, parameter, value = alert.link
            inside.page_link(
                _page(path),
                label=_LINK_LABELS[path],
                icon=":material/open_in_new:",
                query_params={parameter: value},
            )
        if alert.post_url:
            outside.link_button("Open the post", alert.post_url, icon=":material/link:")


def show_kept_alerts() -> None:
    """The alerts of the dashboard destination, newest first, by rule; nothing if none."""
    counts = rule_counts()
    if not counts:
        return
    st.markdown(
        f"**On the dashboard** ({sum(counts.values()):,}): alerts of rules with "
        f'`destination = "{LOCAL_DESTINATION}"`, as Slack would show them.'
    )
    options = [_ALL, *sorted(counts)]
    chosen = st.selectbox(
        "Rule",
        options,
        format_func=lambda rule: rule if rule == _ALL else f"{rule} ({counts[rule]:,})",
        key="kept_alerts_rule",
    )
    alerts = kept_alerts(None if chosen == _ALL else chosen)
    with st.container(height=640):
        for alert in alerts:
            _card(alert)
    st.caption(f"The latest {len(alerts)} of them, newest first.")
