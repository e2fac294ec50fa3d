"""Block Kit messages: what they say, and that they stay within Slack's documented limits."""

from __future__ import annotations

from alerts.messages import LIMITS, fitting_group, render, render_group, validate_message

COMPLAINT = {
    "kind": "complaint",
    "brand": "Acme",
    "mention_id": "abc",
    "text": "Broken on arrival <again> & nobody answers",
    "url": "https://example.com/p/1",
    "dashboard_url": "http://goodwill.test/?mention=abc",
    "summary": "Complaint about Acme from Dana",
    "sentiment": {"label": "negative", "score": 0.97},
    "complaint": {"score": 0.91, "category": "product"},
    "who": {"name": "Dana", "handle": "dana", "customer_tier": "enterprise", "value": 120000,
            "reach": 5400, "advocacy_tier": "detractor", "advocacy_score": -35.0},
}  # fmt: skip


def test_a_complaint_says_who_what_how_negative_and_links_to_post_and_dashboard() -> None:
    """Who (name, tier, value, advocacy), the text (escaped), scores, and both links."""
    message = render(COMPLAINT)
    assert validate_message(message) == []
    flat = str(message)
    for expected in ("Dana", "enterprise", "120,000", "detractor", "0.97", "0.91",
                     "&lt;again&gt; &amp;", "https://example.com/p/1", "/?mention=abc"):  # fmt: skip
        assert expected in flat, expected


def test_huge_texts_are_cut_to_slack_limits() -> None:
    """A 50,000-character post and a 500-character brand still make a valid message."""
    message = render({**COMPLAINT, "text": "x" * 50_000, "brand": "B" * 500, "summary": "s" * 9000})
    assert validate_message(message) == []
    header = message["blocks"][0]["text"]["text"]
    assert len(header) <= LIMITS["header_text"] and header.endswith("…")


def test_every_kind_renders_valid_blocks() -> None:
    """Spike (with its posts), tier change and digest messages pass the validator."""
    spike = {"kind": "negative_spike", "brand": "Acme", "count": 42, "expected": 3.2, "window": 3,
             "p_value": 1e-9, "model": "Poisson", "top_posts": [{"text": "y" * 5000, "url": "https://e.com/1",
             "score": 0.99, "engagement": 5, "dashboard_url": "http://g/?mention=1"}] * 9}  # fmt: skip
    tier = {"kind": "tier_change", "brand": "Acme", "tier": "advocate", "previous_tier": None,
            "score": 30.0, "who": {"name": "Fan"}}  # fmt: skip
    digest = {"kind": "digest", "brand": "Acme", "day": "2026-03-09",
              "totals": {"total": 10, "negative": 3}, "previous": {},
              "top_complaints": [{"text": "z" * 3000, "dashboard_url": "http://g/?mention=2"}] * 10,
              "new_advocates": [{"name": "n" * 300, "score": 40.0}] * 40}  # fmt: skip
    for payload in (spike, tier, digest):
        message = render(payload)
        assert validate_message(message) == [], payload["kind"]
    assert "42" in str(render(spike)) and "3.2" in str(render(spike))


def test_a_group_lists_every_alert_and_fitting_group_says_how_many_one_message_holds() -> None:
    """No alert is cut out of a group: 500 do not fit in 50 blocks, so only the head that fits is
    sent, and that message shows every one of its alerts' links."""
    items = [
        {"summary": f"alert {i} " + "w" * 400, "dashboard_url": f"http://g/?mention={i}",
         "url": f"https://example.com/{i}"}
        for i in range(500)
    ]  # fmt: skip
    assert validate_message(render_group(items)) != []
    fits = fitting_group(items)
    assert 0 < fits < 500
    message = render_group(items[:fits])
    assert validate_message(message) == []
    assert validate_message(render_group(items[: fits + 1])) != []
    flat = str(message)
    for i in range(fits):
        assert f"http://g/?mention={i}|open" in flat and f"https://example.com/{i}|post" in flat
    assert "more in Goodwill" not in flat


def test_the_validator_names_what_breaks_the_limits() -> None:
    """Too many blocks, a long header, eleven fields, too many context elements: each is named."""
    text = {"type": "mrkdwn", "text": "t"}
    message = {
        "text": "x",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
                   {"type": "section", "fields": [text] * 11},
                   {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}},
                   {"type": "context", "elements": [text] * 11},
                   {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b" * 76}}]}]
        + [{"type": "divider"}] * 50,
    }  # fmt: skip
    problems = " | ".join(validate_message(message))
    for expected in (
        "55 blocks",
        "blocks[0]",
        "11 fields",
        "blocks[2]",
        "blocks[3]",
        "blocks[4].elements[0]",
    ):
        assert expected in problems, expected


def test_a_digest_says_how_many_mentions_were_not_scored_for_language_only_when_any() -> None:
    """The unscored count sits beside the scored counts, with its change; absent when none."""
    digest = {"kind": "digest", "brand": "Acme", "day": "2026-03-09",
              "totals": {"total": 10, "negative": 3, "unscored": 4},
              "previous": {"total": 8, "unscored": 2}}  # fmt: skip
    flat = str(render(digest))
    assert "*not scored (language)* 4, +100% vs the day before" in flat
    assert "*negative* 3 (30%)" in flat
    plain = str(render({**digest, "totals": {"total": 10}, "previous": {}}))
    assert "not scored" not in plain
