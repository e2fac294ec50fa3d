"""Slack's mrkdwn of an alert as the dashboard shows it: Goodwill's formatting kept, a post's inert."""

from __future__ import annotations

from alerts.messages import render
from dashboard.alert_list import slack_markdown


def test_bold_links_and_line_breaks_are_kept() -> None:
    """*bold* is bold, an http(s) link a link, and lines stay lines."""
    assert slack_markdown("*Who*\nDana") == "**Who**  \nDana"
    assert slack_markdown("see <https://x.test/a?b=1|the post>") == (
        "see [the post](https://x.test/a?b=1)"
    )


def test_a_posts_own_markup_and_unsafe_links_stay_text() -> None:
    """Slack's escapes are undone, then every other Markdown character is made inert."""
    assert slack_markdown("> a [x](http://evil.test) &lt;b&gt; &amp; #1") == (
        "> a \\[x\\]\\(http\\://evil\\.test\\) \\<b\\> \\& \\#1"
    )
    assert slack_markdown("<javascript:alert(1)|click>") == "click"


def test_a_quote_or_a_list_ends_with_its_line() -> None:
    """The line after a quote or a bullet is not swallowed into it."""
    assert slack_markdown("> the post\nnegative 0.93") == "> the post\n\nnegative 0\\.93"
    assert slack_markdown("• one\n• two") == "- one\n\n- two"


def test_every_kind_of_alert_message_converts() -> None:
    """The messages the alerter keeps for the dashboard convert without losing their text."""
    message = render(
        {
            "kind": "negative_spike",
            "brand": "Acme",
            "count": 9,
            "expected": 1.2,
            "window": 1,
            "top_posts": [{"text": "late *again*", "url": "https://x.test/1", "score": 0.9}],
            "summary": "Negative spike for Acme",
        }
    )
    texts = [
        slack_markdown(block["text"]["text"])
        for block in message["blocks"]
        if block["type"] == "section" and "text" in block
    ]
    assert texts[0].startswith("**9** negative mentions in 1 h")
    assert any("late **again**" in text and "[post](https://x.test/1)" in text for text in texts)
