"""Slack messages of alerts: Block Kit built with slack-sdk, checked against Slack's limits.

An alert's payload (in the outbox) holds the facts; ``render`` turns it into the JSON
posted to Slack (``text`` for notifications, ``blocks`` for the message), cutting texts to
Slack's documented limits, and ``validate_message`` checks a message against those limits
(tests check every message with it; the deliverer checks before sending). ``render_group``
lists many alerts in one message without cutting any of them out; ``fitting_group`` says how
many from the head of a queue one message can hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from scoring.categories import readable

__all__ = ["LIMITS", "fitting_group", "render", "render_group", "truncate", "validate_message"]

Message = dict[str, Any]

# Slack's documented limits (Block Kit reference: blocks, elements, composition objects;
# chat.postMessage): a message holds at most 50 blocks, ...
LIMITS = {
    "blocks": 50,
    "message_text": 40_000,  # chat.postMessage truncates text beyond this
    "block_id": 255,
    "header_text": 150,
    "section_text": 3000,
    "section_fields": 10,
    "field_text": 2000,
    "context_elements": 10,
    "context_text": 3000,
    "actions_elements": 25,
    "button_text": 75,
    "button_url": 3000,
    "action_id": 255,
    "button_value": 2000,
}
_OUR_TEXT = 3000  # our fallback text: notifications show a line, not a page
_POST_TEXT = 1200  # a quoted post: long enough to read, short enough to scan
_GROUP_LINES = 10  # items per section of a group message
_GROUP_LINE = 280


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut."""
    text = text or ""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def _escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _quote(text: str, limit: int = _POST_TEXT) -> str:
    cut = truncate(" ".join((text or "").split()), limit)
    return "> " + _escape(cut) if cut else "_(no text)_"


def _link(url: str | None, label: str) -> str:
    if not url or not url.startswith(("http://", "https://")) or len(url) > 1000:
        return ""
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{_escape(label)}>"


def _money(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else "—"


def _who_fields(who: Mapping[str, Any]) -> list[str]:
    name = who.get("name") or who.get("handle") or "unknown author"
    profile = f"*Who*\n{_escape(truncate(str(name), 150))}"
    if who.get("handle") and who.get("handle") != name:
        profile += f" (@{_escape(truncate(str(who['handle']), 60))})"
    reach = who.get("reach")
    return [
        profile,
        f"*Customer*\n{_escape(str(who.get('customer_tier') or '—'))}, value {_money(who.get('value'))}",
        f"*Advocacy*\n{_escape(str(who.get('advocacy_tier') or '—'))}"
        + (
            f" ({who['advocacy_score']:+.0f})"
            if isinstance(who.get("advocacy_score"), int | float)
            else ""
        ),
        f"*Reach*\n{reach:,} followers" if isinstance(reach, int) else "*Reach*\n—",
    ]


def _buttons(payload: Mapping[str, Any]) -> ActionsBlock | None:
    elements = []
    if payload.get("url", "").startswith(("http://", "https://")):
        elements.append(
            ButtonElement(text="Open the post", url=payload["url"][:3000], action_id="open_post")
        )
    if payload.get("dashboard_url"):
        elements.append(
            ButtonElement(
                text="Open in Goodwill",
                url=payload["dashboard_url"][:3000],
                action_id="open_goodwill",
            )
        )
    return ActionsBlock(elements=elements) if elements else None


def _complaint(payload: Mapping[str, Any]) -> list[Block]:
    sentiment = payload.get("sentiment") or {}
    complaint = payload.get("complaint") or {}
    blocks: list[Block] = [
        HeaderBlock(text=truncate(f"Complaint about {payload.get('brand', '?')}", 150)),
        SectionBlock(
            fields=[MarkdownTextObject(text=t) for t in _who_fields(payload.get("who") or {})]
        ),
        SectionBlock(text=MarkdownTextObject(text=_quote(payload.get("text", "")))),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Sentiment *{sentiment.get('label', '?')}* ({sentiment.get('score', 0):.2f})"
                    f" · complaint score *{complaint.get('score', 0):.2f}*"
                    + (
                        f" · {_escape(readable(str(complaint['category'])))}"
                        if complaint.get("category")
                        else ""
                    )
                ),
                MarkdownTextObject(
                    text=f"{_escape(str(payload.get('source', '')))} · {payload.get('created_at', '')}"
                ),
            ]
        ),
    ]
    return blocks


def _spike(payload: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = [
        HeaderBlock(text=truncate(f"Negative spike: {payload.get('brand', '?')}", 150)),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{payload.get('count', 0)}* negative mentions in {payload.get('window', 1)} h "
                f"from {payload.get('window_start', '?')}, against *{payload.get('expected', 0):.1f}* "
                f"expected ({payload.get('baseline', '')}); p = {payload.get('p_value', 0):.2g} "
                f"({payload.get('model', 'poisson')}). Spike began {payload.get('episode_start', '?')}."
            )
        ),
    ]
    return blocks + _top_posts(payload, "*The posts behind it*", scored=True)


def _tier(payload: Mapping[str, Any]) -> list[Block]:
    tier = payload.get("tier", "?")
    title = {"advocate": "New advocate", "detractor": "New detractor"}.get(tier, f"Now {tier}")
    who = payload.get("who") or {}
    return [
        HeaderBlock(text=truncate(f"{title} of {payload.get('brand', '?')}", 150)),
        SectionBlock(fields=[MarkdownTextObject(text=t) for t in _who_fields(who)]),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"Advocacy tier *{_escape(str(payload.get('previous_tier') or 'none'))}* → "
                f"*{_escape(str(tier))}* (score {payload.get('score', 0):+.0f}) after "
                f"{payload.get('mentions', 0)} mentions."
            )
        ),
    ]


def _delta(now: int, before: int) -> str:
    if before == 0:
        return "new" if now else "±0"
    change = (now - before) / before * 100
    return f"{change:+.0f}%"


def _digest(payload: Mapping[str, Any]) -> list[Block]:
    totals = payload.get("totals") or {}
    previous = payload.get("previous") or {}
    lines = []
    for name in ("total", "positive", "neutral", "negative", "complaints"):
        now, before = int(totals.get(name, 0)), int(previous.get(name, 0))
        share = (
            f" ({now / totals['total'] * 100:.0f}%)"
            if name != "total" and totals.get("total")
            else ""
        )
        lines.append(f"*{name}* {now}{share}, {_delta(now, before)} vs the day before")
    # Mentions in a language the model does not read: in volume, never in a sentiment share.
    unscored, unscored_before = int(totals.get("unscored", 0)), int(previous.get("unscored", 0))
    if unscored or unscored_before:
        lines.append(
            f"*not scored (language)* {unscored}, {_delta(unscored, unscored_before)} "
            "vs the day before"
        )
    blocks: list[Block] = [
        HeaderBlock(
            text=truncate(
                f"Daily digest: {payload.get('brand', '?')}, {payload.get('day', '')}", 150
            )
        ),
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))),
    ]
    complaints = payload.get("top_complaints") or []
    if complaints:
        text = "*Top complaints*\n" + "\n".join(
            truncate(
                _quote(c.get("text", ""), 200) + " " + _link(c.get("dashboard_url"), "open"), 450
            )
            for c in complaints[:10]
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000))))
    themes = payload.get("top_themes") or []
    if themes:
        text = "*Top complaint themes*\n" + "\n".join(
            f"• {_escape(truncate(str(t.get('name') or t.get('theme_id')), 120))}: "
            f"{int(t.get('count', 0))} posts, {_delta(int(t.get('count', 0)), int(t.get('previous', 0)))} "
            "vs the day before"
            for t in themes[:10]
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000))))
    advocates = payload.get("new_advocates") or []
    if advocates:
        text = "*New advocates*\n" + "\n".join(
            f"• {_escape(truncate(str(a.get('name') or a.get('profile_id')), 100))} ({a.get('score', 0):+.0f})"
            for a in advocates[:20]
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000))))
    return blocks


def _theme(payload: Mapping[str, Any]) -> list[Block]:
    name = str(payload.get("name") or payload.get("theme_id") or "?")
    blocks: list[Block] = [
        HeaderBlock(text=truncate(f"Emerging theme: {payload.get('brand', '?')}", 150)),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*{_escape(truncate(name, 200))}* ({_escape(str(payload.get('theme_id', '')))}): "
                f"*{payload.get('count', 0)}* complaints in the last 24 h, against "
                f"*{payload.get('expected', 0):.1f}* a day ({payload.get('baseline', '')}); "
                f"p = {payload.get('p_value', 0):.2g} ({payload.get('model', 'Poisson')})."
            )
        ),
    ]
    return blocks + _top_posts(payload, "*Its top posts*", scored=False)


def _top_posts(payload: Mapping[str, Any], heading: str, *, scored: bool) -> list[Block]:
    """A spike's or theme's top posts (up to 5) under ``heading``, each with its links
    (and, ``scored``, its negativity and engagement); none: no blocks."""
    posts = payload.get("top_posts") or []
    if not posts:
        return []
    blocks: list[Block] = [
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=heading)),
    ]
    for post in posts[:5]:
        line = _quote(post.get("text", ""), 400)
        if scored:
            line += f"\nnegative {post.get('score', 0):.2f}, engagement {post.get('engagement', 0)}"
        links = " · ".join(
            link
            for link in (
                _link(post.get("url"), "post"),
                _link(post.get("dashboard_url"), "Goodwill"),
            )
            if link
        )
        line += f" · {links}" if links else ""
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(line, 3000))))
    return blocks


_RENDERERS = {
    "complaint": _complaint,
    "negative_spike": _spike,
    "tier_change": _tier,
    "digest": _digest,
    "emerging_theme": _theme,
}


def render(payload: Mapping[str, Any]) -> Message:
    """The Slack message (``text`` and ``blocks``) of one alert's payload."""
    kind = payload.get("kind", "")
    build = _RENDERERS.get(kind)
    blocks: list[Block] = (
        build(payload)
        if build
        else [
            SectionBlock(
                text=MarkdownTextObject(text=_escape(truncate(payload.get("summary", kind), 3000)))
            )
        ]
    )
    buttons = _buttons(payload)
    if buttons is not None:
        blocks.append(buttons)
    if payload.get("sample"):
        blocks.insert(
            0,
            ContextBlock(
                elements=[MarkdownTextObject(text="_A sample sent by `goodwill alerts test`._")]
            ),
        )
    return {
        "text": truncate(payload.get("summary") or kind, _OUR_TEXT),
        "blocks": [block.to_dict() for block in blocks],
    }


def _group_line(payload: Mapping[str, Any]) -> str:
    summary = _escape(payload.get("summary") or payload.get("kind") or "alert")
    links = [
        link
        for link in (_link(payload.get("dashboard_url"), "open"), _link(payload.get("url"), "post"))
        if link
    ]
    return "• " + truncate(summary, _GROUP_LINE - 30) + "".join(f" · {link}" for link in links)


def render_group(payloads: Sequence[Mapping[str, Any]]) -> Message:
    """One message listing many alerts (a burst to one destination), one line each, in order.

    Each line has the alert's summary, its dashboard link and its post's link. Nothing is
    cut out to fit: lines go into sections of up to ten, never past a section's limit, and
    a list too long for one message fails ``validate_message`` (see ``fitting_group``).
    """
    blocks: list[Block] = [HeaderBlock(text=truncate(f"{len(payloads)} alerts", 150))]
    section: list[str] = []
    for line in map(_group_line, payloads):
        joined = len("\n".join(section)) + 1 + len(line)
        if section and (len(section) == _GROUP_LINES or joined > LIMITS["section_text"]):
            blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(section))))
            section = []
        section.append(line)
    if section:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(section))))
    return {
        "text": truncate(
            f"{len(payloads)} alerts: " + "; ".join(p.get("summary", "") for p in payloads[:5]),
            _OUR_TEXT,
        ),
        "blocks": [block.to_dict() for block in blocks],
    }


def fitting_group(payloads: Sequence[Mapping[str, Any]]) -> int:
    """How many of ``payloads``, from the first, one ``render_group`` message can list within
    Slack's limits (0 when not even the first fits)."""
    fits, over = 0, len(payloads) + 1
    while over - fits > 1:
        middle = (fits + over) // 2
        if validate_message(render_group(payloads[:middle])):
            over = middle
        else:
            fits = middle
    return fits


# --- validation ---------------------------------------------------------------------------


def _text_problems(obj: Any, where: str, limit: int) -> list[str]:
    if not isinstance(obj, Mapping) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{where}: expected a text object"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text must be a non-empty string"]
    if len(text) > limit:
        return [f"{where}: text is {len(text)} characters, over Slack's {limit}"]
    return []


def validate_message(message: Mapping[str, Any]) -> list[str]:
    """What in ``message`` breaks Slack's documented limits; empty when it is fine to send."""
    problems: list[str] = []
    text = message.get("text")
    blocks = message.get("blocks") or []
    if not (isinstance(text, str) and text) and not blocks:
        problems.append("a message needs text or blocks")
    if isinstance(text, str) and len(text) > LIMITS["message_text"]:
        problems.append(f"text is {len(text)} characters, over {LIMITS['message_text']}")
    if len(blocks) > LIMITS["blocks"]:
        problems.append(f"{len(blocks)} blocks, over Slack's {LIMITS['blocks']}")
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        kind = block.get("type")
        if len(str(block.get("block_id", ""))) > LIMITS["block_id"]:
            problems.append(f"{where}: block_id over {LIMITS['block_id']} characters")
        if kind == "header":
            problems += _text_problems(block.get("text"), where, LIMITS["header_text"])
            if (block.get("text") or {}).get("type") != "plain_text":
                problems.append(f"{where}: a header's text must be plain_text")
        elif kind == "section":
            fields = block.get("fields") or []
            if "text" not in block and not fields:
                problems.append(f"{where}: a section needs text or fields")
            if "text" in block:
                problems += _text_problems(block["text"], where, LIMITS["section_text"])
            if len(fields) > LIMITS["section_fields"]:
                problems.append(f"{where}: {len(fields)} fields, over {LIMITS['section_fields']}")
            for f, field in enumerate(fields):
                problems += _text_problems(field, f"{where}.fields[{f}]", LIMITS["field_text"])
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > LIMITS["context_elements"]:
                problems.append(
                    f"{where}: {len(elements)} elements; 1 to {LIMITS['context_elements']} allowed"
                )
            for e, element in enumerate(elements):
                if element.get("type") in ("plain_text", "mrkdwn"):
                    problems += _text_problems(
                        element, f"{where}.elements[{e}]", LIMITS["context_text"]
                    )
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > LIMITS["actions_elements"]:
                problems.append(
                    f"{where}: {len(elements)} elements; 1 to {LIMITS['actions_elements']} allowed"
                )
            for e, element in enumerate(elements):
                here = f"{where}.elements[{e}]"
                if element.get("type") == "button":
                    problems += _text_problems(element.get("text"), here, LIMITS["button_text"])
                    if len(element.get("url", "")) > LIMITS["button_url"]:
                        problems.append(f"{here}: url over {LIMITS['button_url']} characters")
                    if len(element.get("action_id", "")) > LIMITS["action_id"]:
                        problems.append(f"{here}: action_id over {LIMITS['action_id']} characters")
                    if len(element.get("value", "")) > LIMITS["button_value"]:
                        problems.append(f"{here}: value over {LIMITS['button_value']} characters")
        elif kind != "divider":
            problems.append(f"{where}: block type {kind!r} is not one Goodwill sends")
    return problems
